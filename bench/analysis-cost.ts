// In-process figures for what rollout analysis (issue 11) adds to one call:
// the planner on the same mid-rollout request without analysis, with
// analysis whose measurement is not due (one pass), and with a measurement
// due (two passes, CloudWatch answered instantly in memory, so only our own
// work is timed; CloudWatch's latency is bounded by --cloudwatch-deadline).
// Then the same due request through runFunctionWithMeasurements and the real
// CloudWatchMeasurer (the AWS SDK client, its JSON protocol, signing) against a
// loopback fake CloudWatch in this process: with its cache (a second identical
// call is answered from it) and without (cacheTtlMs 0: every call is a
// loopback HTTP round trip per query).
// Run by bench.ts after the servers, printed in the same run.
import { createServer, type Server } from 'node:http';
import { runFunction, runFunctionWithMeasurements } from '../function/handler.js';
import { CloudWatchMeasurer } from '../function/aws/cloudwatch.js';
import { measurementKey, type MeasurementQuery, type Measurements } from '../function/core/analysis/measurements.js';
import { listenOnLoopback } from '../test/support/server.js';
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
  const spec = { ...progressiveSpec({ target: '5', steps: [{ weight: 10, pause: { duration: '10m' } }] }), region: 'us-east-1' };
  const s = new RolloutSim({ spec });
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

/** The pipeline step's credential, so the SDK signs with it instead of searching the default chain. */
const CREDENTIALS: RunFunctionRequest['credentials'] = {
  aws: { credentialData: { data: { aws_access_key_id: Buffer.from('AKIABENCH'), aws_secret_access_key: Buffer.from('bench') } } },
};

interface FakeCloudWatch {
  endpoint: string;
  calls: number;
  close(): Promise<void>;
}

/** A loopback CloudWatch speaking the JSON protocol: every alarm OK, every metric one datapoint. */
async function fakeCloudWatch(): Promise<FakeCloudWatch> {
  const fake: FakeCloudWatch = { endpoint: '', calls: 0, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      fake.calls++;
      const target = String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop();
      const body = (chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString()) : {}) as {
        AlarmNames?: string[];
        MetricDataQueries?: { Id: string }[];
        StartTime?: number;
      };
      const answer =
        target === 'DescribeAlarms'
          ? { MetricAlarms: (body.AlarmNames ?? []).map((AlarmName) => ({ AlarmName, StateValue: 'OK' })), CompositeAlarms: [] }
          : target === 'GetMetricData'
            ? {
                MetricDataResults: (body.MetricDataQueries ?? []).map((q) => ({
                  Id: q.Id,
                  Label: q.Id,
                  StatusCode: 'Complete',
                  Timestamps: [body.StartTime ?? 0],
                  Values: [q.Id.endsWith('invocations') ? 1000 : 1],
                })),
                Messages: [],
              }
            : undefined;
      if (answer === undefined) {
        res
          .writeHead(400, { 'content-type': 'application/x-amz-json-1.0' })
          .end(JSON.stringify({ __type: 'UnknownOperationException', message: String(target) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(answer));
    });
  });
  Object.assign(fake, await listenOnLoopback(server));
  return fake;
}

async function timeUsAsync(f: () => Promise<unknown>, budgetMs: number): Promise<number> {
  for (let end = Date.now() + budgetMs / 4; Date.now() < end;) await f();
  const start = process.hrtime.bigint();
  let n = 0;
  const until = start + BigInt(budgetMs * 1e6);
  while (process.hrtime.bigint() < until) {
    await f();
    n++;
  }
  return Number(process.hrtime.bigint() - start) / 1e3 / n;
}

/**
 * The due request through runFunctionWithMeasurements and the real
 * CloudWatchMeasurer against a loopback fake CloudWatch: cached (the cache
 * answers every call after the first) and uncached (cacheTtlMs 0: a loopback
 * HTTP round trip per query on every call). Checks first that the analysis
 * read the fake (Passing) and that the cache does what the row says.
 */
export async function analysisCostCloudWatch(budgetMs = 400): Promise<AnalysisCost[]> {
  const { req: bare, now } = midStep(true, true);
  const req: RunFunctionRequest = { ...bare, credentials: CREDENTIALS };
  const fake = await fakeCloudWatch();
  const out: AnalysisCost[] = [];
  try {
    for (const [name, cacheTtlMs] of [
      ['due, CloudWatchMeasurer, cached', 3_600_000],
      ['due, CloudWatchMeasurer, uncached (loopback HTTP)', 0],
    ] as const) {
      let hits = 0;
      const measurer = new CloudWatchMeasurer({ cacheTtlMs, endpoint: fake.endpoint, observer: { call: () => undefined, cacheHit: () => void hits++ } });
      const call = () => runFunctionWithMeasurements(req, { now: () => now, measurer, deadlineMs: 10_000 });
      const calls = fake.calls;
      const rsp = await call();
      const queries = fake.calls - calls;
      const analysis = (rsp.desired?.composite?.resource?.['status'] as { rollout?: { analysis?: { result?: string; message?: string } } } | undefined)?.rollout
        ?.analysis;
      if (analysis?.result !== 'Passing')
        throw new Error(`analysis cost: the loopback CloudWatch gave ${analysis?.result ?? 'no'} result: ${analysis?.message ?? ''}`);
      if (queries === 0) throw new Error('analysis cost: the due request made no CloudWatch call');
      await call();
      const cachedNow = fake.calls === calls + queries && hits > 0;
      if (cachedNow !== cacheTtlMs > 0)
        throw new Error(`analysis cost: the second identical call was ${cachedNow ? '' : 'not '}answered from the cache (cacheTtlMs ${cacheTtlMs})`);
      out.push({ case: name, us: await timeUsAsync(call, budgetMs), queries });
    }
  } finally {
    await fake.close();
  }
  return out;
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
