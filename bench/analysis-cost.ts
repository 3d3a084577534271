// In-process figures for what rollout analysis (issue 11) adds to one call:
// the planner on the same mid-rollout request without analysis, with
// analysis whose measurement is not due (one pass), and with a measurement
// due (two passes, CloudWatch answered instantly in memory, so only our own
// work is timed; CloudWatch's latency is bounded by --cloudwatch-deadline).
// Run by bench.ts after the servers, printed in the same run.
import { runFunction } from '../function/handler.js';
import { measurementKey, type MeasurementQuery, type Measurements } from '../function/core/analysis/measurements.js';
import { RolloutSim, progressiveSpec } from '../test/support/rollout-sim.js';
import { Severity, type RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';

export interface AnalysisCost {
  case: string;
  us: number;
  queries: number;
}

function answer(queries: MeasurementQuery[]): Measurements {
  const out: Record<string, Measurements[string]> = {};
  for (const q of queries) {
    out[measurementKey(q)] =
      q.kind === 'alarms'
        ? { kind: 'alarms', states: Object.fromEntries(q.alarmNames.map((n) => [n, 'OK'])) }
        : { kind: 'metrics', values: Object.fromEntries(q.metrics.map((m) => [m.id, m.id.endsWith('invocations') ? 1000 : 1])) };
  }
  return out;
}

const ANALYSIS = {
  alarms: { names: ['orders-5xx', 'orders-latency'] },
  errorRate: { max: 0.01, maxRatioToStable: 1.5 },
  duration: { statistic: 'p99', maxRatioToStable: 1.3 },
};

/** A request in the middle of step 1 (10 %), `dueIn` ms after the last measurement. */
function midStep(analysis: boolean, due: boolean): { req: RunFunctionRequest; now: Date } {
  const s = new RolloutSim({ spec: progressiveSpec({ target: '5', steps: [{ weight: 10, pause: { duration: '10m' } }] }) });
  s.cloudwatch = answer;
  s.tick();
  s.advance(15_000).tick();
  if (analysis) s.rollout.analysis = ANALYSIS;
  s.setTarget('6');
  for (let i = 0; i < 3; i++) s.advance(15_000).tick();
  s.advance(due ? 61_000 : 5_000);
  return s.nextRequest();
}

function timeUs(f: () => unknown, budgetMs: number): number {
  for (let end = Date.now() + budgetMs / 4; Date.now() < end;) f();
  const start = process.hrtime.bigint();
  let n = 0;
  const until = start + BigInt(budgetMs * 1e6);
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 10; i++) f();
    n += 10;
  }
  return Number(process.hrtime.bigint() - start) / 1e3 / n;
}

export function analysisCost(budgetMs = 400): AnalysisCost[] {
  const cases: [string, boolean, boolean][] = [
    ['no analysis', false, false],
    ['analysis, not due (one pass)', true, false],
    ['analysis, measurement due (two passes)', true, true],
  ];
  return cases.map(([name, analysis, due]) => {
    const { req, now } = midStep(analysis, due);
    let queries = 0;
    const measurements = (q: MeasurementQuery[]) => {
      queries = q.length;
      return answer(q);
    };
    const rsp = runFunction(req, { now: () => now, measurements });
    if (rsp.results.some((r) => r.severity === Severity.SEVERITY_FATAL)) throw new Error(`analysis cost: the ${name} request gave a Fatal result`);
    if (due && queries === 0) throw new Error('analysis cost: the due request asked for no measurement');
    return { case: name, us: timeUs(() => runFunction(req, { now: () => now, measurements }), budgetMs), queries };
  });
}
