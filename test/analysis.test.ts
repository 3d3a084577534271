// Rollout analysis (issue 11) through the planner and the reconcile
// simulator, with CloudWatch played by a recorded model: per-version rates
// that change over time, alarm states, errors and missing answers. Every
// test also runs the simulator's safety checks (afterEach).
import { afterEach, describe, expect, it } from 'vitest';
import {
  RolloutSim,
  handlerDriver,
  progressiveSpec,
  resultsWith,
  weightOn,
  type ProgressiveSpecOptions,
  type SimOptions,
  type Tick,
} from './support/rollout-sim.js';
import { measurementKey, type MeasurementQuery, type Measurements } from '../function/core/analysis/measurements.js';
import { planLambdaCanary } from '../function/core/canary-planner.js';

const S = 1000;
const MIN = 60 * S;

const sims: RolloutSim[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) {
    expect(s.violations).toEqual([]);
    expect(s.history.flatMap((t) => (t.outcome.fatal !== undefined ? [t.outcome.fatal] : []))).toEqual([]);
  }
});

/** Per version, per minute of the window: invocations, errors, throttles and a duration. */
interface VersionModel {
  invocationsPerMin: number;
  errorRate: number;
  throttleRate?: number;
  durationMs?: number;
}

/** CloudWatch as a recorded model: what each version does from a given time on, and the alarms. */
class CloudWatchModel {
  versions: Record<string, VersionModel> = {
    '5': { invocationsPerMin: 1000, errorRate: 0.001, durationMs: 100 },
    '6': { invocationsPerMin: 100, errorRate: 0.001, durationMs: 110 },
  };
  alarms: Record<string, 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'> = {};
  /** When set, every query answers this error (throttled, denied, timed out). */
  failing: string | undefined;
  /** When true, nothing is answered at all (the call's deadline passed first). */
  silent = false;
  asked: MeasurementQuery[] = [];

  answer = (queries: MeasurementQuery[]): Measurements => {
    this.asked.push(...queries);
    if (this.silent) return {};
    const out: Record<string, Measurements[string]> = {};
    for (const q of queries) {
      const key = measurementKey(q);
      if (this.failing !== undefined) {
        out[key] = { kind: 'error', message: this.failing };
      } else if (q.kind === 'alarms') {
        out[key] = { kind: 'alarms', states: Object.fromEntries(q.alarmNames.map((n) => [n, this.alarms[n] ?? 'MISSING'])) };
      } else {
        const minutes = (Date.parse(q.end) - Date.parse(q.start)) / MIN;
        const values: Record<string, number | null> = {};
        for (const m of q.metrics) {
          const version = m.metric?.dimensions.find((d) => d.name === 'ExecutedVersion')?.value;
          const v = version !== undefined ? this.versions[version] : undefined;
          if (v === undefined) {
            values[m.id] = m.id === 'u_orders' ? 42 : null;
            continue;
          }
          const inv = Math.floor(v.invocationsPerMin * minutes);
          const metric = m.metric!.metricName;
          values[m.id] =
            metric === 'Invocations'
              ? inv
              : metric === 'Errors'
                ? Math.round(inv * v.errorRate)
                : metric === 'Throttles'
                  ? Math.round(inv * (v.throttleRate ?? 0))
                  : inv > 0
                    ? (v.durationMs ?? null)
                    : null;
        }
        out[key] = { kind: 'metrics', values };
      }
    }
    return out;
  };
}

function sim(
  opts: Omit<ProgressiveSpecOptions, 'target'> & { analysis: Record<string, unknown> },
  simOpts: Partial<SimOptions> = {},
): { s: RolloutSim; cw: CloudWatchModel } {
  const { analysis, ...spec } = opts;
  const s = new RolloutSim({ spec: progressiveSpec({ ...spec, target: '5' }), ...simOpts });
  sims.push(s);
  const cw = new CloudWatchModel();
  s.cloudwatch = (q) => cw.answer(q);
  s.tick();
  s.advance(15 * S).tick();
  expect(s.live).toEqual({ primary: '5' });
  s.rollout.analysis = analysis;
  s.advance(MIN);
  return { s, cw };
}

const w6 = (t: Tick) => weightOn(t.rendered, '6');
const analysisOf = (t: Tick) => (t.rollout?.['analysis'] ?? {}) as Record<string, unknown>;
const condition = (t: Tick) => t.outcome.conditions.find((c) => c.type === 'AnalysisPassing');
const TWO_STEPS: ProgressiveSpecOptions['steps'] = [
  { weight: 10, pause: { duration: '5m' } },
  { weight: 50, pause: { duration: '5m' } },
];

describe('analysis passes: the rollout moves on its schedule, never sooner', () => {
  it('errorRate within bounds at every step: promoted after both pauses, AnalysisPassing True, the checks in status', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01, maxRatioToStable: 2 } } });
    s.setTarget('6');
    const ticks = s.runUntil((t) => t.rollout?.phase === 'Promoted');
    // 10 % for its 5-minute pause, then 50 % for its pause, then 100 %.
    const first50 = ticks.find((t) => w6(t) === 50)!;
    const first10 = ticks.find((t) => w6(t) === 10)!;
    expect(first50.at.getTime() - first10.at.getTime()).toBeGreaterThanOrEqual(5 * MIN);
    const mid = ticks.find((t) => w6(t) === 50 && analysisOf(t)['result'] === 'Passing')!;
    expect(analysisOf(mid)).toMatchObject({ result: 'Passing' });
    expect(analysisOf(mid)).not.toHaveProperty('failures');
    expect((analysisOf(mid)['checks'] as { name: string }[]).map((c) => c.name)).toEqual(['canaryInvocations', 'errorRate']);
    expect(condition(mid)).toMatchObject({ status: 'True', reason: 'Passing' });
    expect(cw.asked.length).toBeGreaterThan(0);
  });

  it('a steady LambdaCanary makes no CloudWatch call', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['orders-5xx'] } } });
    for (let i = 0; i < 20; i++) s.advance(MIN).tick();
    expect(cw.asked).toEqual([]);
  });
});

describe('analysis fails: the rollout aborts like spec.rollout.abort', () => {
  it('errorRate above max at step 2: all traffic to stable at once, phase Aborted, the reason names the check, the value and the bound', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 } } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 50);
    cw.versions['6']!.errorRate = 0.05;
    const ticks = s.runUntil((t) => t.rollout?.phase === 'Aborted');
    const t = ticks.at(-1)!;
    expect(t.rendered).toEqual({ primary: '5' });
    expect(String(t.rollout?.['abortReason'])).toMatch(/errorRate of version 6 is \d+(\.\d+)?% \(\d+ invocations\), above 1%/);
    expect(resultsWith(t, 'RolloutAborted')[0]!.severity).toBe('Warning');
    expect(condition(t)).toMatchObject({ status: 'False', reason: 'Aborted' });
    // Nothing moves afterwards, and nothing is measured any more.
    const asked = cw.asked.length;
    for (let i = 0; i < 10; i++) expect(s.advance(MIN).tick().rendered).toEqual({ primary: '5' });
    expect(cw.asked.length).toBe(asked);
  });

  it('relative to stable: twice the error rate of stable fails a 1.5x bound, with no absolute max set', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { maxRatioToStable: 1.5 } } });
    cw.versions['5']!.errorRate = 0.01;
    cw.versions['6']!.errorRate = 0.02;
    s.setTarget('6');
    const t = s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toMatch(/above 1\.5 x stable's \d+(\.\d+)?%/);
  });

  it('an alarm in ALARM during a pause aborts at the next measurement, whatever failureLimit says', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['orders-5xx'] }, failureLimit: 5 } });
    cw.alarms['orders-5xx'] = 'OK';
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10 && analysisOf(t)['result'] === 'Passing');
    cw.alarms['orders-5xx'] = 'ALARM';
    const ticks = s.runUntil((t) => t.rollout?.phase === 'Aborted', 10);
    expect(ticks.at(-1)!.at.getTime() - ticks[0]!.at.getTime()).toBeLessThanOrEqual(MIN);
    expect(String(ticks.at(-1)!.rollout?.['abortReason'])).toContain('CloudWatch alarm orders-5xx is in ALARM');
    expect(ticks.at(-1)!.rendered).toEqual({ primary: '5' });
  });

  it('INSUFFICIENT_DATA (or an unknown alarm) is no failure by default; with insufficientData: Fail it aborts', () => {
    const lenient = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['new-alarm'] } } });
    lenient.cw.alarms['new-alarm'] = 'INSUFFICIENT_DATA';
    lenient.s.setTarget('6');
    lenient.s.runUntil((t) => t.rollout?.phase === 'Promoted');
    const strict = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['missing-alarm'], insufficientData: 'Fail' } } });
    strict.s.setTarget('6');
    const t = strict.s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toContain('missing-alarm is MISSING');
  });

  it('flapping with failureLimit 1: one failure holds the step (Warning), a pass lets it go on, the second failure aborts', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 }, failureLimit: 1, interval: '1m' } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10);
    cw.versions['6']!.errorRate = 0.05;
    const failed = s.runUntil((t) => resultsWith(t, 'AnalysisFailed').length > 0).at(-1)!;
    expect(failed.rollout).toMatchObject({ phase: 'Progressing' });
    expect(analysisOf(failed)).toMatchObject({ failures: 1, result: 'Failing' });
    expect(w6(failed)).toBe(10);
    cw.versions['6']!.errorRate = 0.001;
    s.runUntil((t) => w6(t) === 50);
    cw.versions['6']!.errorRate = 0.05;
    const t = s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toMatch(/analysis failed 2 time\(s\), more than failureLimit 1/);
  });
});

describe('analysis waits: too few invocations, no data, CloudWatch unreadable', () => {
  it('minInvocations: the step holds past its pause until the canary has served enough, then moves on', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { minInvocations: 1000 } });
    cw.versions['6']!.invocationsPerMin = 100; // 1000 invocations take 10 minutes
    s.setTarget('6');
    const ticks = s.runUntil((t) => w6(t) === 50);
    const start = ticks.find((t) => w6(t) === 10)!.at.getTime();
    expect(ticks.at(-1)!.at.getTime() - start).toBeGreaterThanOrEqual(10 * MIN);
    const waiting = ticks.find((t) => analysisOf(t)['result'] === 'Waiting')!;
    expect(String(analysisOf(waiting)['message'])).toMatch(/the canary served \d+ of the 1000 invocations/);
    expect(condition(waiting)).toMatchObject({ status: 'Unknown', reason: 'Waiting' });
  });

  it('no invocations at all: after maxWaitForInvocations it fails (default) or passes (onTooFewInvocations: Pass)', () => {
    const failing = sim({ steps: TWO_STEPS, analysis: { minInvocations: 10, maxWaitForInvocations: '10m' } });
    failing.cw.versions['6']!.invocationsPerMin = 0;
    failing.s.setTarget('6');
    const t = failing.s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toMatch(/too few invocations after waiting 10m: the canary served 0 of the 10/);
    const passing = sim({ steps: TWO_STEPS, analysis: { minInvocations: 10, maxWaitForInvocations: '10m', onTooFewInvocations: 'Pass' } });
    passing.cw.versions['6']!.invocationsPerMin = 0;
    passing.s.setTarget('6');
    const ticks = passing.s.runUntil((x) => x.rollout?.phase === 'Promoted');
    expect(ticks.some((x) => resultsWith(x, 'AnalysisSampleTimeout').length > 0)).toBe(true);
  });

  it('CloudWatch errors: the step holds with a Warning; after unreadableFor the rollout aborts', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 }, unreadableFor: '5m' } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10);
    cw.failing = 'GetMetricData: Throttling: Rate exceeded (after 4 attempts)';
    const held = s.runUntil((t) => resultsWith(t, 'AnalysisUnreadable').length > 0).at(-1)!;
    expect(w6(held)).toBe(10);
    expect(condition(held)).toMatchObject({ status: 'False', reason: 'Unreadable' });
    const ticks = s.runUntil((t) => t.rollout?.phase === 'Aborted');
    expect(ticks.every((t) => w6(t) <= 10)).toBe(true);
    expect(String(ticks.at(-1)!.rollout?.['abortReason'])).toMatch(/CloudWatch unreadable since .*Throttling/);
  });

  it('a call whose deadline passed before CloudWatch answered (nothing measured) holds the same way, and recovers', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 } } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10);
    cw.silent = true;
    const held = s.runUntil((t) => analysisOf(t)['result'] === 'Unreadable').at(-1)!;
    expect(String(analysisOf(held)['message'])).toContain('not measured in this call');
    cw.silent = false;
    s.runUntil((t) => t.rollout?.phase === 'Promoted');
  });

  it('without any CloudWatch (no measurer, as under crossplane render): never advances past a step with analysis', () => {
    const { s } = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['a'] }, unreadableFor: '1h' } });
    s.cloudwatch = undefined;
    s.setTarget('6');
    for (let i = 0; i < 40; i++) expect(w6(s.advance(MIN).tick())).toBeLessThanOrEqual(10);
  });
});

describe('escape hatches', () => {
  it('analysis.skip changed: the rest of this rollout runs without analysis (an emergency fix past a firing alarm)', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['orders-5xx'] }, failureLimit: 0 } });
    cw.alarms['orders-5xx'] = 'OK';
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10 && analysisOf(t)['result'] === 'Passing');
    (s.rollout.analysis as Record<string, unknown>)['skip'] = 'incident-4711';
    const t = s.advance(S).tick();
    expect(resultsWith(t, 'AnalysisSkipped')).toHaveLength(1);
    cw.alarms['orders-5xx'] = 'ALARM';
    const asked = cw.asked.length;
    s.runUntil((x) => x.rollout?.phase === 'Promoted');
    expect(cw.asked.length).toBe(asked);
  });

  it('a skip token already set when the rollout starts does not skip it', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { alarms: { names: ['orders-5xx'] }, skip: 'old' } });
    cw.alarms['orders-5xx'] = 'ALARM';
    s.setTarget('6');
    expect(s.runUntil((t) => t.rollout?.phase === 'Aborted').at(-1)!.rendered).toEqual({ primary: '5' });
  });

  it('a fast rollback never waits for analysis: the target back to stable moves all traffic at once, with no measurement', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 } } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10);
    cw.silent = true; // CloudWatch down: must not matter
    const asked = cw.asked.length;
    s.setTarget('5');
    expect(s.advance(S).tick().rendered).toEqual({ primary: '5' });
    expect(cw.asked.length).toBe(asked);
  });

  it('abort while analysis is unreadable: immediate', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 } } });
    s.setTarget('6');
    s.runUntil((t) => w6(t) === 10);
    cw.failing = 'AccessDenied';
    s.rollout.abort = true;
    expect(s.advance(S).tick().rendered).toEqual({ primary: '5' });
  });
});

describe('custom metric checks and the handler path', () => {
  it('a custom metric above its max aborts, naming the check', () => {
    const { s } = sim({
      steps: TWO_STEPS,
      analysis: { metrics: [{ name: 'orders', metric: { namespace: 'Shop', metricName: 'FailedOrders', stat: 'Sum', periodSeconds: 60 }, max: 10 }] },
    });
    s.setTarget('6');
    const t = s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toContain('orders is 42, above 10');
  });

  it('throttleRate above max aborts, naming throttleRate', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { throttleRate: { max: 0.02 } } });
    cw.versions['6']!.throttleRate = 0.1;
    s.setTarget('6');
    const t = s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toMatch(/throttleRate of version 6 is \d+(\.\d+)?% \(\d+ invocations\), above 2%/);
  });

  it('duration p99 above 1.3x stable aborts; the query asks for the p99 statistic', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { duration: { statistic: 'p99', maxRatioToStable: 1.3 } } });
    cw.versions['6']!.durationMs = 200;
    s.setTarget('6');
    const t = s.runUntil((x) => x.rollout?.phase === 'Aborted').at(-1)!;
    expect(String(t.rollout?.['abortReason'])).toContain("duration p99 of version 6 is 200 ms, above 1.3 x stable's 100 ms");
    const metrics = cw.asked.flatMap((q) => (q.kind === 'metrics' ? q.metrics : []));
    expect(metrics.filter((m) => m.metric?.metricName === 'Duration').map((m) => m.metric?.stat)).toContain('p99');
  });

  it('a metric-math expression check is sent as an expression, under its own id', () => {
    const { s, cw } = sim({ steps: TWO_STEPS, analysis: { metrics: [{ name: 'orders', expression: 'SUM(METRICS())', max: 100 }] } });
    s.setTarget('6');
    s.runUntil((x) => x.rollout?.phase === 'Promoted');
    const metrics = cw.asked.flatMap((q) => (q.kind === 'metrics' ? q.metrics : []));
    expect(metrics).toContainEqual({ id: 'u_orders', expression: 'SUM(METRICS())' });
  });

  it('the RunFunction handler drives the same analysed rollout, call for call, as the planner', () => {
    const run = (driver?: SimOptions['driver']) => {
      const { s, cw } = sim({ steps: TWO_STEPS, analysis: { errorRate: { max: 0.01 }, minInvocations: 200 } }, driver ? { driver } : {});
      s.setTarget('6');
      s.runUntil((t) => w6(t) === 50);
      cw.versions['6']!.errorRate = 0.03;
      s.runUntil((t) => t.rollout?.phase === 'Aborted');
      return s.history.map((t) => [t.elapsedMs, t.rendered, t.rollout?.step, t.rollout?.phase, t.outcome.ttlSeconds]);
    };
    expect(run(handlerDriver)).toEqual(run());
  });

  it('errorRate with spec.function.ref is refused, naming the field and the way out', () => {
    const p = planLambdaCanary({
      composite: {
        apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
        kind: 'LambdaCanary',
        metadata: { name: 'x', namespace: 'team-a' },
        spec: {
          function: { ref: { from: { name: 'fn' } } },
          alias: { name: 'live' },
          rollout: { target: { version: '6' }, strategy: { preset: 'AllAtOnce' }, analysis: { errorRate: { max: 0.01 } } },
        },
      },
      observed: {},
      required: {},
      now: new Date(),
    });
    expect(p.fatal).toMatch(/spec\.rollout\.analysis\.errorRate: .*set spec\.function\.name, or use analysis\.alarms and analysis\.metrics/);
  });
});
