// The contract between rollout analysis (pure, in core/) and the adapter
// that talks to CloudWatch (function/aws/). The planner states the
// measurements it needs for this call; the handler runs them, under a
// deadline, and hands the results back by key. Types and key functions only.

/** One CloudWatch metric, as GetMetricData's MetricStat names it. */
export interface MetricStat {
  namespace: string;
  metricName: string;
  dimensions: { name: string; value: string }[];
  /** Sum, Average, Minimum, Maximum, SampleCount, or a percentile such as p99. */
  stat: string;
  periodSeconds: number;
}

/** What the planner asks for. */
export type MeasurementQuery =
  /** DescribeAlarms for these names: each alarm's state. */
  | { kind: 'alarms'; region: string | undefined; alarmNames: string[] }
  /**
   * GetMetricData over [start, end): one number per query id. The adapter
   * sums the datapoints in the window when the stat is Sum or SampleCount
   * (counts: invocations, errors, throttles) and takes their maximum
   * otherwise (averages, percentiles, expressions: the worst period counts).
   */
  | { kind: 'metrics'; region: string | undefined; start: string; end: string; metrics: { id: string; metric?: MetricStat; expression?: string }[] };

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** What the adapter hands back for one query. */
export type MeasurementResult =
  /** Every asked name; an alarm CloudWatch does not know is 'MISSING'. */
  | { kind: 'alarms'; states: Record<string, AlarmState | 'MISSING'> }
  /** Per query id: the value, or null when CloudWatch had no datapoint in the window. */
  | { kind: 'metrics'; values: Record<string, number | null> }
  /** The query could not be answered (deadline, throttling after retries, credentials, an AWS error). */
  | { kind: 'error'; message: string };

/** Results by query key. A query with no entry was not run (for example, the call's deadline passed first). */
export type Measurements = Readonly<Record<string, MeasurementResult>>;

/** The stable key of a query: the same query from two XRs has the same key (the adapter caches by it). */
export function measurementKey(q: MeasurementQuery): string {
  return JSON.stringify(sortKeys(q));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
