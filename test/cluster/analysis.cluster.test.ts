// Rollout analysis on a real control plane: the function process, started by
// the stack with --aws-endpoint-url at the stack's moto (which serves Lambda
// and CloudWatch on one endpoint) and credentials only in its environment
// (the AWS SDK's default chain: no credential "aws" on the pipeline step),
// reads a CloudWatch alarm while Crossplane v2.2.1 reconciles a rollout; an
// alarm that goes to ALARM aborts it, and moto's alias, the traffic production
// would see, goes back wholly to stable. The built-in checks read Lambda's
// per-version metrics (namespace AWS/Lambda; FunctionName, Resource
// "fn:alias", ExecutedVersion) over the step so far, in real time: the
// scenarios put those datapoints into moto's CloudWatch with Timestamp = now,
// as Lambda would publish them while the step runs, so a rising error rate
// aborts and a healthy canary is promoted. The two metric scenarios run
// concurrently (separate namespaces and functions) to keep the file short.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putErrorsAlarm } from '../support/moto-server.js';
import { CloudWatchClient, PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { condition, installComposition, Recorder, REPO_ROOT, Scenario, sleep, startHarness, waitUntil, type Harness } from './harness.js';
import { REGION } from './stack.js';

let h: Harness;
let cw: CloudWatchClient | undefined;

beforeAll(async () => {
  h = await startHarness({
    circuitBreakerBurst: 1000,
    manifests: [join(REPO_ROOT, 'package/configuration-v2/xrd.yaml')],
    functionArgs: ({ motoEndpoint }) => [`--aws-endpoint-url=${motoEndpoint}`],
    // The default chain reads these first; nothing else (no IMDS in the suite's network namespace) is tried.
    functionEnv: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  await installComposition(h, 'lambdacanaries.canary.lambda.fn.crossplane.io', join(REPO_ROOT, 'package/configuration-v2/composition.yaml'));
  cw = new CloudWatchClient({ endpoint: h.stack.motoEndpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
});

afterAll(async () => {
  cw?.destroy();
  await h?.stop();
});

const v = (name: string) => ({ versionRef: { from: { name } } });

/**
 * Lambda's per-version metrics through the alias, as Lambda publishes them
 * (the three dimensions the function queries), one datapoint per metric at
 * `at`: now, so inside the step's window [stepStartedAt, now of a later
 * measurement] (moto keeps a datapoint whose timestamp is in [start, end),
 * both cut to the second).
 */
async function putVersionMetrics(s: Scenario, version: string, counts: { Invocations?: number; Errors?: number }, at = new Date()): Promise<void> {
  const Dimensions = [
    { Name: 'FunctionName', Value: s.functionName },
    { Name: 'Resource', Value: `${s.functionName}:${s.aliasName}` },
    { Name: 'ExecutedVersion', Value: version },
  ];
  await cw!.send(
    new PutMetricDataCommand({
      Namespace: 'AWS/Lambda',
      MetricData: Object.entries(counts).map(([MetricName, Value]) => ({ MetricName, Dimensions, Timestamp: at, Value, Unit: 'Count' as const })),
    }),
  );
}

/**
 * moto cuts GetMetricData's StartTime and EndTime to the second and refuses a
 * window that is then empty. The first measurement of a step comes as soon as
 * the step's traffic is synced, which here (the ACK stand-in is quick) was
 * often within the second the step started in: the first runs of these
 * scenarios saw that refusal. Since then the function asks for metrics only
 * once a step's window is at least a second long (analysis/checks.ts
 * MIN_WINDOW_MS), so no measurement may be Unreadable here.
 */

/** Waits until the rollout has entered step 1 (its window starts at status.rollout.stepStartedAt) and returns when it started. */
async function stepOneStarted(s: Scenario): Promise<string> {
  return waitUntil(
    () => `step 1 to start\n${s.diagnose()}`,
    60_000,
    () => {
      const r = s.xr().status?.rollout;
      return r?.['step'] === 1 && typeof r['stepStartedAt'] === 'string' ? r['stepStartedAt'] : undefined;
    },
  );
}

describe('rollout analysis on a real control plane (Crossplane v2.2.1, moto CloudWatch, default credential chain)', () => {
  it("a CloudWatch alarm that goes to ALARM mid-step aborts the rollout: moto's alias back on stable, phase Aborted naming the alarm, AnalysisPassing False, a Warning", async () => {
    const started = Date.now();
    const s = await Scenario.create(h, 'analysis-alarm');
    const alarmName = `${s.functionName}-errors`;
    await s.deployStable('app-v1');
    const rollout = {
      target: v('app-v2'),
      strategy: { steps: [{ weight: 10, pause: { duration: '10m' } }] },
      analysis: { alarms: { names: [alarmName] }, interval: '30s' },
    };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    await putErrorsAlarm(cw!, alarmName, [
      { Name: 'FunctionName', Value: s.functionName },
      { Name: 'Resource', Value: `${s.functionName}:${s.aliasName}` },
    ]);
    await cw!.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'OK', StateReason: 'set by the test' }));
    await s.waitPublished('app-v2');
    await s.waitTraffic('1 + 2@0.1');
    // The function asked moto's CloudWatch (with the credentials from its environment) and the alarm was OK.
    await waitUntil(
      () => `AnalysisPassing True\n${s.diagnose()}`,
      60_000,
      () => condition(s.xr(), 'AnalysisPassing')?.status === 'True',
    );
    expect(s.xr().status?.rollout).toMatchObject({
      phase: 'Progressing',
      step: 1,
      analysis: { result: 'Passing', checks: [{ name: `alarm ${alarmName}`, passed: true }] },
    });

    const rec = new Recorder(s);
    const alarmedAt = Date.now();
    await cw!.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'ALARM', StateReason: 'set by the test: errors' }));
    await s.waitTraffic('1', 60_000);
    const toStable = (Date.now() - alarmedAt) / 1000;
    await waitUntil(
      () => `phase Aborted\n${s.diagnose()}`,
      30_000,
      () => s.xr().status?.rollout?.['phase'] === 'Aborted',
    );
    const toAborted = (Date.now() - alarmedAt) / 1000;
    const reason = `analysis: CloudWatch alarm ${alarmName} is in ALARM`;
    await waitUntil(
      () => `a Warning event naming the alarm\n${s.diagnose()}`,
      30_000,
      () => s.events().some((e) => e.startsWith('LambdaCanary Warning') && e.includes(reason)),
    );
    await rec.stop();
    console.log(`[timing] ${s.namespace}: ALARM set → moto on stable ${toStable}s, → phase Aborted ${toAborted}s; scenario ${(Date.now() - started) / 1000}s`);
    expect(toStable).toBeLessThan(60);

    // Every routing moto held since the alarm: the split, then stable alone (with the zero-weight entry).
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1 + 2@0.1', '1']);
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.FunctionVersion).toBe('1');
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '2': 0 });
    const xr = s.xr();
    expect(xr.status?.rollout).toMatchObject({ phase: 'Aborted', stableVersion: '1', abortReason: reason });
    expect(condition(xr, 'AnalysisPassing')).toMatchObject({ status: 'False', reason: 'Aborted' });
    expect(s.events().filter((e) => e.includes('RolloutAborted'))).not.toEqual([]);
    // The function was pointed at moto by its flag (and said so), and the pipeline step passes no credential.
    expect(readFileSync(h.stack.functionLog, 'utf8')).toContain('CloudWatch calls go to --aws-endpoint-url: for tests only');
  });

  it.concurrent("the canary's error rate rises mid-step: the rollout aborts, all traffic back on stable in moto", async () => {
    const started = Date.now();
    const s = await Scenario.create(h, 'analysis-errors');
    await s.deployStable('app-v1');
    const rollout = {
      target: v('app-v2'),
      strategy: { steps: [{ weight: 10, pause: { duration: '10m' } }] },
      analysis: { errorRate: { max: 0.05 }, interval: '30s' },
    };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    expect(await s.waitPublished('app-v2')).toBe('2');
    const stepStartedAt = await stepOneStarted(s);
    // Healthy so far: the canary 0 errors in 100, stable 9 in 900 (1%).
    await putVersionMetrics(s, '2', { Invocations: 100, Errors: 0 });
    await putVersionMetrics(s, '1', { Invocations: 900, Errors: 9 });
    await s.waitTraffic('1 + 2@0.1');
    await waitUntil(
      () => `AnalysisPassing True\n${s.diagnose()}`,
      60_000,
      () => condition(s.xr(), 'AnalysisPassing')?.status === 'True',
    );
    const passingAt = Date.now();
    expect(s.xr().status?.rollout).toMatchObject({
      phase: 'Progressing',
      step: 1,
      stepStartedAt,
      analysis: {
        result: 'Passing',
        canaryInvocations: 100,
        checks: [
          { name: 'canaryInvocations', value: 100, stable: 900 },
          { name: 'errorRate', value: 0, stable: 0.01, bound: '<= 0.05', passed: true },
        ],
      },
    });

    // Mid-step the canary starts failing: 20 errors in its 100 invocations, 20% against a bound of 5%.
    const rec = new Recorder(s);
    const failingAt = Date.now();
    await putVersionMetrics(s, '2', { Errors: 20 });
    await s.waitTraffic('1', 60_000);
    const toStable = (Date.now() - failingAt) / 1000;
    await waitUntil(
      () => `phase Aborted\n${s.diagnose()}`,
      30_000,
      () => s.xr().status?.rollout?.['phase'] === 'Aborted',
    );
    const toAborted = (Date.now() - failingAt) / 1000;
    const reason = 'analysis failed 1 time(s), more than failureLimit 0: errorRate of version 2 is 20% (100 invocations), above 5%';
    await waitUntil(
      () => `a Warning event naming the error rate\n${s.diagnose()}`,
      30_000,
      () => s.events().some((e) => e.startsWith('LambdaCanary Warning RolloutAborted') && e.includes(reason)),
    );
    await rec.stop();
    console.log(
      `[timing] ${s.namespace}: AnalysisPassing True ${(passingAt - started) / 1000}s into the scenario; errors put → moto on stable ${toStable}s, ` +
        `→ phase Aborted ${toAborted}s; scenario ${(Date.now() - started) / 1000}s; ` +
        `AnalysisUnreadable events: ${JSON.stringify(s.events().filter((e) => e.includes('AnalysisUnreadable')))}`,
    );
    // One measurement interval (30 s), and the datapoint may just miss the one due when it lands: at most two.
    expect(toStable).toBeLessThan(65);

    expect(rec.traffic.map((t) => t.routing)).toEqual(['1 + 2@0.1', '1']);
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.FunctionVersion).toBe('1');
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '2': 0 });
    const xr = s.xr();
    expect(xr.status?.rollout).toMatchObject({
      phase: 'Aborted',
      stableVersion: '1',
      abortReason: reason,
      analysis: {
        result: 'Failing',
        failures: 1,
        checks: [
          { name: 'canaryInvocations', value: 100, stable: 900 },
          { name: 'errorRate', value: 0.2, stable: 0.01, bound: '<= 0.05', passed: false },
        ],
      },
    });
    expect(condition(xr, 'AnalysisPassing')).toMatchObject({ status: 'False', reason: 'Aborted' });
    // Nothing moves afterwards.
    await sleep(3000);
    expect(await s.traffic()).toBe('1');
  });

  it.concurrent('a healthy canary is promoted: every measurement passes and the rollout ends with all traffic on the canary', async () => {
    const started = Date.now();
    const s = await Scenario.create(h, 'analysis-healthy');
    await s.deployStable('app-v1');
    const rollout = {
      target: v('app-v2'),
      strategy: { steps: [{ weight: 20, pause: { duration: '40s' } }] },
      analysis: { errorRate: { max: 0.05 }, minInvocations: 50, interval: '30s' },
    };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    expect(await s.waitPublished('app-v2')).toBe('2');
    const stepStartedAt = await stepOneStarted(s);
    // Traffic while the step runs: every ~10 s the canary serves 30 (no error), stable 120 (1 error).
    let feeding = true;
    let batches = 0;
    const feed = (async () => {
      while (feeding) {
        await putVersionMetrics(s, '2', { Invocations: 30, Errors: 0 });
        await putVersionMetrics(s, '1', { Invocations: 120, Errors: 1 });
        batches++;
        for (let waited = 0; feeding && waited < 10_000; waited += 250) await sleep(250);
      }
    })();
    await s.waitTraffic('1 + 2@0.2');
    const rec = new Recorder(s);
    // Every measurement the XR showed, by lastMeasuredAt.
    const measured = new Map<string, { result?: string; canaryInvocations?: number; message?: string }>();
    try {
      await waitUntil(
        () => `phase Promoted\n${s.diagnose()}`,
        120_000,
        () => {
          const r = s.xr().status?.rollout;
          const a = r?.['analysis'] as { lastMeasuredAt?: string; result?: string; canaryInvocations?: number; message?: string } | undefined;
          if (a?.lastMeasuredAt !== undefined) {
            measured.set(a.lastMeasuredAt, {
              result: a.result,
              canaryInvocations: a.canaryInvocations,
              ...(a.message !== undefined ? { message: a.message } : {}),
            });
          }
          return r?.['phase'] === 'Promoted';
        },
      );
    } finally {
      feeding = false;
      await feed;
    }
    await s.waitTraffic('2', 30_000);
    await rec.stop();
    const due = rec.nextStepAt.get(1);
    const promotedAt = rec.firstAt('2');
    console.log(
      `[timing] ${s.namespace}: step 1 started ${stepStartedAt}; measurements ${JSON.stringify([...measured])}; ${batches} batches put; ` +
        `step 1 due ${due} → moto on the canary ${due !== undefined && promotedAt !== undefined ? (promotedAt - Date.parse(due)) / 1000 : '?'}s later; ` +
        `scenario ${(Date.now() - started) / 1000}s`,
    );

    // Each measurement the status showed passed, or before the first pass waited for the sample
    // (minInvocations); none failed and none was unreadable. The last one, when
    // the pause ended, is not in the status (entering the 100 % step starts its record over): the
    // step could end only because it passed.
    const all = [...measured.values()];
    const firstPass = all.findIndex((m) => m.result === 'Passing');
    expect(firstPass, `measurements ${JSON.stringify(all)}`).toBeGreaterThanOrEqual(0);
    for (const m of all.slice(0, firstPass)) expect(m.result, m.message).toBe('Waiting');
    expect(all.slice(firstPass).map((m) => m.result)).toEqual(all.slice(firstPass).map(() => 'Passing'));
    const trouble = s.events().filter((e) => /AnalysisFailed|AnalysisUnreadable|RolloutAborted/.test(e));
    expect(trouble).toEqual([]);
    // The step ended no earlier than its pause.
    expect(due).toBeDefined();
    expect(promotedAt).toBeGreaterThanOrEqual(Date.parse(due!));

    expect(rec.traffic.map((t) => t.routing)).toEqual(['1 + 2@0.2', '2']);
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.FunctionVersion).toBe('2');
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '1': 0 });
    const xr = s.xr();
    const analysis = xr.status?.rollout?.['analysis'] as { checks?: { name: string; value?: number; bound?: string; passed?: boolean }[] } | undefined;
    console.log(`[analysis] ${s.namespace} after promotion: ${JSON.stringify(analysis)}; AnalysisPassing ${JSON.stringify(condition(xr, 'AnalysisPassing'))}`);
    expect(xr.status?.rollout).toMatchObject({
      phase: 'Promoted',
      stableVersion: '2',
      analysis: {
        checks: [
          { name: 'canaryInvocations', bound: '>= 50' },
          { name: 'errorRate', value: 0, bound: '<= 0.05', passed: true },
        ],
      },
    });
    const checks = analysis?.checks ?? [];
    expect(checks[0]!.value).toBeGreaterThanOrEqual(50);
    // No assertion on the RolloutPromoted event: client-go's event spam filter lets 25 events of one type
    // through per object, then one every 5 minutes, and a rollout's Normal events (Crossplane's
    // ComposeResources, TrafficChanged, RolloutStep, ZeroWeightEntry) reach that before it ends; in the
    // suite's second run the last three Normal events, RolloutPromoted among them, never reached the API
    // server. Status (above) is the record.
    console.log(
      `[events] ${s.namespace}: RolloutPromoted ${s.events().some((e) => e.startsWith('LambdaCanary Normal RolloutPromoted')) ? 'recorded' : 'not recorded'}`,
    );
  });
});
