// The metrics end to end: the real gRPC server records into a registry, the
// real /metrics endpoint serves it, and the scrape is parsed like Prometheus
// would, so names, labels and values are checked as a dashboard sees them.
import { RunFunctionRequest, RunFunctionResponse, Severity, to } from '@crossplane-org/function-sdk-typescript';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_UNKNOWN_FIELD_LABELS, createMetrics, grpcCodeName, serveMetrics, type FunctionMetrics, type MetricsServer } from '../function/server/metrics.js';
import { SERVICE_V1, SERVICE_V1BETA1, startFunctionServer, type FunctionHandler, type RunningServer } from '../function/server/server.js';
import { functionClient, serviceName, type ApiVersion } from './support/grpc-client.js';
import { RolloutSim, progressiveSpec, resultsWith, rpcDriver, type Json, type Tick } from './support/rollout-sim.js';
import type { Measurer } from '../function/aws/cloudwatch.js';
import { measurementKey, type MeasurementQuery, type Measurements } from '../function/core/analysis/measurements.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Client = ReturnType<typeof functionClient>;

interface Started {
  call(version: ApiVersion, req: RunFunctionRequest): ReturnType<Client['runFunction']>;
  /** A call with these very bytes as the request, as a newer Crossplane might send them. */
  callRaw(version: ApiVersion, bytes: Buffer): Promise<RunFunctionResponse>;
  scrape(): Promise<Sample[]>;
  endpoint: MetricsServer;
}

/** The real function server and the real metrics endpoint on 127.0.0.1:0, sharing one registry. */
async function start(
  metrics: FunctionMetrics,
  extra: { handler?: FunctionHandler; logger?: Logger; now?: () => Date; measurer?: Measurer } = {},
): Promise<Started> {
  const srv: RunningServer = await startFunctionServer({
    address: '127.0.0.1:0',
    insecure: true,
    tlsServerCertsDir: '/nonexistent',
    maxRecvMsgSize: 4 * 1024 * 1024,
    logger: extra.logger ?? pino({ level: 'silent' }),
    now: extra.now ?? (() => new Date('2026-01-01T00:00:00Z')),
    metrics,
    ...(extra.handler ? { handler: extra.handler } : {}),
    ...(extra.measurer ? { measurer: extra.measurer } : {}),
  });
  cleanups.push(() => srv.shutdown(1_000));
  const endpoint = await serveMetrics('127.0.0.1:0', metrics);
  cleanups.push(() => endpoint.close());
  const clients = new Map<ApiVersion, Client>();
  const call = (version: ApiVersion, req: RunFunctionRequest) => {
    let c = clients.get(version);
    if (c === undefined) {
      c = functionClient(`127.0.0.1:${srv.port}`, version);
      clients.set(version, c);
      cleanups.push(() => c!.close());
    }
    return c.runFunction(req);
  };
  const callRaw = (version: ApiVersion, bytes: Buffer) => {
    const c = functionClient(`127.0.0.1:${srv.port}`, version);
    cleanups.push(() => c.close());
    return new Promise<RunFunctionResponse>((resolve, reject) => {
      c.raw.makeUnaryRequest(
        `/${serviceName(version)}/RunFunction`,
        (b: Buffer) => b,
        (b: Buffer) => RunFunctionResponse.decode(b),
        bytes,
        (err, rsp) => (err ? reject(err) : resolve(rsp!)),
      );
    });
  };
  return { call, callRaw, scrape: () => scrape(endpoint.port), endpoint };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET /metrics and parse the text exposition format (no escapes needed for our label values). */
async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include these; throws if there is not exactly one. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

function xr(spec: unknown): Record<string, unknown> {
  return { apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1', kind: 'LambdaCanary', metadata: { name: 'checkout', namespace: 'team-a' }, spec };
}

function request(tag: string, spec: unknown, observed: Record<string, Record<string, unknown>> = {}): RunFunctionRequest {
  const resources = Object.fromEntries(Object.entries(observed).map(([k, r]) => [k, { resource: r }]));
  return RunFunctionRequest.fromPartial({ meta: { tag }, observed: { composite: { resource: xr(spec) }, resources } });
}

const FN = { function: { name: 'checkout' }, alias: { name: 'live' } };
/** The ACK Alias as observed: all traffic on version 5, synced. */
const LIVE_ALIAS = {
  apiVersion: 'lambda.services.k8s.aws/v1alpha1',
  kind: 'Alias',
  // Rendered by this function in manual mode: its record says version 5 takes all traffic, so a rollout may start from it.
  metadata: { name: 'checkout-live', namespace: 'team-a', annotations: { 'lambdacanary.fn.crossplane.io/rollout-state': '{"v":1,"traffic":{"primary":"5"}}' } },
  spec: { name: 'live', functionName: 'checkout', functionVersion: '5' },
  status: { conditions: [{ type: 'ACK.ResourceSynced', status: 'True' }] },
};

const unary = (service: string) => ({ grpc_type: 'unary', grpc_service: service, grpc_method: 'RunFunction' });

describe('Prometheus metrics', () => {
  it('counts v1 and v1beta1 calls like go-grpc-prometheus and the domain outcomes of each response', async () => {
    const metrics = createMetrics();
    const { call, scrape } = await start(metrics);

    // Before any call: zeros for both services, so rate() works from the first scrape.
    const before = await scrape();
    for (const service of [SERVICE_V1, SERVICE_V1BETA1]) {
      expect(value(before, 'grpc_server_started_total', unary(service))).toBe(0);
      expect(value(before, 'grpc_server_handled_total', { ...unary(service), grpc_code: 'OK' })).toBe(0);
      expect(value(before, 'grpc_server_handling_seconds_count', unary(service))).toBe(0);
    }

    // v1beta1: an invalid spec -> one Fatal result.
    const fatal = await call('v1beta1', request('fatal', {}));
    expect(fatal.results.map((r) => r.severity)).toEqual([Severity.SEVERITY_FATAL]);
    // v1: a manual canary -> TrafficChanged.
    const routed = await call('v1', request('routed', { ...FN, stable: { version: '5' }, canary: { version: '6', weight: 10 } }));
    expect(routed.results.map((r) => r.reason)).toEqual(['TrafficChanged']);
    // v1: a rollout's first step -> RolloutStep + TrafficChanged, phase Progressing.
    const rollout = await call(
      'v1',
      request('rollout', { ...FN, rollout: { target: { version: '6' }, strategy: { preset: 'Canary10Percent5Minutes' } } }, { alias: LIVE_ALIAS }),
    );
    expect(rollout.results.map((r) => r.reason)).toEqual(['RolloutStep', 'TrafficChanged']);
    // v1: a versionRef not looked up yet -> VersionsResolved=False, LookupPending.
    const pending = await call('v1', request('pending', { ...FN, stable: { versionRef: { from: { name: 'missing' } } } }));
    expect(pending.conditions.find((c) => c.type === 'VersionsResolved')?.reason).toBe('LookupPending');

    const after = await scrape();
    const v1 = unary(SERVICE_V1);
    const v1beta1 = unary(SERVICE_V1BETA1);
    expect(value(after, 'grpc_server_started_total', v1)).toBe(3);
    expect(value(after, 'grpc_server_started_total', v1beta1)).toBe(1);
    expect(value(after, 'grpc_server_msg_received_total', v1)).toBe(3);
    expect(value(after, 'grpc_server_msg_sent_total', v1)).toBe(3);
    expect(value(after, 'grpc_server_msg_received_total', v1beta1)).toBe(1);
    expect(value(after, 'grpc_server_msg_sent_total', v1beta1)).toBe(1);
    // A Fatal result is still a successful RPC: Crossplane reads the result, not the status.
    expect(value(after, 'grpc_server_handled_total', { ...v1, grpc_code: 'OK' })).toBe(3);
    expect(value(after, 'grpc_server_handled_total', { ...v1beta1, grpc_code: 'OK' })).toBe(1);
    expect(after.filter((s) => s.name === 'grpc_server_handled_total' && s.labels['grpc_code'] !== 'OK')).toEqual([]);

    // The histogram: prometheus.DefBuckets, cumulative, +Inf == count.
    expect(value(after, 'grpc_server_handling_seconds_count', v1)).toBe(3);
    expect(value(after, 'grpc_server_handling_seconds_count', v1beta1)).toBe(1);
    expect(value(after, 'grpc_server_handling_seconds_bucket', { ...v1, le: '+Inf' })).toBe(3);
    const les = after.filter((s) => s.name === 'grpc_server_handling_seconds_bucket' && s.labels['grpc_service'] === SERVICE_V1).map((s) => s.labels['le']);
    expect(les).toEqual(['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    expect(value(after, 'grpc_server_handling_seconds_bucket', { ...v1, le: '10' })).toBe(3);
    const sum = value(after, 'grpc_server_handling_seconds_sum', v1);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(10);

    // Domain metrics.
    expect(value(after, 'lambda_canary_fatal_results_total')).toBe(1);
    expect(value(after, 'lambda_canary_traffic_changes_total', { reason: 'TrafficChanged' })).toBe(2);
    expect(value(after, 'lambda_canary_traffic_changes_total', { reason: 'RolloutStep' })).toBe(1);
    expect(value(after, 'lambda_canary_traffic_changes_total', { reason: 'FastRollback' })).toBe(0);
    expect(value(after, 'lambda_canary_rollout_phase_total', { phase: 'Progressing' })).toBe(1);
    for (const phase of ['Stable', 'Paused', 'Promoted', 'Aborted']) {
      expect(value(after, 'lambda_canary_rollout_phase_total', { phase })).toBe(0);
    }
    expect(value(after, 'lambda_canary_resolution_failures_total', { reason: 'LookupPending' })).toBe(1);
    expect(after.filter((s) => s.name === 'lambda_canary_resolution_failures_total')).toHaveLength(1);

    // CloudWatch metrics are reported with zeros before the first call.
    expect(value(after, 'lambda_canary_cloudwatch_calls_total', { api: 'GetMetricData', outcome: 'throttled' })).toBe(0);
    expect(value(after, 'lambda_canary_cloudwatch_call_seconds_count', { api: 'DescribeAlarms' })).toBe(0);

    // Node's default process metrics come along.
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(
        after.some((s) => s.name === name),
        name,
      ).toBe(true);
    }
  });

  it('counts CloudWatch calls by API and outcome, their durations and cache hits', async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.cloudwatch.call('DescribeAlarms', 'success', 0.02);
    metrics.cloudwatch.call('DescribeAlarms', 'throttled', 0.01);
    metrics.cloudwatch.call('GetMetricData', 'deadline', 3);
    metrics.cloudwatch.cacheHit();
    const text = await metrics.registry.metrics();
    expect(text).toContain('lambda_canary_cloudwatch_calls_total{api="DescribeAlarms",outcome="success"} 1');
    expect(text).toContain('lambda_canary_cloudwatch_calls_total{api="DescribeAlarms",outcome="throttled"} 1');
    expect(text).toContain('lambda_canary_cloudwatch_calls_total{api="GetMetricData",outcome="deadline"} 1');
    expect(text).toContain('lambda_canary_cloudwatch_call_seconds_count{api="DescribeAlarms"} 2');
    expect(text).toContain('lambda_canary_cloudwatch_call_seconds_bucket{le="5",api="GetMetricData"} 1');
    expect(text).toContain('lambda_canary_cloudwatch_cache_hits_total 1');
  });

  it('counts a Fatal from a throwing handler, and an RPC that fails as Internal', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const throwing: FunctionHandler = () => {
      throw new Error('boom');
    };
    const { call, scrape } = await start(metrics, { handler: throwing });
    const rsp = await call('v1', RunFunctionRequest.fromPartial({ meta: { tag: 't' } }));
    expect(rsp.results.map((r) => r.severity)).toEqual([Severity.SEVERITY_FATAL]);
    let samples = await scrape();
    expect(value(samples, 'grpc_server_handled_total', { ...unary(SERVICE_V1), grpc_code: 'OK' })).toBe(1);
    expect(value(samples, 'lambda_canary_fatal_results_total')).toBe(1);
    expect(samples.some((s) => s.name === 'process_cpu_seconds_total')).toBe(false);

    // The only path to a gRPC error: the per-call log line itself throws.
    const brokenLogger = {
      debug: () => {
        throw new Error('log sink gone');
      },
      error: () => undefined,
      child: () => brokenLogger,
    } as unknown as Logger;
    const other = createMetrics({ processMetrics: false });
    const broken = await start(other, { logger: brokenLogger, handler: (req) => to(req) });
    await expect(broken.call('v1beta1', RunFunctionRequest.fromPartial({ meta: { tag: 'x' } }))).rejects.toMatchObject({ code: 13 });
    samples = await broken.scrape();
    const v1beta1 = unary(SERVICE_V1BETA1);
    expect(value(samples, 'grpc_server_handled_total', { ...v1beta1, grpc_code: 'Internal' })).toBe(1);
    expect(value(samples, 'grpc_server_handled_total', { ...v1beta1, grpc_code: 'OK' })).toBe(0);
    expect(value(samples, 'grpc_server_msg_sent_total', v1beta1)).toBe(0);
    expect(value(samples, 'grpc_server_handling_seconds_count', v1beta1)).toBe(1);
  });

  it('counts request fields the decoder does not know, by message and field number, and answers as before', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const { call, callRaw, scrape } = await start(metrics);
    const req = request('drift', { ...FN, stable: { version: '5' }, canary: { version: '6', weight: 10 } });
    const known = Buffer.from(RunFunctionRequest.encode(req).finish());
    // RunFunctionRequest field 14 (a string) and field 15 (a varint), twice: what a newer protocol might add.
    const extra = Buffer.from([(14 << 3) | 2, 3, 0x6e, 0x65, 0x77, (15 << 3) | 0, 1]);
    const before = await scrape();
    expect(before.filter((s) => s.name === 'lambda_canary_unknown_wire_fields_total')).toEqual([]);

    const plain = await call('v1', req);
    const drifted = await callRaw('v1', Buffer.concat([known, extra, extra]));
    expect(drifted).toEqual(plain);
    const after = await scrape();
    expect(value(after, 'lambda_canary_unknown_wire_fields_total', { message: 'RunFunctionRequest', field: '14' })).toBe(2);
    expect(value(after, 'lambda_canary_unknown_wire_fields_total', { message: 'RunFunctionRequest', field: '15' })).toBe(2);
    expect(after.filter((s) => s.name === 'lambda_canary_unknown_wire_fields_total')).toHaveLength(2);

    await callRaw('v1beta1', Buffer.concat([known, extra]));
    expect(value(await scrape(), 'lambda_canary_unknown_wire_fields_total', { message: 'RunFunctionRequest', field: '14' })).toBe(3);
  });

  it(`labels at most ${MAX_UNKNOWN_FIELD_LABELS} unknown fields, then counts the rest as field="other"`, async () => {
    const metrics = createMetrics({ processMetrics: false });
    for (let field = 100; field < 100 + MAX_UNKNOWN_FIELD_LABELS + 10; field++) metrics.unknownFields.count('Resource', field);
    metrics.unknownFields.count('Resource', 100);
    metrics.unknownFields.count('State', 7);
    const text = await metrics.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('lambda_canary_unknown_wire_fields_total{'));
    expect(lines).toHaveLength(MAX_UNKNOWN_FIELD_LABELS + 2);
    expect(lines).toContain('lambda_canary_unknown_wire_fields_total{message="Resource",field="100"} 2');
    expect(lines).toContain('lambda_canary_unknown_wire_fields_total{message="Resource",field="other"} 10');
    expect(lines).toContain('lambda_canary_unknown_wire_fields_total{message="State",field="other"} 1');
    // Collecting again adds nothing new.
    expect((await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('lambda_canary_unknown_wire_fields_total{'))).toEqual(lines);
  });

  it('answers only GET /metrics, and closes promptly despite keep-alive scrapers', async () => {
    const endpoint = await serveMetrics('127.0.0.1:0', createMetrics({ processMetrics: false }));
    const base = `http://127.0.0.1:${endpoint.port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await (await fetch(`${base}/metrics?x=1`)).text()).toContain('# TYPE lambda_canary_fatal_results_total counter');
    await endpoint.close();
    await expect(fetch(`${base}/metrics`)).rejects.toThrow();
  });

  it('reports a taken port or a bad address as a rejection naming the address', async () => {
    const first = await serveMetrics('127.0.0.1:0', createMetrics({ processMetrics: false }));
    cleanups.push(() => first.close());
    await expect(serveMetrics(`127.0.0.1:${first.port}`, createMetrics({ processMetrics: false }))).rejects.toThrow(
      `binding the metrics server to 127.0.0.1:${first.port}`,
    );
    await expect(serveMetrics('localhost', createMetrics({ processMetrics: false }))).rejects.toThrow(/not host:port/);
  });

  describe('rollout analysis', () => {
    /** CloudWatch in memory: every version serves 1000 invocations, with these error rates; alarms in these states. Counts the calls that measured. */
    class FakeCloudWatch implements Measurer {
      errorRate: Record<string, number> = { '1': 0.001, '2': 0.001 };
      alarms: Record<string, 'OK' | 'ALARM'> = {};
      calls = 0;
      measure(queries: readonly MeasurementQuery[]): Promise<Measurements> {
        this.calls++;
        const out: Record<string, Measurements[string]> = {};
        for (const q of queries) {
          if (q.kind === 'alarms') {
            out[measurementKey(q)] = { kind: 'alarms', states: Object.fromEntries(q.alarmNames.map((n) => [n, this.alarms[n] ?? 'OK'])) };
            continue;
          }
          const values: Record<string, number | null> = {};
          for (const m of q.metrics) {
            const version = m.metric?.dimensions.find((d) => d.name === 'ExecutedVersion')?.value ?? '';
            const name = m.metric?.metricName;
            values[m.id] =
              name === 'Invocations' ? 1000 : name === 'Errors' ? Math.round(1000 * (this.errorRate[version] ?? 0)) : name === 'Duration' ? 100 : 7;
          }
          out[measurementKey(q)] = { kind: 'metrics', values };
        }
        return Promise.resolve(out);
      }
    }

    /** A rollout from version 1 to 2 (one 10 % step of `pause`, then 100 %) through the real server, measured by `cw`. */
    async function rollout(analysis: Json, pause = '2m'): Promise<{ sim: RolloutSim; cw: FakeCloudWatch; scrape: () => Promise<Sample[]> }> {
      const metrics = createMetrics({ processMetrics: false });
      const cw = new FakeCloudWatch();
      let clock = new Date(0);
      const { call, scrape } = await start(metrics, { now: () => clock, measurer: cw });
      const sim = new RolloutSim({
        spec: progressiveSpec({ target: '1', steps: [{ weight: 10, pause: { duration: pause } }], rollout: { analysis } }),
        driver: rpcDriver(
          (req) => call('v1', req),
          (now) => (clock = now),
        ),
      });
      await sim.tickAsync();
      sim.advance(60_000).setTarget('2');
      return { sim, cw, scrape };
    }
    const runs = (samples: Sample[]) =>
      Object.fromEntries(samples.filter((s) => s.name === 'lambda_canary_analysis_runs_total').map((s) => [s.labels['result'], s.value]));
    const failures = (samples: Sample[]) =>
      Object.fromEntries(samples.filter((s) => s.name === 'lambda_canary_analysis_check_failures_total').map((s) => [s.labels['check'], s.value]));
    const aborts = (samples: Sample[]) =>
      Object.fromEntries(samples.filter((s) => s.name === 'lambda_canary_analysis_aborts_total').map((s) => [s.labels['cause'], s.value]));
    const analysisOf = (t: Tick) => (t.rollout?.['analysis'] ?? {}) as Json;

    it('counts one run per measurement, the one that ends the step too (its record is reset), and none for calls that do not measure', async () => {
      const { sim, cw, scrape } = await rollout({ alarms: { names: ['orders-5xx'] }, errorRate: { max: 0.01 }, interval: '30s' });
      const zero = await scrape();
      expect(runs(zero)).toEqual({ Passing: 0, Failing: 0, Waiting: 0, Unreadable: 0, Unrecorded: 0 });
      expect(failures(zero)).toEqual({ alarm: 0, errorRate: 0, throttleRate: 0, duration: 0, custom: 0 });
      expect(aborts(zero)).toEqual({ alarm: 0, failureLimit: 0, unreadableFor: 0, tooFewInvocations: 0 });

      const ticks = await sim.runUntilAsync((t) => t.rollout?.phase === 'Promoted');
      // Measured while synced, and once more at the pause's end: that call moves on and its step's record starts over.
      const recorded = ticks.filter((t) => analysisOf(t)['lastMeasuredAt'] === t.at.toISOString()).length;
      expect(recorded).toBeGreaterThanOrEqual(4);
      const moved = ticks.find((t) => resultsWith(t, 'RolloutStep').length > 0 && t.rollout?.['step'] === 2)!;
      expect(analysisOf(moved)).not.toHaveProperty('lastMeasuredAt');
      expect(cw.calls).toBe(recorded + 1);
      // Calls in between (not due), and the same state delivered again, add nothing.
      await sim.nextAsync();
      const after = await scrape();
      expect(runs(after)).toEqual({ Passing: cw.calls, Failing: 0, Waiting: 0, Unreadable: 0, Unrecorded: 0 });
      expect(failures(after)).toEqual({ alarm: 0, errorRate: 0, throttleRate: 0, duration: 0, custom: 0 });
      expect(aborts(after)).toEqual({ alarm: 0, failureLimit: 0, unreadableFor: 0, tooFewInvocations: 0 });
      expect(value(after, 'lambda_canary_rollout_phase_total', { phase: 'Promoted' })).toBeGreaterThan(0);
    });

    it('counts failed checks by kind and an abort by cause: errorRate past failureLimit, then an alarm', async () => {
      const { sim, cw, scrape } = await rollout(
        {
          errorRate: { max: 0.01 },
          metrics: [{ name: 'orders', metric: { namespace: 'Shop', metricName: 'Orders', stat: 'Sum' }, max: 5 }],
          failureLimit: 1,
          interval: '30s',
        },
        '10m',
      );
      cw.errorRate['2'] = 0.05;
      const ticks = await sim.runUntilAsync((t) => t.rollout?.phase === 'Aborted');
      expect(ticks.flatMap((t) => resultsWith(t, 'AnalysisFailed'))).toHaveLength(1);
      let samples = await scrape();
      // Two measurements, each failing errorRate and the custom check (7 > 5); the second is one more than failureLimit allows.
      expect(runs(samples)).toMatchObject({ Failing: 2, Passing: 0 });
      expect(failures(samples)).toEqual({ alarm: 0, errorRate: 2, throttleRate: 0, duration: 0, custom: 2 });
      expect(aborts(samples)).toEqual({ alarm: 0, failureLimit: 1, unreadableFor: 0, tooFewInvocations: 0 });
      // Aborted: nothing measured any more.
      await sim.nextAsync();
      expect(runs(await scrape())).toMatchObject({ Failing: 2 });

      const alarmed = await rollout({ alarms: { names: ['orders-5xx', 'orders-latency'] }, interval: '30s' });
      alarmed.cw.alarms['orders-latency'] = 'ALARM';
      await alarmed.sim.runUntilAsync((t) => t.rollout?.phase === 'Aborted');
      samples = await alarmed.scrape();
      expect(runs(samples)).toMatchObject({ Failing: 1 });
      expect(failures(samples)).toMatchObject({ alarm: 1 });
      expect(aborts(samples)).toEqual({ alarm: 1, failureLimit: 0, unreadableFor: 0, tooFewInvocations: 0 });
    });

    it('counts Unreadable runs and the unreadableFor abort when the server has no measurer (as under crossplane render)', async () => {
      const metrics = createMetrics({ processMetrics: false });
      let clock = new Date(0);
      const { call, scrape } = await start(metrics, { now: () => clock });
      const sim = new RolloutSim({
        spec: progressiveSpec({
          target: '1',
          steps: [{ weight: 10, pause: { duration: '30m' } }],
          rollout: { analysis: { alarms: { names: ['a'] }, unreadableFor: '2m' } },
        }),
        driver: rpcDriver(
          (req) => call('v1', req),
          (now) => (clock = now),
        ),
      });
      await sim.tickAsync();
      sim.advance(60_000).setTarget('2');
      const ticks = await sim.runUntilAsync((t) => t.rollout?.phase === 'Aborted');
      const measured = ticks.filter((t) => analysisOf(t)['lastMeasuredAt'] === t.at.toISOString()).length;
      expect(ticks.flatMap((t) => resultsWith(t, 'AnalysisUnreadable')).length).toBe(measured - 1);
      const samples = await scrape();
      expect(runs(samples)).toEqual({ Passing: 0, Failing: 0, Waiting: 0, Unreadable: measured, Unrecorded: 0 });
      expect(aborts(samples)).toEqual({ alarm: 0, failureLimit: 0, unreadableFor: 1, tooFewInvocations: 0 });
      expect(failures(samples)).toMatchObject({ alarm: 0 });
    });

    it('counts no run for a custom handler (no planning time), or for a record recalled from an earlier call', async () => {
      const metrics = createMetrics({ processMetrics: false });
      const rollout = {
        phase: 'Progressing',
        analysis: { result: 'Failing', lastMeasuredAt: '2026-01-01T00:00:00.000Z', checks: [{ name: 'errorRate', passed: false }] },
      };
      const rsp = RunFunctionResponse.fromPartial({ desired: { composite: { resource: { status: { rollout } } } } });
      const at = new Date('2026-01-01T00:00:00Z');
      const observed = (lastMeasuredAt: string | undefined) =>
        RunFunctionRequest.fromPartial({ observed: { composite: { resource: { status: { rollout: { analysis: { lastMeasuredAt } } } } } } });
      metrics.observeResponse(rsp);
      metrics.observeResponse(rsp, { request: observed(undefined) });
      // The same record seen again at the same instant (a fixed test clock): measured by the earlier call.
      metrics.observeResponse(rsp, { request: observed('2026-01-01T00:00:00.000Z'), plannedAt: at });
      // A record from an earlier call, recalled from the Alias after status was lost.
      metrics.observeResponse(rsp, { request: observed(undefined), plannedAt: new Date('2026-01-01T00:01:00Z') });
      expect(await metrics.registry.metrics()).toContain('lambda_canary_analysis_runs_total{result="Failing"} 0');
      // Measured in this call.
      metrics.observeResponse(rsp, { request: observed(undefined), plannedAt: at });
      const text = await metrics.registry.metrics();
      expect(text).toContain('lambda_canary_analysis_runs_total{result="Failing"} 1');
      expect(text).toContain('lambda_canary_analysis_check_failures_total{check="errorRate"} 1');
    });
  });

  it('names gRPC codes as Go does', () => {
    expect([0, 1, 8, 13, 16].map(grpcCodeName)).toEqual(['OK', 'Canceled', 'ResourceExhausted', 'Internal', 'Unauthenticated']);
    expect(grpcCodeName(42)).toBe('Code(42)');
  });
});
