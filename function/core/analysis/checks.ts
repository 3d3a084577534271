// Rollout analysis (pure): which CloudWatch measurements a step needs, and
// what they say. The state machine (rollout/machine.ts) asks for them when a
// measurement is due, and turns the verdict into its events: an alarm or too
// many failed measurements abort; too few invocations or an unreadable
// CloudWatch hold the step; a pass lets the step end when its pause has.
//
// Lambda publishes per-version metrics through an alias for free: namespace
// AWS/Lambda, dimensions FunctionName, Resource ("function:alias") and
// ExecutedVersion. The built-in checks compare the canary's version with
// stable's over the same window: the step so far.
import type { AnalysisSpec } from '../../api/schema.js';
import { durationMs } from '../../api/schema.js';
import { measurementKey, type MeasurementQuery, type Measurements, type MetricStat } from './measurements.js';

export const DEFAULT_INTERVAL_MS = 60_000;
export const MIN_INTERVAL_MS = 30_000;
export const DEFAULT_UNREADABLE_MS = 10 * 60_000;
export const DEFAULT_MAX_WAIT_FOR_INVOCATIONS_MS = 60 * 60_000;

export interface CheckRecord {
  name: string;
  value?: number;
  stable?: number;
  bound?: string;
  passed?: boolean;
}

/** What one step's analysis needs to know. */
export interface StepWindow {
  analysis: AnalysisSpec;
  /** The Lambda function name (not an ARN) for the per-version dimensions; undefined when only a reference names it. */
  functionName: string | undefined;
  aliasName: string;
  region: string | undefined;
  canaryVersion: string;
  stableVersion: string;
  /** Whether the canary gets traffic at this step (0 < weight < 100): only then are canary and stable compared. */
  compare: boolean;
  start: Date;
  now: Date;
}

export type Verdict =
  /** Every check passed and the sample is large enough. */
  | { kind: 'pass'; checks: CheckRecord[]; canaryInvocations?: number }
  /** An alarm is in ALARM (or INSUFFICIENT_DATA with insufficientData: Fail): abort now. */
  | { kind: 'alarm'; reason: string; checks: CheckRecord[] }
  /** A check failed: counts against failureLimit. */
  | { kind: 'fail'; reason: string; checks: CheckRecord[]; canaryInvocations?: number }
  /** The canary has not served enough yet (or served nothing to compare): hold the step. */
  | { kind: 'waiting'; reason: string; checks: CheckRecord[]; canaryInvocations?: number }
  /** CloudWatch could not be read: hold the step. */
  | { kind: 'unreadable'; reason: string; checks: CheckRecord[] };

export const intervalMs = (a: AnalysisSpec) => Math.max(MIN_INTERVAL_MS, a.interval !== undefined ? durationMs(a.interval) : DEFAULT_INTERVAL_MS);
export const unreadableMs = (a: AnalysisSpec) => (a.unreadableFor !== undefined ? durationMs(a.unreadableFor) : DEFAULT_UNREADABLE_MS);
export const maxWaitMs = (a: AnalysisSpec) =>
  a.maxWaitForInvocations !== undefined ? durationMs(a.maxWaitForInvocations) : DEFAULT_MAX_WAIT_FOR_INVOCATIONS_MS;

/** The shortest window the metrics are read over: at least a second, so its ends differ at CloudWatch's one-second resolution. */
export const MIN_WINDOW_MS = 1000;
const windowTooShort = (w: StepWindow) => w.now.getTime() - w.start.getTime() < MIN_WINDOW_MS;

const usesLambdaMetrics = (a: AnalysisSpec) =>
  a.errorRate !== undefined || a.throttleRate !== undefined || a.duration !== undefined || a.minInvocations !== undefined;

/** The function name from spec.function.name, which may be an ARN (arn:...:function:NAME[:qualifier]) or a partial ARN. */
export function lambdaFunctionName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const m = /(?:^|:)function:([a-zA-Z0-9-_]+)/.exec(name);
  if (m) return m[1];
  const parts = name.split(':');
  return parts.length === 1 ? name : parts.length === 2 && /^\d{12}$/.test(parts[0]!) ? parts[1] : parts[0];
}

function lambdaStat(w: StepWindow, version: string, metricName: string, stat: string): MetricStat {
  return {
    namespace: 'AWS/Lambda',
    metricName,
    dimensions: [
      { name: 'FunctionName', value: w.functionName! },
      { name: 'Resource', value: `${w.functionName!}:${w.aliasName}` },
      { name: 'ExecutedVersion', value: version },
    ],
    stat,
    periodSeconds: 60,
  };
}

/** The queries a measurement of this step needs (alarms; the metrics of the window). */
export function queriesFor(w: StepWindow): MeasurementQuery[] {
  const a = w.analysis;
  const out: MeasurementQuery[] = [];
  if (a.alarms !== undefined) out.push({ kind: 'alarms', region: w.region, alarmNames: [...a.alarms.names] });
  const metrics: { id: string; metric?: MetricStat; expression?: string }[] = [];
  // Within the first second of a step there is nothing to read, and a window that truncates
  // to one second is refused (moto: "StartTime must not equal EndTime", found on the real
  // stack when ACK synced a step within 100 ms): only the alarms are asked then.
  if (windowTooShort(w)) return out;
  if (w.compare && w.functionName !== undefined && usesLambdaMetrics(a)) {
    for (const [prefix, version] of [
      ['c', w.canaryVersion],
      ['s', w.stableVersion],
    ] as const) {
      metrics.push({ id: `${prefix}_invocations`, metric: lambdaStat(w, version, 'Invocations', 'Sum') });
      if (a.errorRate !== undefined) metrics.push({ id: `${prefix}_errors`, metric: lambdaStat(w, version, 'Errors', 'Sum') });
      if (a.throttleRate !== undefined) metrics.push({ id: `${prefix}_throttles`, metric: lambdaStat(w, version, 'Throttles', 'Sum') });
      if (a.duration !== undefined) metrics.push({ id: `${prefix}_duration`, metric: lambdaStat(w, version, 'Duration', a.duration.statistic) });
    }
  }
  for (const c of a.metrics ?? []) {
    metrics.push(
      c.metric !== undefined
        ? { id: `u_${c.name}`, metric: { ...c.metric, dimensions: c.metric.dimensions ?? [] } }
        : { id: `u_${c.name}`, expression: c.expression! },
    );
  }
  if (metrics.length > 0) out.push({ kind: 'metrics', region: w.region, start: w.start.toISOString(), end: w.now.toISOString(), metrics });
  return out;
}

const pct = (x: number) => `${Math.round(x * 10000) / 100}%`;
const fmt = (x: number) => String(Math.round(x * 1000) / 1000);

/** What the measurements say about this step. */
export function evaluate(w: StepWindow, measurements: Measurements): Verdict {
  const a = w.analysis;
  const checks: CheckRecord[] = [];
  const queries = queriesFor(w);
  const unread: string[] = [];
  let alarms: Record<string, string> | undefined;
  let values: Record<string, number | null> | undefined;
  for (const q of queries) {
    const r = measurements[measurementKey(q)];
    if (r === undefined) unread.push(`${q.kind === 'alarms' ? 'DescribeAlarms' : 'GetMetricData'}: not measured in this call`);
    else if (r.kind === 'error') unread.push(`${q.kind === 'alarms' ? 'DescribeAlarms' : 'GetMetricData'}: ${r.message}`);
    else if (r.kind === 'alarms') alarms = r.states;
    else values = r.values;
  }

  // Alarms first: one in ALARM aborts whatever else was measured.
  if (alarms !== undefined && a.alarms !== undefined) {
    const firing = a.alarms.names.filter((n) => alarms[n] === 'ALARM');
    const unknown = a.alarms.names.filter((n) => alarms[n] === 'INSUFFICIENT_DATA' || alarms[n] === 'MISSING');
    for (const n of a.alarms.names)
      checks.push({ name: `alarm ${n}`, bound: 'not ALARM', passed: alarms[n] !== 'ALARM' && !(a.alarms.insufficientData === 'Fail' && unknown.includes(n)) });
    if (firing.length > 0) return { kind: 'alarm', reason: `CloudWatch alarm ${firing.join(', ')} is in ALARM`, checks };
    if (a.alarms.insufficientData === 'Fail' && unknown.length > 0) {
      return {
        kind: 'alarm',
        reason: `CloudWatch alarm ${unknown.map((n) => `${n} is ${alarms[n]}`).join(', ')} (analysis.alarms.insufficientData: Fail)`,
        checks,
      };
    }
  }
  if (unread.length > 0) return { kind: 'unreadable', reason: `CloudWatch could not be read: ${unread.join('; ')}`, checks };

  if (windowTooShort(w) && (usesLambdaMetrics(a) || (a.metrics ?? []).length > 0)) {
    return { kind: 'waiting', reason: 'the step is under a second old: no metric datapoint to read yet', checks };
  }
  const v = (id: string) => values?.[id] ?? null;
  const failures: string[] = [];
  let canaryInvocations: number | undefined;
  const waiting: string[] = [];
  if (w.compare && usesLambdaMetrics(a) && w.functionName !== undefined) {
    const cInv = v('c_invocations') ?? 0;
    const sInv = v('s_invocations') ?? 0;
    canaryInvocations = cInv;
    checks.push({ name: 'canaryInvocations', value: cInv, stable: sInv, ...(a.minInvocations !== undefined ? { bound: `>= ${a.minInvocations}` } : {}) });
    const rate = (kind: 'errors' | 'throttles', name: 'errorRate' | 'throttleRate') => {
      const bound = a[name];
      if (bound === undefined) return;
      if (cInv === 0) {
        waiting.push(`${name}: the canary served no invocation yet`);
        return;
      }
      const canary = (v(`c_${kind}`) ?? 0) / cInv;
      const stable = sInv > 0 ? (v(`s_${kind}`) ?? 0) / sInv : undefined;
      const problems: string[] = [];
      if (bound.max !== undefined && canary > bound.max) problems.push(`above ${pct(bound.max)}`);
      if (bound.maxRatioToStable !== undefined && stable !== undefined && canary > bound.maxRatioToStable * stable) {
        problems.push(`above ${bound.maxRatioToStable} x stable's ${pct(stable)}`);
      }
      checks.push({
        name,
        value: canary,
        ...(stable !== undefined ? { stable } : {}),
        bound: [bound.max !== undefined ? `<= ${bound.max}` : '', bound.maxRatioToStable !== undefined ? `<= ${bound.maxRatioToStable} x stable` : '']
          .filter((x) => x !== '')
          .join(', '),
        passed: problems.length === 0,
      });
      if (problems.length > 0) failures.push(`${name} of version ${w.canaryVersion} is ${pct(canary)} (${cInv} invocations), ${problems.join(' and ')}`);
    };
    rate('errors', 'errorRate');
    rate('throttles', 'throttleRate');
    if (a.duration !== undefined) {
      const canary = v('c_duration');
      const stable = v('s_duration') ?? undefined;
      if (canary === null) waiting.push('duration: no datapoint for the canary yet');
      else {
        const problems: string[] = [];
        if (a.duration.max !== undefined && canary > a.duration.max) problems.push(`above ${a.duration.max} ms`);
        if (a.duration.maxRatioToStable !== undefined && stable !== undefined && canary > a.duration.maxRatioToStable * stable) {
          problems.push(`above ${a.duration.maxRatioToStable} x stable's ${fmt(stable)} ms`);
        }
        checks.push({ name: `duration ${a.duration.statistic}`, value: canary, ...(stable !== undefined ? { stable } : {}), passed: problems.length === 0 });
        if (problems.length > 0)
          failures.push(`duration ${a.duration.statistic} of version ${w.canaryVersion} is ${fmt(canary)} ms, ${problems.join(' and ')}`);
      }
    }
    if (a.minInvocations !== undefined && cInv < a.minInvocations)
      waiting.push(`the canary served ${cInv} of the ${a.minInvocations} invocations analysis.minInvocations asks for`);
  }
  for (const c of a.metrics ?? []) {
    const value = v(`u_${c.name}`);
    if (value === null) {
      checks.push({ name: c.name });
      waiting.push(`${c.name}: no datapoint yet`);
      continue;
    }
    const low = c.min !== undefined && value < c.min;
    const high = c.max !== undefined && value > c.max;
    checks.push({
      name: c.name,
      value,
      bound: [c.min !== undefined ? `>= ${c.min}` : '', c.max !== undefined ? `<= ${c.max}` : ''].filter((x) => x !== '').join(', '),
      passed: !low && !high,
    });
    if (low || high) failures.push(`${c.name} is ${fmt(value)}, ${high ? `above ${c.max}` : `below ${c.min}`}`);
  }
  if (failures.length > 0) return { kind: 'fail', reason: failures.join('; '), checks, ...(canaryInvocations !== undefined ? { canaryInvocations } : {}) };
  if (waiting.length > 0) return { kind: 'waiting', reason: waiting.join('; '), checks, ...(canaryInvocations !== undefined ? { canaryInvocations } : {}) };
  return { kind: 'pass', checks, ...(canaryInvocations !== undefined ? { canaryInvocations } : {}) };
}
