// Rollout analysis end to end, short of a cluster: the function's real gRPC
// server, with the real CloudWatch measurer (function/aws/cloudwatch.ts)
// pointed at moto's CloudWatch on loopback, answers every call of a simulated
// reconcile loop (test/support/rollout-sim.ts, fake clock: the server's `now`).
// Each response's status and Alias (spec and the rollout-state annotation)
// become the next request's observed state, as Crossplane and ACK make them.
// The test drives CloudWatch the way AWS would change under a rollout:
// PutMetricAlarm / SetAlarmState for alarms, PutMetricData for Lambda's
// per-version metrics (AWS/Lambda; FunctionName, Resource = fn:alias,
// ExecutedVersion).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchClient, PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { CloudWatchMeasurer } from '../function/aws/cloudwatch.js';
import type { RunningServer } from '../function/server/server.js';
import { functionClient, type FunctionClient } from './support/grpc-client.js';
import { putErrorsAlarm, startMotoServer, type MotoServer } from './support/moto-server.js';
import { RolloutSim, progressiveSpec, resultsWith, rpcDriver, weightOn, type Json, type Tick } from './support/rollout-sim.js';
import { startLoopbackServer } from './support/server.js';

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
// The pipeline step's credential "aws" (a Secret): moto signs nothing, and the
// SDK's default chain (which would try the instance metadata endpoint) is never used here.
const pipelineCredentials: RunFunctionRequest['credentials'] = {
  aws: {
    credentialData: {
      data: { aws_access_key_id: Buffer.from(credentials.accessKeyId), aws_secret_access_key: Buffer.from(credentials.secretAccessKey) },
    },
  },
};

let moto: MotoServer | undefined;
let cw: CloudWatchClient | undefined;
let measurer: CloudWatchMeasurer | undefined;
let server: RunningServer | undefined;
let client: FunctionClient | undefined;
let clock = new Date(0);

describe("rollout analysis through the gRPC server against moto's CloudWatch", () => {
  beforeAll(async () => {
    moto = await startMotoServer();
    cw = new CloudWatchClient({ endpoint: moto.endpoint, region: REGION, credentials });
    // The cache is keyed by the query, and an alarm query names no time: with
    // the fake clock, calls of minutes apart are milliseconds apart in real
    // time, so a cached OK would hide the SetAlarmState below. Off here; the
    // cluster scenario runs with the default.
    measurer = new CloudWatchMeasurer({ endpoint: moto.endpoint, cacheTtlMs: 0 });
    server = await startLoopbackServer({ now: () => clock, measurer, measureDeadlineMs: 10_000 });
    client = functionClient(`127.0.0.1:${server.port}`, 'v1');
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await server?.shutdown(1_000);
    measurer?.close();
    cw?.destroy();
    await moto?.stop();
  });

  async function alarm(name: string, state: 'OK' | 'ALARM'): Promise<void> {
    await putErrorsAlarm(cw!, name);
    await setAlarm(name, state);
  }

  async function setAlarm(name: string, state: 'OK' | 'ALARM'): Promise<void> {
    await cw!.send(new SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: 'set by the test' }));
  }

  /** Lambda's per-version metrics of `fn` through alias live, as Lambda publishes them. */
  async function lambdaMetrics(fn: string, at: Date, byVersion: Record<string, { invocations: number; errors?: number }>): Promise<void> {
    const dims = (version: string) => [
      { Name: 'FunctionName', Value: fn },
      { Name: 'Resource', Value: `${fn}:live` },
      { Name: 'ExecutedVersion', Value: version },
    ];
    await cw!.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/Lambda',
        MetricData: Object.entries(byVersion).flatMap(([version, m]) => [
          { MetricName: 'Invocations', Dimensions: dims(version), Value: m.invocations, Timestamp: at, Unit: 'Count' as const },
          ...(m.errors !== undefined ? [{ MetricName: 'Errors', Dimensions: dims(version), Value: m.errors, Timestamp: at, Unit: 'Count' as const }] : []),
        ]),
      }),
    );
  }

  /**
   * An XR of function `fn` deployed on version 1, then given target 2: the
   * returned sim has just entered step 1 (10% on 2, not yet synced), at t0.
   */
  async function rolloutTo2(fn: string, analysis: Json, pause: string): Promise<{ sim: RolloutSim; t0: number; entered: Tick }> {
    const sim = new RolloutSim({
      spec: {
        ...progressiveSpec({ target: '1', functionName: fn, steps: [{ weight: 10, pause: { duration: pause } }], rollout: { analysis } }),
        region: REGION,
      },
      // Near real time (moto keeps datapoints of any time, but the numbers stay plausible), on a minute.
      start: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000),
      name: fn,
      driver: rpcDriver(
        (req) => client!.runFunction({ ...req, credentials: pipelineCredentials }),
        (now) => (clock = now),
      ),
    });
    const first = await sim.tickAsync();
    expect(first.rollout).toMatchObject({ phase: 'Stable', stableVersion: '1' });
    sim.advance(60_000).setTarget('2');
    const t0 = sim.now.getTime();
    const entered = await sim.tickAsync();
    expect(entered.rendered).toEqual({ primary: '1', secondary: { version: '2', percent: 10 } });
    return { sim, t0, entered };
  }

  /** One row per call: seconds into the rollout, % on version 2, step, phase, analysis result, TTL. */
  const rows = (ticks: Tick[], t0: number) =>
    ticks.map((t) => [
      (t.at.getTime() - t0) / 1000,
      weightOn(t.rendered, '2'),
      t.rollout?.step,
      t.rollout?.phase,
      (t.rollout?.analysis as Json | undefined)?.result,
      t.outcome.ttlSeconds,
    ]);
  const analysisCondition = (t: Tick) => t.outcome.conditions.find((c) => c.type === 'AnalysisPassing');
  const expectClean = (sim: RolloutSim) => {
    expect(sim.violations).toEqual([]);
    expect(sim.history.flatMap((t) => (t.outcome.fatal !== undefined ? [t.outcome.fatal] : []))).toEqual([]);
    // Every measurement reached moto: none was unreadable.
    expect(sim.history.flatMap((t) => resultsWith(t, 'AnalysisUnreadable').map((r) => r.message))).toEqual([]);
  };

  describe('alarms', () => {
    it('alarm OK: measured every interval while the step is synced, and the step advances only once its pause is over', async () => {
      await alarm('ok-errors', 'OK');
      const { sim, t0, entered } = await rolloutTo2('ok-fn', { alarms: { names: ['ok-errors'] }, interval: '30s' }, '2m');
      const ticks = [entered, ...(await sim.runUntilAsync((t) => t.rollout?.phase === 'Promoted', 20))];
      expect(rows(ticks, t0)).toEqual([
        // Entered, not yet synced: nothing to measure.
        [0, 10, 1, 'Progressing', undefined, 15],
        // Synced: measured (alarm OK), then every 30 s while the 2 m pause runs.
        [15, 10, 1, 'Progressing', 'Passing', 30],
        [45, 10, 1, 'Progressing', 'Passing', 30],
        [75, 10, 1, 'Progressing', 'Passing', 30],
        [105, 10, 1, 'Progressing', 'Passing', 15],
        // The pause is over: measured once more, then the step advances.
        [120, 100, 2, 'Progressing', undefined, 15],
        [135, 100, 2, 'Promoted', undefined, 300],
      ]);
      expect(ticks[1]!.rollout?.analysis).toMatchObject({ checks: [{ name: 'alarm ok-errors', bound: 'not ALARM', passed: true }] });
      expect(analysisCondition(ticks[4]!)).toMatchObject({ status: 'True', reason: 'Passing' });
      expect(resultsWith(ticks[5]!, 'RolloutStep').map((r) => r.message)).toEqual(['rollout step 2 of 2: 100% of alias live to version 2']);
      expectClean(sim);
    });

    it('SetAlarmState ALARM mid-step: the next call aborts, all traffic to stable, phase Aborted naming the alarm, a Warning; nothing moves after', async () => {
      await alarm('bad-errors', 'OK');
      const { sim, t0 } = await rolloutTo2('bad-fn', { alarms: { names: ['bad-errors'] }, interval: '30s' }, '10m');
      const measured = await sim.nextAsync();
      expect(measured.rollout).toMatchObject({ phase: 'Progressing', step: 1, analysis: { result: 'Passing' } });
      expect(measured.rendered).toEqual({ primary: '1', secondary: { version: '2', percent: 10 } });

      await setAlarm('bad-errors', 'ALARM');
      const abort = await sim.nextAsync();
      expect((abort.at.getTime() - t0) / 1000).toBe(45);
      expect(abort.rendered).toEqual({ primary: '1' });
      // The split ends with the zero-weight entry (README, "How a split ends").
      expect((abort.alias?.spec as Json).routingConfig).toEqual({ additionalVersionWeights: { '2': 0 } });
      expect(abort.rollout).toMatchObject({
        phase: 'Aborted',
        stableVersion: '1',
        abortReason: 'analysis: CloudWatch alarm bad-errors is in ALARM',
        analysis: { result: 'Failing', checks: [{ name: 'alarm bad-errors', passed: false }] },
      });
      const warnings = abort.outcome.results.filter((r) => r.severity === 'Warning');
      expect(warnings).toEqual([
        {
          severity: 'Warning',
          reason: 'RolloutAborted',
          message: 'rollout to version 2 aborted, all traffic back to stable version 1: analysis: CloudWatch alarm bad-errors is in ALARM',
        },
      ]);
      expect(analysisCondition(abort)).toMatchObject({ status: 'False', reason: 'Aborted' });

      // The alarm clears: an aborted rollout stays aborted (only retry or a new target restarts it).
      await setAlarm('bad-errors', 'OK');
      for (let i = 0; i < 3; i++) {
        const t = await sim.nextAsync();
        expect(t.rendered).toEqual({ primary: '1' });
        expect(t.rollout?.phase).toBe('Aborted');
      }
      expectClean(sim);
    });
  });

  describe('errorRate from per-version metrics', () => {
    it("the canary's error rate above max aborts at the first measurement, naming errorRate, the value and the bound", async () => {
      const { sim, t0 } = await rolloutTo2('high-fn', { errorRate: { max: 0.05 }, interval: '30s' }, '2m');
      await lambdaMetrics('high-fn', new Date(t0 + 5_000), { '2': { invocations: 100, errors: 10 }, '1': { invocations: 900, errors: 9 } });
      const t = await sim.nextAsync();
      expect((t.at.getTime() - t0) / 1000).toBe(15);
      expect(t.rendered).toEqual({ primary: '1' });
      expect(t.rollout).toMatchObject({
        phase: 'Aborted',
        abortReason: 'analysis failed 1 time(s), more than failureLimit 0: errorRate of version 2 is 10% (100 invocations), above 5%',
        analysis: {
          result: 'Failing',
          failures: 1,
          canaryInvocations: 100,
          checks: [
            { name: 'canaryInvocations', value: 100, stable: 900 },
            { name: 'errorRate', value: 0.1, stable: 0.01, bound: '<= 0.05', passed: false },
          ],
        },
      });
      expect(resultsWith(t, 'RolloutAborted')).toEqual([{ severity: 'Warning', reason: 'RolloutAborted', message: expect.stringContaining('errorRate') }]);
      expect(analysisCondition(t)).toMatchObject({ status: 'False', reason: 'Aborted' });
      expectClean(sim);
    });

    it("the canary's error rate below max passes every measurement, and the step advances when its pause is over", async () => {
      const { sim, t0, entered } = await rolloutTo2('low-fn', { errorRate: { max: 0.05 }, interval: '30s' }, '2m');
      await lambdaMetrics('low-fn', new Date(t0 + 5_000), { '2': { invocations: 100, errors: 1 }, '1': { invocations: 900, errors: 18 } });
      const ticks = [entered, ...(await sim.runUntilAsync((t) => weightOn(t.rendered, '2') === 100, 20))];
      expect(rows(ticks, t0).map(([at, weight, , , result]) => [at, weight, result])).toEqual([
        [0, 10, undefined],
        [15, 10, 'Passing'],
        [45, 10, 'Passing'],
        [75, 10, 'Passing'],
        [105, 10, 'Passing'],
        [120, 100, undefined],
      ]);
      expect(ticks[4]!.rollout?.analysis).toMatchObject({
        canaryInvocations: 100,
        checks: [
          { name: 'canaryInvocations', value: 100, stable: 900 },
          { name: 'errorRate', value: 0.01, stable: 0.02, bound: '<= 0.05', passed: true },
        ],
      });
      expect(analysisCondition(ticks[4]!)).toMatchObject({ status: 'True', reason: 'Passing' });
      expectClean(sim);
    });
  });

  describe('minInvocations', () => {
    it('holds the step after its pause while the canary has served too few invocations, and lets it advance once it has', async () => {
      const { sim, t0, entered } = await rolloutTo2('few-fn', { minInvocations: 50, interval: '30s' }, '1m');
      await lambdaMetrics('few-fn', new Date(t0 + 5_000), { '2': { invocations: 10 }, '1': { invocations: 90 } });
      const ticks = [entered];
      while (sim.now.getTime() - t0 < 150_000) ticks.push(await sim.nextAsync());
      // The pause ended at +60 s; the step is still held at 10%, waiting for the sample.
      expect(ticks.every((t) => weightOn(t.rendered, '2') === 10 && t.rollout?.step === 1 && t.rollout?.phase === 'Progressing')).toBe(true);
      const last = ticks.at(-1)!;
      expect((last.at.getTime() - t0) / 1000).toBeGreaterThanOrEqual(150);
      expect(last.rollout?.analysis).toMatchObject({
        result: 'Waiting',
        canaryInvocations: 10,
        message: 'the canary served 10 of the 50 invocations analysis.minInvocations asks for',
      });
      expect(analysisCondition(last)).toMatchObject({ status: 'Unknown', reason: 'Waiting' });
      // A measurement after the pause found too few: measured at or after +60 s.
      const measuredAt = ticks.map((t) => (t.rollout?.analysis as Json | undefined)?.lastMeasuredAt).filter((x): x is string => typeof x === 'string');
      expect(measuredAt.some((at) => Date.parse(at) >= t0 + 60_000)).toBe(true);

      // The canary serves 45 more: the next measurement passes and the step ends.
      await lambdaMetrics('few-fn', new Date(sim.now.getTime() - 1_000), { '2': { invocations: 45 } });
      const more = await sim.runUntilAsync((t) => weightOn(t.rendered, '2') === 100, 5);
      const advanced = more.at(-1)!;
      expect(advanced.rollout).toMatchObject({ step: 2, phase: 'Progressing' });
      // The measurement that let it advance (in the same call) saw all 55.
      expect(advanced.rollout?.analysis).toMatchObject({ checks: [{ name: 'canaryInvocations', value: 55, stable: 90, bound: '>= 50' }] });
      expect(rows([...ticks, ...more], t0)).toEqual([
        [0, 10, 1, 'Progressing', undefined, 15],
        [15, 10, 1, 'Progressing', 'Waiting', 30],
        [45, 10, 1, 'Progressing', 'Waiting', 15],
        // The pause is over at +60 s: measured every 30 s, held at 10% (called every 15 s in between).
        [60, 10, 1, 'Progressing', 'Waiting', 15],
        [75, 10, 1, 'Progressing', 'Waiting', 15],
        [90, 10, 1, 'Progressing', 'Waiting', 15],
        [105, 10, 1, 'Progressing', 'Waiting', 15],
        [120, 10, 1, 'Progressing', 'Waiting', 15],
        [135, 10, 1, 'Progressing', 'Waiting', 15],
        [150, 10, 1, 'Progressing', 'Waiting', 15],
        // 45 more invocations at +149 s; +165 s is no measurement (+150 s was), +180 s is and passes.
        [165, 10, 1, 'Progressing', 'Waiting', 15],
        [180, 100, 2, 'Progressing', undefined, 15],
      ]);
      expect(resultsWith(advanced, 'RolloutStep')).toHaveLength(1);
      expectClean(sim);
    });
  });
});
