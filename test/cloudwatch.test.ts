// The CloudWatch adapter (function/aws/cloudwatch.ts) over real HTTP on
// loopback: moto's CloudWatch for alarms and metrics, and tiny loopback
// servers the tests start (and stop) for what moto cannot show: a server that
// never answers, throttling, and how many calls are in flight.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchClient, PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMeasurer, isThrottling, type CloudWatchApi, type CloudWatchObserver } from '../function/aws/cloudwatch.js';
import { measurementKey, type MeasurementQuery } from '../function/core/analysis/measurements.js';
import { putErrorsAlarm, startMotoServer, type MotoServer } from './support/moto-server.js';
import { listenOnLoopback } from './support/server.js';

const REGION = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const soon = (ms = 10_000) => Date.now() + ms;

interface FakeServer {
  endpoint: string;
  calls: { target: string; body: any }[];
  maxInFlight: number;
  close(): Promise<void>;
}

/** A loopback HTTP server speaking (enough of) CloudWatch's JSON protocol; `answer` decides each reply. */
async function fakeCloudWatch(answer: (target: string, body: any, req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<FakeServer> {
  let inFlight = 0;
  const fake: FakeServer = { endpoint: '', calls: [], maxInFlight: 0, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString()) : {};
      fake.calls.push({ target, body });
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      res.on('close', () => inFlight--);
      void answer(target, body, req, res);
    });
  });
  Object.assign(fake, await listenOnLoopback(server));
  return fake;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', ...headers }).end(JSON.stringify(body));
}

function throttle(res: ServerResponse) {
  json(res, 400, { __type: 'com.amazon.coral.availability#ThrottlingException', message: 'Rate exceeded' }, { 'x-amzn-query-error': 'Throttling;Sender' });
}

function recorder(): CloudWatchObserver & { calls: string[]; hits: number } {
  const o = {
    calls: [] as string[],
    hits: 0,
    call: (api: string, outcome: string) => void o.calls.push(`${api}:${outcome}`),
    cacheHit: () => void o.hits++,
  };
  return o;
}

const alarms = (...alarmNames: string[]): MeasurementQuery => ({ kind: 'alarms', region: REGION, alarmNames });

describe('CloudWatchMeasurer against moto', () => {
  let moto: MotoServer | undefined;
  let cw: CloudWatchClient;
  const t0 = Date.now();
  const dims = (version: string) => [
    { Name: 'FunctionName', Value: 'app' },
    { Name: 'Resource', Value: 'app:live' },
    { Name: 'ExecutedVersion', Value: version },
  ];
  const metric = (name: string, version: string, stat = 'Sum') => ({
    namespace: 'AWS/Lambda',
    metricName: name,
    dimensions: dims(version).map((d) => ({ name: d.Name, value: d.Value })),
    stat,
    periodSeconds: 60,
  });
  const window = { start: new Date(t0 - 10 * 60_000).toISOString(), end: new Date(t0 + 60_000).toISOString() };

  beforeAll(async () => {
    moto = await startMotoServer();
    cw = new CloudWatchClient({ endpoint: moto.endpoint, region: REGION, credentials });
    for (const [name, state] of [
      ['app-errors', 'ALARM'],
      ['app-latency', 'OK'],
      // moto starts a new alarm in OK (AWS: INSUFFICIENT_DATA), so the test sets that state too.
      ['app-new', 'INSUFFICIENT_DATA'],
    ] as const) {
      await putErrorsAlarm(cw, name);
      await cw.send(new SetAlarmStateCommand({ AlarmName: name, StateValue: state, StateReason: 'set by the test' }));
    }
    const at = (minutesAgo: number) => new Date(t0 - minutesAgo * 60_000);
    await cw.send(
      new PutMetricDataCommand({
        Namespace: 'AWS/Lambda',
        MetricData: [
          { MetricName: 'Invocations', Dimensions: dims('2'), Value: 10, Timestamp: at(3) },
          { MetricName: 'Invocations', Dimensions: dims('2'), Value: 5, Timestamp: at(2) },
          { MetricName: 'Errors', Dimensions: dims('2'), Value: 1, Timestamp: at(2) },
          { MetricName: 'Invocations', Dimensions: dims('1'), Value: 100, Timestamp: at(2) },
          { MetricName: 'Duration', Dimensions: dims('2'), Value: 120, Timestamp: at(3) },
          { MetricName: 'Duration', Dimensions: dims('2'), Value: 80, Timestamp: at(2) },
        ],
      }),
    );
  }, 60_000);
  afterAll(async () => {
    cw?.destroy();
    await moto?.stop();
  });

  it('reads alarm states set with SetAlarmState (ALARM, OK, INSUFFICIENT_DATA) and MISSING for an unknown name', async () => {
    const m = new CloudWatchMeasurer({ endpoint: moto!.endpoint });
    const q = alarms('app-errors', 'app-latency', 'app-new', 'no-such-alarm');
    const out = await m.measure([q], { deadline: soon(), credentials });
    expect(out[measurementKey(q)]).toEqual({
      kind: 'alarms',
      states: { 'app-errors': 'ALARM', 'app-latency': 'OK', 'app-new': 'INSUFFICIENT_DATA', 'no-such-alarm': 'MISSING' },
    });
    m.close();
  });

  it('asks DescribeAlarms for at most 100 names per call', async () => {
    const obs = recorder();
    const m = new CloudWatchMeasurer({ endpoint: moto!.endpoint, observer: obs });
    const names = ['app-errors', ...Array.from({ length: 150 }, (_, i) => `missing-${i}`)];
    const out = await m.measure([alarms(...names)], { deadline: soon(), credentials });
    const r = out[measurementKey(alarms(...names))];
    expect(r?.kind).toBe('alarms');
    if (r?.kind === 'alarms') {
      expect(r.states['app-errors']).toBe('ALARM');
      expect(r.states['missing-149']).toBe('MISSING');
    }
    expect(obs.calls).toEqual(['DescribeAlarms:success', 'DescribeAlarms:success']);
    m.close();
  });

  it('sums per-version Lambda counts over the window, takes the maximum of other stats, null without datapoints', async () => {
    const m = new CloudWatchMeasurer({ endpoint: moto!.endpoint });
    const q: MeasurementQuery = {
      kind: 'metrics',
      region: REGION,
      ...window,
      metrics: [
        { id: 'inv2', metric: metric('Invocations', '2') },
        { id: 'err2', metric: metric('Errors', '2') },
        { id: 'inv1', metric: metric('Invocations', '1') },
        { id: 'thr2', metric: metric('Throttles', '2') },
        { id: 'dur2', metric: metric('Duration', '2', 'Average') },
      ],
    };
    const out = await m.measure([q], { deadline: soon(), credentials });
    expect(out[measurementKey(q)]).toEqual({ kind: 'metrics', values: { inv2: 15, err2: 1, inv1: 100, thr2: null, dur2: 120 } });
    m.close();
  });

  it('moto accepts a metric-math expression but returns no values for it (so expressions are tested with a fake client)', async () => {
    const m = new CloudWatchMeasurer({ endpoint: moto!.endpoint });
    const q: MeasurementQuery = {
      kind: 'metrics',
      region: REGION,
      ...window,
      metrics: [
        { id: 'inv', metric: metric('Invocations', '2') },
        { id: 'err', metric: metric('Errors', '2') },
        { id: 'rate', expression: 'err / inv' },
      ],
    };
    const out = await m.measure([q], { deadline: soon(), credentials });
    expect(out[measurementKey(q)]).toEqual({ kind: 'metrics', values: { inv: 15, err: 1, rate: null } });
    m.close();
  });

  it('retries throttling with backoff and then answers (two Throttling replies, then moto)', async () => {
    let throttled = 0;
    const proxy = await fakeCloudWatch(async (_target, body, req, res) => {
      if (throttled < 2) {
        throttled++;
        throttle(res);
        return;
      }
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'x-amz-target', 'authorization', 'x-amz-date', 'x-amzn-query-mode']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const r = await fetch(moto!.endpoint, { method: 'POST', headers, body: JSON.stringify(body) });
      res.writeHead(r.status, Object.fromEntries(r.headers)).end(Buffer.from(await r.arrayBuffer()));
    });
    try {
      const obs = recorder();
      const m = new CloudWatchMeasurer({ endpoint: proxy.endpoint, observer: obs, backoffBaseMs: 20 });
      const q = alarms('app-errors');
      const out = await m.measure([q], { deadline: soon(), credentials });
      expect(out[measurementKey(q)]).toEqual({ kind: 'alarms', states: { 'app-errors': 'ALARM' } });
      expect(obs.calls).toEqual(['DescribeAlarms:throttled', 'DescribeAlarms:throttled', 'DescribeAlarms:success']);
      m.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('CloudWatchMeasurer against loopback fakes', () => {
  it('settles by the deadline with an error saying so when CloudWatch never answers', async () => {
    const silent = await fakeCloudWatch(() => {
      // Never answers.
    });
    try {
      const obs = recorder();
      const m = new CloudWatchMeasurer({ endpoint: silent.endpoint, observer: obs });
      const q = alarms('a');
      const started = Date.now();
      const out = await m.measure([q], { deadline: Date.now() + 300, credentials });
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(1500);
      expect(out[measurementKey(q)]).toMatchObject({ kind: 'error', message: expect.stringMatching(/DescribeAlarms .* deadline passed/) });
      expect(silent.calls).toHaveLength(1);
      // The aborted call is reported once its rejection arrives.
      await new Promise((r) => setTimeout(r, 50));
      expect(obs.calls).toEqual(['DescribeAlarms:deadline']);
      m.close();
    } finally {
      await silent.close();
    }
  });

  it('gives up on throttling with an error result when retries run out, and never throws', async () => {
    const fake = await fakeCloudWatch((_t, _b, _req, res) => throttle(res));
    try {
      const m = new CloudWatchMeasurer({ endpoint: fake.endpoint, maxAttempts: 3, backoffBaseMs: 5 });
      const q = alarms('a');
      const out = await m.measure([q], { deadline: soon(), credentials });
      expect(out[measurementKey(q)]).toMatchObject({ kind: 'error', message: expect.stringMatching(/throttled by CloudWatch 3 time/) });
      expect(fake.calls).toHaveLength(3);
      m.close();
    } finally {
      await fake.close();
    }
  });

  it('does not retry past the deadline: a throttled call whose backoff would outlast it ends with the deadline', async () => {
    const fake = await fakeCloudWatch((_t, _b, _req, res) => throttle(res));
    try {
      const m = new CloudWatchMeasurer({ endpoint: fake.endpoint, backoffBaseMs: 5_000, backoffCapMs: 5_000, random: () => 0.99 });
      const q = alarms('a');
      const started = Date.now();
      const out = await m.measure([q], { deadline: Date.now() + 300, credentials });
      expect(Date.now() - started).toBeLessThan(1500);
      expect(out[measurementKey(q)]).toMatchObject({ kind: 'error', message: expect.stringMatching(/deadline passed/) });
      expect(fake.calls).toHaveLength(1);
      m.close();
    } finally {
      await fake.close();
    }
  });

  it('answers two identical queries (in one call and across calls) with one CloudWatch call, but not across credentials', async () => {
    const fake = await fakeCloudWatch((_t, body, _req, res) => {
      setTimeout(
        () => json(res, 200, { MetricAlarms: (body.AlarmNames as string[]).map((n) => ({ AlarmName: n, StateValue: 'OK' })), CompositeAlarms: [] }),
        30,
      );
    });
    try {
      const obs = recorder();
      const m = new CloudWatchMeasurer({ endpoint: fake.endpoint, observer: obs });
      const q = alarms('a', 'b');
      const [x, y] = await Promise.all([
        m.measure([q, { ...q }], { deadline: soon(), credentials }),
        m.measure([{ kind: 'alarms', alarmNames: ['a', 'b'], region: REGION }], { deadline: soon(), credentials }),
      ]);
      const z = await m.measure([q], { deadline: soon(), credentials });
      expect(x).toEqual(y);
      expect(z).toEqual(x);
      expect(fake.calls).toHaveLength(1);
      expect(obs.hits).toBe(2);
      await m.measure([q], { deadline: soon(), credentials: { accessKeyId: 'other', secretAccessKey: 'other' } });
      expect(fake.calls).toHaveLength(2);
      m.close();
    } finally {
      await fake.close();
    }
  });

  it('reuses an answer only for the TTL, and never reuses an error', async () => {
    let fail = true;
    const fake = await fakeCloudWatch((_t, _b, _req, res) => {
      if (fail) json(res, 400, { __type: 'InvalidParameterValue', message: 'nope' }, { 'x-amzn-query-error': 'InvalidParameterValue;Sender' });
      else json(res, 200, { MetricAlarms: [], CompositeAlarms: [] });
    });
    try {
      let now = Date.now();
      const m = new CloudWatchMeasurer({ endpoint: fake.endpoint, cacheTtlMs: 1_000, now: () => now });
      const q = alarms('a');
      const first = await m.measure([q], { deadline: now + 10_000, credentials });
      expect(first[measurementKey(q)]).toMatchObject({ kind: 'error', message: expect.stringMatching(/^measuring CloudWatch \(DescribeAlarms .*nope/) });
      fail = false;
      await m.measure([q], { deadline: now + 10_000, credentials });
      await m.measure([q], { deadline: now + 10_000, credentials });
      expect(fake.calls).toHaveLength(2);
      now += 1_001;
      await m.measure([q], { deadline: now + 10_000, credentials });
      expect(fake.calls).toHaveLength(3);
      m.close();
    } finally {
      await fake.close();
    }
  });

  it('keeps at most maxConcurrency calls in flight across all callers', async () => {
    const fake = await fakeCloudWatch((_t, _b, _req, res) => {
      setTimeout(() => json(res, 200, { MetricAlarms: [], CompositeAlarms: [] }), 40);
    });
    try {
      const m = new CloudWatchMeasurer({ endpoint: fake.endpoint, maxConcurrency: 2 });
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => m.measure([alarms(`x${i}`)], { deadline: soon(), credentials })));
      expect(fake.calls).toHaveLength(8);
      expect(fake.maxInFlight).toBe(2);
      for (const [i, r] of results.entries()) expect(r[measurementKey(alarms(`x${i}`))]).toEqual({ kind: 'alarms', states: { [`x${i}`]: 'MISSING' } });
      m.close();
    } finally {
      await fake.close();
    }
  });
});

describe('CloudWatchMeasurer with a fake client (what moto cannot answer)', () => {
  const fakeApi = (pages: Record<string, number[]>[], extra: Partial<CloudWatchApi> = {}): CloudWatchApi & { inputs: any[] } => {
    const inputs: any[] = [];
    return {
      inputs,
      describeAlarms: () =>
        Promise.resolve({ $metadata: {}, MetricAlarms: [{ AlarmName: 'm', StateValue: 'OK' }], CompositeAlarms: [{ AlarmName: 'c', StateValue: 'ALARM' }] }),
      getMetricData: (input) => {
        inputs.push(input);
        const page = inputs.length - 1;
        return Promise.resolve({
          $metadata: {},
          MetricDataResults: Object.entries(pages[page] ?? {}).map(([Id, Values]) => ({ Id, Values, StatusCode: 'Complete' as const })),
          ...(page + 1 < pages.length ? { NextToken: `t${page + 1}` } : {}),
        });
      },
      ...extra,
    };
  };
  const q: MeasurementQuery = {
    kind: 'metrics',
    region: 'eu-west-1',
    start: '2026-12-01T10:00:00Z',
    end: '2026-12-01T10:10:00Z',
    metrics: [
      { id: 'inv', metric: { namespace: 'AWS/Lambda', metricName: 'Invocations', dimensions: [], stat: 'Sum', periodSeconds: 60 } },
      { id: 'p99', metric: { namespace: 'AWS/Lambda', metricName: 'Duration', dimensions: [], stat: 'p99', periodSeconds: 60 } },
      { id: 'rate', expression: 'errors / inv' },
    ],
  };

  it('sends Expression and MetricStat queries with ReturnData, pages through NextToken, sums counts and takes the maximum otherwise', async () => {
    const api = fakeApi([
      { inv: [1, 2], rate: [0.1, 0.3] },
      { inv: [4], p99: [250, 900], rate: [0.2] },
    ]);
    const m = new CloudWatchMeasurer({ apiFor: () => api });
    const out = await m.measure([q], { deadline: soon() });
    expect(out[measurementKey(q)]).toEqual({ kind: 'metrics', values: { inv: 7, p99: 900, rate: 0.3 } });
    expect(api.inputs).toHaveLength(2);
    expect(api.inputs[0]).toMatchObject({ ScanBy: 'TimestampAscending', StartTime: new Date(q.start), EndTime: new Date(q.end) });
    expect(api.inputs[0].NextToken).toBeUndefined();
    expect(api.inputs[1].NextToken).toBe('t1');
    expect(api.inputs[0].MetricDataQueries).toEqual([
      { Id: 'inv', ReturnData: true, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [] }, Period: 60, Stat: 'Sum' } },
      { Id: 'p99', ReturnData: true, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Duration', Dimensions: [] }, Period: 60, Stat: 'p99' } },
      { Id: 'rate', ReturnData: true, Expression: 'errors / inv' },
    ]);
  });

  it('reads composite alarms as well as metric alarms, and builds one client per region and credentials', async () => {
    const made: string[] = [];
    const m = new CloudWatchMeasurer({
      apiFor: (region, creds) => {
        made.push(`${region}/${creds?.accessKeyId ?? 'default'}`);
        return fakeApi([]);
      },
    });
    const a: MeasurementQuery = { kind: 'alarms', region: 'eu-west-1', alarmNames: ['m', 'c', 'x'] };
    const b: MeasurementQuery = { kind: 'alarms', region: undefined, alarmNames: ['m'] };
    const out = await m.measure([a, b], { deadline: soon() });
    expect(out[measurementKey(a)]).toEqual({ kind: 'alarms', states: { m: 'OK', c: 'ALARM', x: 'MISSING' } });
    await m.measure([{ ...a, alarmNames: ['c'] }], { deadline: soon(), credentials });
    expect(made.sort()).toEqual(['eu-west-1/default', 'eu-west-1/testing', 'undefined/default']);
  });

  it('turns one failing query into its error result and still answers the others', async () => {
    const m = new CloudWatchMeasurer({
      apiFor: () =>
        fakeApi([{ inv: [3] }], { describeAlarms: () => Promise.reject(Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' })) }),
    });
    const a: MeasurementQuery = { kind: 'alarms', region: 'eu-west-1', alarmNames: ['m'] };
    const out = await m.measure([a, q], { deadline: soon() });
    expect(out[measurementKey(a)]).toEqual({
      kind: 'error',
      message: 'measuring CloudWatch (DescribeAlarms for 1 alarm(s) in eu-west-1): AccessDenied: User is not authorized',
    });
    expect(out[measurementKey(q)]).toEqual({ kind: 'metrics', values: { inv: 3, p99: null, rate: null } });
  });

  it('reports a Forbidden metric and a bad window as errors of that query', async () => {
    const forbidden: CloudWatchApi = {
      describeAlarms: () => Promise.reject(new Error('unused')),
      getMetricData: () =>
        Promise.resolve({ $metadata: {}, MetricDataResults: [{ Id: 'inv', StatusCode: 'Forbidden', Messages: [{ Code: 'Forbidden', Value: 'no access' }] }] }),
    };
    const m = new CloudWatchMeasurer({ apiFor: () => forbidden });
    const bad: MeasurementQuery = { ...q, start: 'yesterday' };
    const out = await m.measure([q, bad], { deadline: soon() });
    expect(out[measurementKey(q)]).toMatchObject({ kind: 'error', message: expect.stringContaining('Forbidden for metric "inv": Forbidden no access') });
    expect(out[measurementKey(bad)]).toMatchObject({ kind: 'error', message: expect.stringContaining('is not two RFC 3339 times') });
  });

  it('answers nothing and calls nothing for an empty query list, and a passed deadline gives error results without a call', async () => {
    let calls = 0;
    const m = new CloudWatchMeasurer({ apiFor: () => (calls++, fakeApi([])) });
    expect(await m.measure([], { deadline: soon() })).toEqual({});
    const a: MeasurementQuery = { kind: 'alarms', region: 'eu-west-1', alarmNames: ['m'] };
    const out = await m.measure([a], { deadline: Date.now() - 1 });
    expect(out[measurementKey(a)]).toMatchObject({ kind: 'error', message: expect.stringContaining('deadline passed') });
    expect(calls).toBe(0);
  });

  it('recognises throttling as the SDK reports it', () => {
    expect(isThrottling(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }))).toBe(false);
  });
});
