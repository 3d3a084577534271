// End to end: every example renders through the REAL Crossplane CLIs (v1.16.0
// `beta render` over v1beta1 with extra resources; v2.2.1 `render` over v1
// with required resources) against our real gRPC server, and every rendered
// ACK object validates against the ACK v1.14.1 CRDs. Each example's README
// holds the frozen clock (--now) the render uses; the assertions here are
// what the README promises.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../function/server/server.js';
import { startLoopbackServer } from './support/server.js';
import { CLI_VERSIONS, REPO_ROOT, exampleDirs, render, validate, type CliVersion, type RenderResult } from './support/crossplane.js';
import { ACK_CRDS_DIR as ACK_CRDS } from './support/ack-schema.js';

const XRD_V2 = 'package/configuration-v2/xrd.yaml';
const XRD_V1 = 'package/configuration-v1/xrd.yaml';

let clock = new Date();
let server: RunningServer;

beforeAll(async () => {
  server = await startLoopbackServer({ now: () => clock });
});
afterAll(async () => {
  await server?.shutdown(1000);
});

/** The --now a README's render command uses, if any. */
function exampleClock(example: string): Date | undefined {
  const m = /--now (\S+)/.exec(readFileSync(join(REPO_ROOT, 'examples', example, 'README.md'), 'utf8'));
  return m ? new Date(m[1]!) : undefined;
}

async function renderExample(cli: CliVersion, example: string): Promise<RenderResult> {
  clock = exampleClock(example) ?? new Date();
  return render({ cli, exampleDir: `examples/${example}`, target: `127.0.0.1:${server.port}` });
}

const byKind = (r: RenderResult, kind: string) => r.composed.filter((o) => o.kind === kind);
const alias = (r: RenderResult) => {
  const list = byKind(r, 'Alias');
  expect(list, 'exactly one Alias').toHaveLength(1);
  return list[0];
};
const resultMessages = (r: RenderResult, severity: string) => r.results.filter((x) => x.severity === severity).map((x) => String(x.message));
/** Function conditions reach the XR only on Crossplane >= v1.17. */
const condition = (r: RenderResult, type: string) => (r.xr.status?.conditions ?? []).find((c: any) => c.type === type);

type Check = (r: RenderResult, cli: CliVersion) => void;

const CHECKS: Record<string, Check> = {
  'first-deploy': (r) => {
    const a = alias(r);
    expect(a.metadata).toMatchObject({ name: 'checkout-live', namespace: 'team-a' });
    expect(a.spec).toEqual({ name: 'live', functionName: 'checkout-api', functionVersion: '3' });
    expect(r.xr.status).toMatchObject({ stableVersion: '3', canaryWeight: 0 });
    expect(resultMessages(r, 'SEVERITY_NORMAL')).toContain('routing alias live: 100% to version 3');
  },
  'canary-composed': (r, cli) => {
    const a = alias(r);
    expect(a.metadata).toMatchObject({ name: 'orders-live', namespace: 'team-a', annotations: { 'services.k8s.aws/region': 'us-east-1' } });
    expect(a.spec).toEqual({
      name: 'live',
      functionName: 'orders-api',
      functionVersion: '41',
      description: 'Production traffic for orders-api',
      routingConfig: { additionalVersionWeights: { '42': 0.1 } },
    });
    expect(
      byKind(r, 'Version')
        .map((v) => v.metadata.name)
        .sort(),
    ).toEqual(['orders-api-v41', 'orders-api-v42']);
    expect(r.xr.status).toMatchObject({
      stable: { name: 'orders-api-v41', version: '41', weight: 90 },
      canary: { name: 'orders-api-v42', version: '42', weight: 10 },
      aliasARN: 'arn:aws:lambda:us-east-1:123456789012:function:orders-api:live',
      stableVersion: '41',
      canaryVersion: '42',
      canaryWeight: 10,
    });
    if (cli !== 'v1.16.0') expect(condition(r, 'VersionsResolved')).toMatchObject({ status: 'True', reason: 'Resolved' });
  },
  'canary-existing': (r) => {
    const a = alias(r);
    expect(a.metadata).toMatchObject({ name: 'payments-live', namespace: 'team-b' });
    expect(a.spec).toEqual({
      name: 'live',
      functionRef: { from: { name: 'payments-api' } },
      functionVersion: '7',
      routingConfig: { additionalVersionWeights: { '8': 0.1 } },
    });
    expect(byKind(r, 'Version')).toHaveLength(0);
    expect(r.xr.status).toMatchObject({ stableVersion: '7', canaryVersion: '8', canaryWeight: 10 });
  },
  'canary-publishing': (r, cli) => {
    const a = alias(r);
    // Safety rule 1: the live Alias stays exactly as observed.
    expect(a.spec.functionVersion).toBe('41');
    expect(a.spec.routingConfig).toEqual({ additionalVersionWeights: { '42': 0.1 } });
    // Safety rule 3: v42 left spec.versions but still takes traffic.
    expect(
      byKind(r, 'Version')
        .map((v) => v.metadata.name)
        .sort(),
    ).toEqual(['orders-api-v41', 'orders-api-v42', 'orders-api-v43']);
    const warnings = resultMessages(r, 'SEVERITY_WARNING');
    expect(warnings.some((m) => m.includes('keeping alias live: 90% to version 41, 10% to version 42 unchanged') && m.includes('orders-api-v43'))).toBe(true);
    expect(warnings.some((m) => m.includes('keeping ACK Version orders-api-v42'))).toBe(true);
    if (cli !== 'v1.16.0') {
      expect(condition(r, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'NotPublished' });
      expect(condition(r, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
    }
  },
  'v1-claim': (r) => {
    const a = alias(r);
    expect(a.metadata).toMatchObject({ name: 'inventory-live', namespace: 'team-c' });
    // 13 from team-c, never 99 from team-d's same-named Version.
    expect(a.spec).toMatchObject({ functionVersion: '12', routingConfig: { additionalVersionWeights: { '13': 0.25 } } });
    expect(r.xr.status).toMatchObject({ stableVersion: '12', canaryVersion: '13', canaryWeight: 25 });
  },
  'rollout-canary-mid-pause': (r) => {
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Progressing', step: 1, totalSteps: 2, weight: 10, nextStepAt: '2026-11-26T10:05:00.000Z' });
  },
  'rollout-analysis': (r, cli) => {
    // Past its pause, but the measurement due at its end cannot be read (no CloudWatch under render): the step holds.
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(r.xr.status.rollout).toMatchObject({
      phase: 'Progressing',
      step: 1,
      weight: 10,
      analysis: {
        result: 'Unreadable',
        lastMeasuredAt: '2026-11-26T10:11:00.000Z',
        unreadableSince: '2026-11-26T10:11:00.000Z',
        message: expect.stringMatching(/^CloudWatch could not be read: /),
      },
    });
    expect(r.xr.status.rollout.analysis).not.toHaveProperty('failures');
    // The AnalysisUnreadable Warning (the CLIs' result output carries no reason).
    expect(resultMessages(r, 'SEVERITY_WARNING')).toEqual([expect.stringMatching(/^holding step 1: CloudWatch could not be read: /)]);
    if (cli !== 'v1.16.0') expect(condition(r, 'AnalysisPassing')).toMatchObject({ status: 'False', reason: 'Unreadable' });
  },
  'rollout-linear-midway': (r) => {
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.5 } } });
    expect(r.xr.status.rollout).toMatchObject({
      phase: 'Progressing',
      step: 5,
      totalSteps: 10,
      weight: 50,
      stepStartedAt: '2026-11-26T10:01:30.000Z',
      nextStepAt: '2026-11-26T10:02:30.000Z',
    });
    expect(resultMessages(r, 'SEVERITY_NORMAL')).toContain('rollout step 5 of 10: 50% of alias live to version 42');
  },
  'rollout-paused-indefinite': (r) => {
    expect(alias(r).spec).toMatchObject({ routingConfig: { additionalVersionWeights: { '42': 0.5 } } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Paused', step: 2, totalSteps: 3, weight: 50 });
  },
  'rollout-abort': (r) => {
    // The canary stays named at weight 0: server-side apply cannot empty the map (README "How a split ends").
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0 } } });
    expect(alias(r).spec.routingConfig).toEqual({ additionalVersionWeights: { '42': 0 } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Aborted', abortReason: 'aborted by spec.rollout.abort', weight: 0 });
    expect(resultMessages(r, 'SEVERITY_WARNING').some((m) => m.startsWith('rollout to team-a/orders-api-v42 aborted'))).toBe(true);
  },
  'rollout-fast-rollback': (r) => {
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0 } } });
    expect(alias(r).spec.routingConfig).toEqual({ additionalVersionWeights: { '42': 0 } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Stable', weight: 100, stableVersion: '41' });
    expect(resultMessages(r, 'SEVERITY_NORMAL').some((m) => m.startsWith('fast rollback'))).toBe(true);
  },
  'rollout-status-wiped': (r) => {
    // The Alias's record: the same step and the same pause, nothing moved.
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.3 } } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Progressing', step: 3, weight: 30, stableVersion: '41', nextStepAt: '2026-11-26T11:01:00.000Z' });
    expect(
      resultMessages(r, 'SEVERITY_NORMAL').some((m) => m.startsWith('status.rollout was missing; continuing from the rollout state recorded on alias live')),
    ).toBe(true);
  },
  'rollout-state-lost': (r) => {
    // Nothing to trust: held exactly as it is (35 %, between two steps) until a control changes.
    expect(alias(r).spec).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.35 } } });
    expect(r.xr.status.rollout).toMatchObject({ phase: 'Held', weight: 35, stableVersion: '41' });
    expect(resultMessages(r, 'SEVERITY_WARNING').some((m) => m.startsWith('holding alias live as it is: status.rollout is missing'))).toBe(true);
  },
};

/** Examples whose render must fail with the function's Fatal result. */
const FATAL: Record<string, RegExp[]> = {
  'invalid-spec': [/spec\.alias\.name: must be a Lambda alias name/, /spec\.canary\.weight: must have at most two decimals/],
};

/** Examples owned by other suites (resolver pipelines need other functions). */
const OTHER_SUITES = (name: string) => name.startsWith('resolver-');

const examples = exampleDirs(join(REPO_ROOT, 'examples'))
  .map((d) => basename(d))
  .filter((e) => !OTHER_SUITES(e));

describe('examples', () => {
  it('every example has assertions here, and a README with its render command', () => {
    expect(examples.length).toBeGreaterThanOrEqual(12);
    for (const e of examples) {
      expect(CHECKS[e] ?? FATAL[e], `assertions for examples/${e}`).toBeDefined();
      expect(readFileSync(join(REPO_ROOT, 'examples', e, 'README.md'), 'utf8')).toMatch(/crossplane (beta )?render xr\.yaml composition\.yaml functions\.yaml/);
    }
  });

  it('every example XR validates against its XRD', () => {
    for (const e of examples) {
      const xr = join('examples', e, 'xr.yaml');
      const xrd = readFileSync(join(REPO_ROOT, xr), 'utf8').includes('kind: XLambdaCanary') ? XRD_V1 : XRD_V2;
      const v = validate([xrd], xr, 'v2.2.1');
      if (FATAL[e]) {
        // The XRD's own rules reject it too: the API server is the first line of defence.
        expect(v.ok, `${xr} must be rejected by ${xrd}:\n${v.output}`).toBe(false);
        expect(v.output).toMatch(/spec\.alias\.name/);
      } else {
        expect(v.ok, `${xr} against ${xrd}:\n${v.output}`).toBe(true);
      }
    }
  });
});

for (const cli of CLI_VERSIONS) {
  describe(`examples rendered by the real crossplane ${cli}`, () => {
    for (const example of examples) {
      it(example, async () => {
        const r = await renderExample(cli, example);
        if (FATAL[example]) {
          expect(r.exitCode, r.stdout).not.toBe(0);
          for (const re of FATAL[example]) expect(r.stderr).toMatch(re);
          expect(r.stderr).toMatch(/fatal result/);
          return;
        }
        expect(r.exitCode, `${r.command}\n${r.stderr}`).toBe(0);
        CHECKS[example]!(r, cli);

        // Every rendered ACK object is valid for the ACK v1.14.1 CRDs.
        const dir = mkdtempSync(join(tmpdir(), 'flc-rendered-'));
        try {
          const file = join(dir, 'rendered.yaml');
          writeFileSync(file, r.composed.map((o) => `---\n${stringify(o)}`).join(''));
          const v = validate([ACK_CRDS], file, 'v2.2.1');
          expect(v.ok, `rendered objects of ${example} against the ACK CRDs:\n${v.output}`).toBe(true);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
}
