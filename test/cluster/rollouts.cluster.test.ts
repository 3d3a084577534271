// The function on a real control plane: Crossplane v2.2.1 core reconciles
// LambdaCanary XRs and calls the function over mTLS with the certificates its
// own `core init` issued; Crossplane applies what the function renders to a
// real kube-apiserver with server-side apply; ACK's stand-in carries Versions
// and Aliases to moto. Every scenario asserts what moto's alias holds — the
// traffic production would see — as well as the XR's status, conditions and
// events.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { condition, installComposition, Recorder, REPO_ROOT, Scenario, sleep, startHarness, waitUntil, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ circuitBreakerBurst: 1000, manifests: [join(REPO_ROOT, 'package/configuration-v2/xrd.yaml')] });
  await installComposition(h, 'lambdacanaries.canary.lambda.fn.crossplane.io', join(REPO_ROOT, 'package/configuration-v2/composition.yaml'));
});

afterAll(async () => {
  if (h) {
    // The function's share of a reconcile, from the real stack: Crossplane's
    // own histograms (RunFunction as Crossplane sees it, over mTLS; the whole
    // composite reconcile) and the function's own handling time from its log.
    try {
      console.log(`[timing] ${JSON.stringify(reconcileShare(await h.stack.crossplaneMetrics(), readFileSync(h.stack.functionLog, 'utf8')))}`);
    } catch (err) {
      console.log(`[timing] could not read the reconcile figures: ${String(err)}`);
    }
  }
  await h?.stop();
});

/** Sum and count of one Prometheus histogram, over the series whose labels include `match`. */
function histogram(metrics: string, name: string, match: string): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of metrics.split('\n')) {
    if (!line.includes(match)) continue;
    if (line.startsWith(`${name}_sum{`)) sum += Number(line.split(' ').pop());
    if (line.startsWith(`${name}_count{`)) count += Number(line.split(' ').pop());
  }
  return { sum, count };
}

function reconcileShare(metrics: string, functionLog: string) {
  const reconcile = histogram(metrics, 'controller_runtime_reconcile_time_seconds', 'controller="composite/lambdacanaries.canary.lambda.fn.crossplane.io"');
  const run = histogram(metrics, 'function_run_function_seconds', 'function_name="function-lambda-canary"');
  const handled = functionLog
    .split('\n')
    .filter((l) => l.includes('"msg":"RunFunction"'))
    .map((l) => (JSON.parse(l) as { durationMs: number }).durationMs);
  const ms = (x: number) => Math.round(x * 10000) / 10;
  return {
    reconciles: reconcile.count,
    reconcileMeanMs: ms(reconcile.sum / reconcile.count),
    runFunctionCalls: run.count,
    runFunctionMeanMs: ms(run.sum / run.count),
    functionHandlerCalls: handled.length,
    functionHandlerMeanMs: Math.round((handled.reduce((a, b) => a + b, 0) / handled.length) * 100) / 100,
    runFunctionShareOfReconcile: `${Math.round((run.sum / reconcile.sum) * 1000) / 10}%`,
  };
}

const v = (name: string) => ({ versionRef: { from: { name } } });

describe('on a real control plane (Crossplane v2.2.1, kube-apiserver v1.35.4, moto)', () => {
  it('first deployment: Crossplane calls the function over mTLS with its own client certificate; the Alias goes live on the only version', async () => {
    const s = await Scenario.create(h, 'first-deploy');
    await s.apply({ versions: [{ name: 'app-v1' }], rollout: { target: v('app-v1'), strategy: { preset: 'Canary10Percent5Minutes' } } });
    expect(await s.waitPublished('app-v1')).toBe('1');
    await s.waitTraffic('1');
    const alias = s.aliasObject()!;
    expect(alias.spec['functionVersion']).toBe('1');
    expect(alias.spec['routingConfig']).toBeUndefined();
    await waitUntil('the XR to be Ready', 60_000, () => condition(s.xr(), 'Ready')?.status === 'True');
    const xr = s.xr();
    expect(condition(xr, 'Synced')?.status).toBe('True');
    expect(condition(xr, 'TrafficRouted')).toMatchObject({ status: 'True', reason: 'Routed' });
    // A first deployment has nothing to roll out from: it goes straight to the target.
    expect(xr.status?.rollout).toMatchObject({ phase: 'Stable', stableVersion: '1' });
  });

  it('manual canary 10% → 50% → promotion: moto ends with all traffic on the new version (the split ends through server-side apply)', async () => {
    const s = await Scenario.create(h, 'manual');
    await s.deployStable('app-v1');
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], stable: v('app-v1'), canary: { ...v('app-v2'), weight: 10 } });
    expect(await s.waitPublished('app-v2')).toBe('2');
    await s.waitTraffic('1 + 2@0.1');
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], stable: v('app-v1'), canary: { ...v('app-v2'), weight: 50 } });
    await s.waitTraffic('1 + 2@0.5');
    // Promotion: the new version becomes stable. Crossplane's field manager
    // owned the weights key "2"; the split ends with a zero-weight entry.
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], stable: v('app-v2') });
    await s.waitTraffic('2');
    await s.logAliasState('after promotion');
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.FunctionVersion).toBe('2');
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '1': 0 });
    await waitUntil('the XR to be Ready', 60_000, () => condition(s.xr(), 'Ready')?.status === 'True');
    expect(condition(s.xr(), 'Synced')?.status).toBe('True');
    expect(s.events().some((e) => e.includes('TrafficChanged'))).toBe(true);
  });

  it('abort mid-rollout: all traffic back on stable in moto, phase Aborted, a Warning event', async () => {
    const s = await Scenario.create(h, 'abort');
    await s.deployStable('app-v1');
    const rollout = { target: v('app-v2'), strategy: { steps: [{ weight: 30, pause: { duration: '10m' } }] } };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    await s.waitPublished('app-v2');
    await s.waitTraffic('1 + 2@0.3');
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { ...rollout, abort: true } });
    await s.waitTraffic('1');
    await s.logAliasState('after abort');
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '2': 0 });
    await waitUntil('phase Aborted', 30_000, () => s.xr().status?.rollout?.['phase'] === 'Aborted');
    await waitUntil('a Warning event', 30_000, () => s.events().some((e) => e.startsWith('LambdaCanary Warning')));
    // Nothing moves afterwards.
    await sleep(5000);
    expect(await s.traffic()).toBe('1');
    // Issue 10, defect 1: abort back to false without retry, then the status is lost. The Alias's
    // record (which Crossplane applied and hands back) still says Aborted: nothing restarts.
    await waitUntil("the Alias's record to say Aborted", 30_000, () => s.aliasMemory()?.rollout?.['phase'] === 'Aborted');
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { ...rollout, abort: false } });
    const rec = new Recorder(s);
    s.wipeRolloutStatus();
    await waitUntil('status.rollout to be written again', 30_000, () => s.xr().status?.rollout?.['phase'] !== undefined);
    await sleep(10_000);
    await rec.stop();
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1']);
    expect(s.xr().status?.rollout?.['phase']).toBe('Aborted');
  });

  it("progressive rollout with short custom steps: each step reaches moto within a few seconds of its due time (the TTL drives Crossplane's requeue)", async () => {
    const s = await Scenario.create(h, 'progressive');
    await s.deployStable('app-v1');
    const rec = new Recorder(s);
    const steps = [
      { weight: 20, pause: { duration: '15s' } },
      { weight: 60, pause: { duration: '15s' } },
    ];
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { target: v('app-v2'), strategy: { steps } } });
    await s.waitTraffic('1 + 2@0.2', 60_000);
    await s.waitTraffic('1 + 2@0.6', 60_000);
    await s.waitTraffic('2', 60_000);
    await waitUntil('phase Promoted', 30_000, () => s.xr().status?.rollout?.['phase'] === 'Promoted');
    await rec.stop();
    await s.logAliasState('after the last step');
    // Due → applied in moto, per step after the first (which is due when the canary is published).
    const lateness: Record<string, number> = {};
    const applied = [rec.firstAt('1 + 2@0.6'), rec.firstAt('2')];
    for (const [i, at] of applied.entries()) {
      const due = rec.nextStepAt.get(i + 1);
      expect(due, `status.rollout.nextStepAt of step ${i + 1}`).toBeDefined();
      expect(at).toBeDefined();
      lateness[`step ${i + 1} → ${i + 2}`] = (at! - Date.parse(due!)) / 1000;
    }
    console.log(`[timing] due → applied in moto (s): ${JSON.stringify(lateness)}`);
    for (const [step, late] of Object.entries(lateness)) {
      expect(late, `${step} applied ${late}s after due`).toBeGreaterThan(-1);
      expect(late, `${step} applied ${late}s after due`).toBeLessThan(8);
    }
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '1': 0 });
    expect(s.xr().status?.rollout).toMatchObject({ phase: 'Promoted', stableVersion: '2' });
  });

  it('fast rollback: pointing the target back at stable mid-rollout returns all traffic at once', async () => {
    const s = await Scenario.create(h, 'rollback');
    await s.deployStable('app-v1');
    const strategy = { steps: [{ weight: 40, pause: { duration: '10m' } }] };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { target: v('app-v2'), strategy } });
    await s.waitTraffic('1 + 2@0.4');
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { target: v('app-v1'), strategy } });
    await s.waitTraffic('1', 30_000);
    await s.logAliasState('after rollback');
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '2': 0 });
    await waitUntil('the XR to report stable 1', 30_000, () => s.xr().status?.rollout?.['stableVersion'] === '1');
  });

  it("XR status wiped mid-rollout with a status patch: the Alias's record continues it exactly; with the record stripped too, it is held", async () => {
    const s = await Scenario.create(h, 'status-wiped');
    await s.deployStable('app-v1');
    const rollout = {
      target: v('app-v2'),
      strategy: {
        steps: [
          { weight: 25, pause: { duration: '10m' } },
          { weight: 75, pause: { duration: '10m' } },
        ],
      },
    };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    await s.waitTraffic('1 + 2@0.25');
    await waitUntil('the rollout to be at step 1', 30_000, () => s.xr().status?.rollout?.['step'] === 1);
    // The memory went through Crossplane's server-side apply and came back on the Alias.
    await waitUntil("the Alias's record of step 1", 30_000, () => s.aliasMemory()?.rollout?.['step'] === 1);
    const startedAt = s.xr().status?.rollout?.['stepStartedAt'];
    expect(s.aliasMemory()).toMatchObject({
      traffic: { primary: '1', secondary: { version: '2', percent: 25 } },
      rollout: { phase: 'Progressing', stepStartedAt: startedAt },
    });
    const rec = new Recorder(s);
    s.wipeRolloutStatus();
    await waitUntil('status.rollout to be written again', 30_000, () => s.xr().status?.rollout?.['step'] !== undefined);
    await waitUntil('a StateRecalled event', 30_000, () => s.events().some((e) => e.includes('StateRecalled')));
    // The same step with the same start: its pause was not restarted, nothing moved.
    expect(s.xr().status?.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 25, stepStartedAt: startedAt });

    // Now both: the record stripped from the Alias and the status wiped, in one observed snapshot. The XR
    // is paused (Crossplane's crossplane.io/paused annotation) meanwhile, or a reconcile between the two
    // writes would restore one from the other.
    h.stack.kubectl(['-n', s.namespace, 'annotate', 'lambdacanary', s.xrName, 'crossplane.io/paused=true']);
    await sleep(3000);
    h.stack.kubectl([
      '-n',
      s.namespace,
      'annotate',
      'aliases.lambda.services.k8s.aws',
      s.aliasObject()!.metadata.name,
      'lambdacanary.fn.crossplane.io/rollout-state-',
    ]);
    s.wipeRolloutStatus();
    h.stack.kubectl(['-n', s.namespace, 'annotate', 'lambdacanary', s.xrName, 'crossplane.io/paused-']);
    await waitUntil('phase Held', 60_000, () => s.xr().status?.rollout?.['phase'] === 'Held');
    await waitUntil('a RolloutHeld Warning', 30_000, () => s.events().some((e) => e.includes('RolloutHeld')));
    expect(condition(s.xr(), 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
    await sleep(5000);
    // resume is the decision: the rollout continues from step 1 (the live 25%) with its full pause.
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout: { ...rollout, resume: 'after-restore' } });
    await waitUntil('phase Progressing again', 60_000, () => s.xr().status?.rollout?.['phase'] === 'Progressing');
    await rec.stop();
    // Every routing moto held since the first wipe is the live 25% split.
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1 + 2@0.25']);
    expect(s.xr().status?.rollout).toMatchObject({ step: 1, weight: 25 });
  });

  it('a slow-publishing canary Version: the live Alias stays on stable, untouched, until ACK publishes it', async () => {
    const s = await Scenario.create(h, 'slow-publish');
    await s.deployStable('app-v1');
    // The stand-in holds just this Version; the real controller (opt-in) is
    // paused as a whole with SIGSTOP until releasePublish sends SIGCONT.
    h.ack.holdPublish(`${s.namespace}/app-v2`);
    const rec = new Recorder(s);
    await s.apply({
      versions: [{ name: 'app-v1' }, { name: 'app-v2' }],
      rollout: { target: v('app-v2'), strategy: { steps: [{ weight: 10, pause: { duration: '10m' } }] } },
    });
    await waitUntil('the XR to say it waits for the canary', 60_000, () => {
      const c = condition(s.xr(), 'VersionsResolved');
      return c?.status === 'False' ? c : undefined;
    });
    await sleep(10_000);
    // The Alias was never dropped or moved while the Version was unpublished.
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1']);
    expect(s.aliasObject()?.spec['functionVersion']).toBe('1');
    h.ack.releasePublish(`${s.namespace}/app-v2`);
    await s.waitTraffic('1 + 2@0.1', 60_000);
    await rec.stop();
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1', '1 + 2@0.1']);
  });

  it('a target Version that turns Terminal aborts the rollout: traffic stays wholly on stable', async () => {
    const s = await Scenario.create(h, 'terminal');
    await s.apply({ versions: [{ name: 'app-v1' }], stable: v('app-v1') });
    await s.waitPublished('app-v1');
    await s.waitTraffic('1');
    // No new code: ACK's PublishVersion publishes nothing, and ACK marks the
    // Version Terminal ("No changes were made to $LATEST ...").
    const rec = new Recorder(s);
    await s.apply({
      versions: [{ name: 'app-v1' }, { name: 'app-v2' }],
      rollout: { target: v('app-v2'), strategy: { steps: [{ weight: 50, pause: { duration: '10m' } }] } },
    });
    await waitUntil('phase Aborted', 60_000, () => s.xr().status?.rollout?.['phase'] === 'Aborted');
    await waitUntil("a Warning event naming ACK's message", 30_000, () =>
      s.events().some((e) => e.startsWith('LambdaCanary Warning') && e.includes('No changes were made')),
    );
    await sleep(3000);
    await rec.stop();
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1']);
    expect(condition(s.xr(), 'VersionsResolved')?.status).toBe('False');
  });

  it('deleting the XR deletes the Alias and the Versions it composed, in Kubernetes and in AWS', async () => {
    const s = await Scenario.create(h, 'delete');
    await s.apply({ versions: [{ name: 'app-v1' }], stable: v('app-v1') });
    await s.waitPublished('app-v1');
    await s.waitTraffic('1');
    h.stack.kubectl(['-n', s.namespace, 'delete', 'lambdacanary', s.xrName, '--wait=false']);
    await waitUntil('the Alias to be gone from moto', 90_000, async () => (await h.aws.alias(s.functionName, s.aliasName)) === undefined);
    await waitUntil('the Version to be gone from moto', 90_000, async () => (await h.aws.versions(s.functionName)).length === 0);
    await waitUntil('the ACK objects to be gone', 90_000, () => {
      const a = h.stack.kubectlJson<{ items: unknown[] }>(['-n', s.namespace, 'get', 'aliases.lambda.services.k8s.aws']).items.length;
      const vs = h.stack.kubectlJson<{ items: unknown[] }>(['-n', s.namespace, 'get', 'versions.lambda.services.k8s.aws']).items.length;
      return a === 0 && vs === 0;
    });
  });
});
