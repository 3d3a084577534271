// The adapter that answers the planner's MeasurementQuery list
// (core/analysis/measurements.ts) from CloudWatch: DescribeAlarms for alarm
// states, GetMetricData for numbers. One instance per process, shared by every
// XR's call, so that its limiter bounds the whole function's concurrency and
// its cache answers the same query from many XRs once.
//
// It never throws for a query: anything that goes wrong (credentials, a
// region, an AWS error, throttling after its retries, the call's deadline)
// is that query's { kind: 'error' } result, and measure() settles by the
// deadline whatever CloudWatch does.
import { createHash } from 'node:crypto';
import type {
  DescribeAlarmsCommandInput,
  DescribeAlarmsCommandOutput,
  GetMetricDataCommandInput,
  GetMetricDataCommandOutput,
  MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { measurementKey, type AlarmState, type MeasurementQuery, type MeasurementResult, type Measurements } from '../core/analysis/measurements.js';

export const DEFAULT_DEADLINE_MS = 3_000;
export const DEFAULT_MAX_CONCURRENCY = 4;
export const DEFAULT_CACHE_TTL_MS = 30_000;
/** Attempts per CloudWatch call when it answers with throttling (the first one included). */
export const DEFAULT_MAX_ATTEMPTS = 4;
/** DescribeAlarms takes at most 100 AlarmNames per call. */
export const ALARM_NAMES_PER_CALL = 100;
/** GetMetricData takes at most 500 MetricDataQueries per call. */
export const METRIC_QUERIES_PER_CALL = 500;
/** A ceiling on result-cache entries, so that many distinct queries cannot grow memory without bound. */
const MAX_CACHE_ENTRIES = 10_000;
/** A ceiling on SDK clients (one per region and credential identity). */
const MAX_CLIENTS = 32;
/** Stat names whose datapoints are counts: the window's value is their sum. */
const SUMMED_STATS: ReadonlySet<string> = new Set(['Sum', 'SampleCount']);
/** The error names and codes AWS throttles with. */
const THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
]);

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface MeasureOptions {
  /** Epoch milliseconds: measure() settles by then, whatever CloudWatch does. */
  deadline: number;
  /** Static credentials from the pipeline step's Secret; unset: the SDK's default chain (IRSA, EKS Pod Identity, env). */
  credentials?: AwsCredentials;
}

/** What the handler needs of a measurer (CloudWatchMeasurer, or a fake in tests). */
export interface Measurer {
  measure(queries: readonly MeasurementQuery[], opts: MeasureOptions): Promise<Measurements>;
}

export type CloudWatchApiName = 'DescribeAlarms' | 'GetMetricData';
/** success; throttled (a throttling answer, retried or not); error (any other failure); deadline (aborted by the deadline). */
export type CallOutcome = 'success' | 'throttled' | 'error' | 'deadline';

/** Where the measurer reports what it did (server/metrics.ts turns it into Prometheus metrics). Must not throw. */
export interface CloudWatchObserver {
  /** One HTTP call to CloudWatch (each attempt and each page counts), with its duration. */
  call(api: CloudWatchApiName, outcome: CallOutcome, seconds: number): void;
  /** A query answered from the cache (or joined to the identical query already in flight). */
  cacheHit(): void;
}

/** The two CloudWatch operations, as the measurer calls them; a fake stands in for them in unit tests. */
export interface CloudWatchApi {
  describeAlarms(input: DescribeAlarmsCommandInput, signal: AbortSignal): Promise<DescribeAlarmsCommandOutput>;
  getMetricData(input: GetMetricDataCommandInput, signal: AbortSignal): Promise<GetMetricDataCommandOutput>;
  destroy?(): void;
}

export interface CloudWatchMeasurerOptions {
  /** CloudWatch calls in flight at once, across all XRs (default 4). */
  maxConcurrency?: number;
  /** How long an answered query is reused, in ms (default 30 s; 0 turns the cache off). */
  cacheTtlMs?: number;
  /** Attempts per call when throttled, the first included (default 4). */
  maxAttempts?: number;
  /** Backoff: the first retry waits up to this many ms, doubling each time (full jitter; default 100). */
  backoffBaseMs?: number;
  /** Backoff ceiling per retry in ms (default 1000). */
  backoffCapMs?: number;
  /** FOR TESTS ONLY: send every call to this URL (moto, a fake server) instead of CloudWatch's regional endpoint. */
  endpoint?: string;
  observer?: CloudWatchObserver;
  /** Epoch ms clock (tests). */
  now?: () => number;
  /** Jitter source in [0, 1) (tests). */
  random?: () => number;
  /** Builds the API for a region and credentials; defaults to the AWS SDK's CloudWatchClient. */
  apiFor?: (region: string | undefined, credentials: AwsCredentials | undefined) => CloudWatchApi;
}

type Sdk = typeof import('./cloudwatch-sdk.js');
let sdk: Promise<Sdk> | undefined;
/**
 * The SDK is loaded on the first CloudWatch call, not at startup: loading it
 * takes about 190 ms from node_modules, and a function whose LambdaCanaries
 * use no analysis never needs it. In the bundle it is a chunk of its own
 * (cloudwatch-sdk.ts), so such a function does not hold its code either.
 */
const loadSdk = (): Promise<Sdk> => (sdk ??= import('./cloudwatch-sdk.js'));

/** The AWS SDK client as a CloudWatchApi. Retries are ours (bounded by the deadline), so the SDK makes one attempt. */
export function sdkCloudWatchApi(region: string | undefined, credentials: AwsCredentials | undefined, endpoint?: string): CloudWatchApi {
  let made: Promise<{ mod: Sdk; client: InstanceType<Sdk['CloudWatchClient']> }> | undefined;
  const client = () =>
    (made ??= loadSdk().then((mod) => ({
      mod,
      client: new mod.CloudWatchClient({
        maxAttempts: 1,
        ...(region !== undefined ? { region } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
      }),
    })));
  return {
    describeAlarms: async (input, signal) => {
      const { mod, client: c } = await client();
      return c.send(new mod.DescribeAlarmsCommand(input), { abortSignal: signal });
    },
    getMetricData: async (input, signal) => {
      const { mod, client: c } = await client();
      return c.send(new mod.GetMetricDataCommand(input), { abortSignal: signal });
    },
    destroy: () => void made?.then(({ client: c }) => c.destroy()),
  };
}

/** Whether an SDK error is CloudWatch (or any AWS front door) refusing for rate: retried with backoff. */
export function isThrottling(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return THROTTLING_ERRORS.has(String(e.name)) || THROTTLING_ERRORS.has(String(e.Code)) || e.$metadata?.httpStatusCode === 429;
}

/** A FIFO semaphore; a waiter whose deadline passes leaves the queue. */
class Limiter {
  private active = 0;
  private readonly waiting: { grant: () => void }[] = [];
  constructor(private readonly max: number) {}

  /** Resolves with a release function, or with undefined once `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter; active stays the same.
      if (next !== undefined) next.grant();
      else this.active--;
    };
  }
}

class DeadlineError extends Error {}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name !== 'Error' && !err.message.startsWith(err.name) ? `${err.name}: ${err.message}` : err.message;
  return String(err);
}

function regionName(region: string | undefined): string {
  return region ?? 'the default region';
}

/** A short, non-reversible name for credentials: cache and client keys never hold a secret. */
function identityOf(credentials: AwsCredentials | undefined): string {
  if (credentials === undefined) return 'default-chain';
  const h = createHash('sha256');
  h.update(credentials.accessKeyId)
    .update('\0')
    .update(credentials.secretAccessKey)
    .update('\0')
    .update(credentials.sessionToken ?? '');
  return `${credentials.accessKeyId}:${h.digest('hex').slice(0, 16)}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class CloudWatchMeasurer implements Measurer {
  private readonly limiter: Limiter;
  private readonly cacheTtlMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly observer: CloudWatchObserver | undefined;
  private readonly apiFor: (region: string | undefined, credentials: AwsCredentials | undefined) => CloudWatchApi;
  private readonly clients = new Map<string, CloudWatchApi>();
  /** Answered (and in-flight) queries by cache key; in-flight entries let identical queries share one call. */
  private readonly cache = new Map<string, { expires: number; result: Promise<MeasurementResult> }>();

  constructor(opts: CloudWatchMeasurerOptions = {}) {
    const maxConcurrency = opts.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new Error(`configuring the CloudWatch measurer: maxConcurrency must be a whole number ≥ 1, not ${maxConcurrency}`);
    }
    this.limiter = new Limiter(maxConcurrency);
    this.cacheTtlMs = opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoffBaseMs = opts.backoffBaseMs ?? 100;
    this.backoffCapMs = opts.backoffCapMs ?? 1_000;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.observer = opts.observer;
    const endpoint = opts.endpoint;
    this.apiFor = opts.apiFor ?? ((region, credentials) => sdkCloudWatchApi(region, credentials, endpoint));
  }

  /** Answers every query by its measurementKey, by the deadline; never rejects. */
  async measure(queries: readonly MeasurementQuery[], opts: MeasureOptions): Promise<Measurements> {
    const out: Record<string, MeasurementResult> = {};
    const unique = new Map<string, MeasurementQuery>();
    for (const q of queries) unique.set(measurementKey(q), q);
    if (unique.size === 0) return out;
    const remaining = opts.deadline - this.now();
    const controller = new AbortController();
    // Already past: abort now, so that no call starts (a 0 ms timer would fire only after they had).
    if (remaining <= 0) controller.abort(new DeadlineError('deadline'));
    const timer = setTimeout(() => controller.abort(new DeadlineError('deadline')), Math.max(0, remaining));
    try {
      const identity = identityOf(opts.credentials);
      await Promise.all(
        [...unique].map(async ([key, q]) => {
          out[key] = await this.answer(key, q, identity, opts, controller.signal);
        }),
      );
    } finally {
      clearTimeout(timer);
    }
    return out;
  }

  /** Drops the SDK clients (their sockets); the measurer stays usable and makes new ones. */
  close(): void {
    for (const c of this.clients.values()) c.destroy?.();
    this.clients.clear();
  }

  private async answer(key: string, q: MeasurementQuery, identity: string, opts: MeasureOptions, signal: AbortSignal): Promise<MeasurementResult> {
    const what =
      q.kind === 'alarms'
        ? `DescribeAlarms for ${q.alarmNames.length} alarm(s) in ${regionName(q.region)}`
        : `GetMetricData for ${q.metrics.length} metric(s) in ${regionName(q.region)}`;
    const deadlinePassed = (): MeasurementResult => ({
      kind: 'error',
      message: `measuring CloudWatch (${what}): the call's deadline passed before CloudWatch answered; the measurement is retried on a later call`,
    });
    if (signal.aborted) return deadlinePassed();
    const cacheKey = `${identity}\0${key}`;
    const now = this.now();
    let entry = this.cache.get(cacheKey);
    if (entry !== undefined && entry.expires > now) {
      this.observer?.cacheHit();
    } else {
      entry = { expires: Number.POSITIVE_INFINITY, result: this.run(q, opts.credentials, signal, what) };
      const stored = entry;
      if (this.cacheTtlMs > 0) {
        this.evictIfFull(now);
        this.cache.set(cacheKey, stored);
        void stored.result.then((r) => {
          // Only answers are reused: an error (the deadline, throttling, AWS) is asked again next time.
          if (r.kind === 'error') {
            if (this.cache.get(cacheKey) === stored) this.cache.delete(cacheKey);
          } else stored.expires = this.now() + this.cacheTtlMs;
        });
      }
    }
    // A joined in-flight query still settles by this caller's deadline.
    const aborted = new Promise<MeasurementResult>((resolve) => {
      if (signal.aborted) resolve(deadlinePassed());
      signal.addEventListener('abort', () => resolve(deadlinePassed()), { once: true });
    });
    return Promise.race([entry.result, aborted]);
  }

  private evictIfFull(now: number): void {
    if (this.cache.size < MAX_CACHE_ENTRIES) return;
    for (const [k, e] of this.cache) if (e.expires <= now) this.cache.delete(k);
    // Still full: drop the oldest (Map keeps insertion order).
    while (this.cache.size >= MAX_CACHE_ENTRIES) {
      const first = this.cache.keys().next();
      if (first.done === true) break;
      this.cache.delete(first.value);
    }
  }

  private api(region: string | undefined, credentials: AwsCredentials | undefined): CloudWatchApi {
    const key = `${region ?? ''}\0${identityOf(credentials)}`;
    let api = this.clients.get(key);
    if (api === undefined) {
      if (this.clients.size >= MAX_CLIENTS) {
        const [oldestKey, oldest] = this.clients.entries().next().value!;
        oldest.destroy?.();
        this.clients.delete(oldestKey);
      }
      api = this.apiFor(region, credentials);
      this.clients.set(key, api);
    }
    return api;
  }

  private async run(q: MeasurementQuery, credentials: AwsCredentials | undefined, signal: AbortSignal, what: string): Promise<MeasurementResult> {
    try {
      const api = this.api(q.region, credentials);
      return q.kind === 'alarms' ? await this.alarms(api, q.alarmNames, signal) : await this.metrics(api, q, signal);
    } catch (err) {
      if (err instanceof DeadlineError || signal.aborted) {
        return {
          kind: 'error',
          message: `measuring CloudWatch (${what}): the call's deadline passed before CloudWatch answered; the measurement is retried on a later call`,
        };
      }
      return { kind: 'error', message: `measuring CloudWatch (${what}): ${describe(err)}` };
    }
  }

  /** One CloudWatch call through the limiter, retried with jittered exponential backoff while throttled and time is left. */
  private async call<T>(api: CloudWatchApiName, send: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const release = await this.limiter.acquire(signal);
      if (release === undefined) throw new DeadlineError('deadline');
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      let throttled: unknown;
      try {
        const out = await send(signal);
        this.observer?.call(api, 'success', seconds());
        return out;
      } catch (err) {
        if (signal.aborted) {
          this.observer?.call(api, 'deadline', seconds());
          throw new DeadlineError('deadline');
        }
        if (!isThrottling(err)) {
          this.observer?.call(api, 'error', seconds());
          throw err;
        }
        this.observer?.call(api, 'throttled', seconds());
        throttled = err;
      } finally {
        release();
      }
      if (attempt >= this.maxAttempts) {
        throw new Error(`${api} was throttled by CloudWatch ${attempt} time(s) in a row (${describe(throttled)}); giving up until a later call`);
      }
      const delay = this.random() * Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** (attempt - 1));
      await sleep(delay, signal);
      if (signal.aborted) throw new DeadlineError('deadline');
    }
  }

  private async alarms(api: CloudWatchApi, names: readonly string[], signal: AbortSignal): Promise<MeasurementResult> {
    const wanted = [...new Set(names)];
    const found = new Map<string, AlarmState>();
    const chunks: string[][] = [];
    for (let i = 0; i < wanted.length; i += ALARM_NAMES_PER_CALL) chunks.push(wanted.slice(i, i + ALARM_NAMES_PER_CALL));
    await Promise.all(
      chunks.map(async (chunk) => {
        let nextToken: string | undefined;
        do {
          const input: DescribeAlarmsCommandInput = {
            AlarmNames: chunk,
            AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
            MaxRecords: ALARM_NAMES_PER_CALL,
            ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
          };
          const out = await this.call('DescribeAlarms', (s) => api.describeAlarms(input, s), signal);
          for (const a of [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])]) {
            if (a.AlarmName !== undefined) found.set(a.AlarmName, alarmState(a.StateValue));
          }
          nextToken = out.NextToken;
        } while (nextToken !== undefined && nextToken !== '');
      }),
    );
    const states: Record<string, AlarmState | 'MISSING'> = {};
    for (const n of names) states[n] = found.get(n) ?? 'MISSING';
    return { kind: 'alarms', states };
  }

  private async metrics(api: CloudWatchApi, q: Extract<MeasurementQuery, { kind: 'metrics' }>, signal: AbortSignal): Promise<MeasurementResult> {
    if (q.metrics.length > METRIC_QUERIES_PER_CALL) {
      throw new Error(`${q.metrics.length} metrics in one query; GetMetricData takes at most ${METRIC_QUERIES_PER_CALL}`);
    }
    const start = new Date(q.start);
    const end = new Date(q.end);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
      throw new Error(`the window [${q.start}, ${q.end}) is not two RFC 3339 times`);
    }
    const queries: MetricDataQuery[] = q.metrics.map((m) => {
      if (m.metric !== undefined) {
        return {
          Id: m.id,
          ReturnData: true,
          MetricStat: {
            Metric: {
              Namespace: m.metric.namespace,
              MetricName: m.metric.metricName,
              Dimensions: m.metric.dimensions.map((d) => ({ Name: d.name, Value: d.value })),
            },
            Period: m.metric.periodSeconds,
            Stat: m.metric.stat,
          },
        };
      }
      if (m.expression !== undefined) return { Id: m.id, ReturnData: true, Expression: m.expression };
      throw new Error(`metric "${m.id}" has neither a metric nor an expression`);
    });
    const summed = new Set(q.metrics.filter((m) => m.metric !== undefined && SUMMED_STATS.has(m.metric.stat)).map((m) => m.id));
    const values: Record<string, number | null> = {};
    for (const m of q.metrics) values[m.id] = null;
    let nextToken: string | undefined;
    do {
      const input: GetMetricDataCommandInput = {
        StartTime: start,
        EndTime: end,
        ScanBy: 'TimestampAscending',
        MetricDataQueries: queries,
        ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
      };
      const out = await this.call('GetMetricData', (s) => api.getMetricData(input, s), signal);
      for (const r of out.MetricDataResults ?? []) {
        if (r.Id === undefined || !Object.hasOwn(values, r.Id)) continue;
        if (r.StatusCode === 'Forbidden' || r.StatusCode === 'InternalError') {
          const why = (r.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim()).join('; ');
          throw new Error(`CloudWatch answered ${r.StatusCode} for metric "${r.Id}"${why !== '' ? `: ${why}` : ''}`);
        }
        for (const v of r.Values ?? []) {
          if (!Number.isFinite(v)) continue;
          const prior = values[r.Id] ?? null;
          values[r.Id] = prior === null ? v : summed.has(r.Id) ? prior + v : Math.max(prior, v);
        }
      }
      nextToken = out.NextToken;
    } while (nextToken !== undefined && nextToken !== '');
    return { kind: 'metrics', values };
  }
}

function alarmState(v: string | undefined): AlarmState {
  // CloudWatch documents only these three; anything else is treated as "not known yet", which holds a rollout.
  return v === 'OK' || v === 'ALARM' ? v : 'INSUFFICIENT_DATA';
}
