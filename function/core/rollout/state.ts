// The rollout's state: what status.rollout shows and what the Alias's
// annotation remembers (memory.ts). Read leniently: unknown keys are kept (a
// newer release of this function may have written them), and each known key
// is checked on its own, so one bad field names itself instead of throwing
// the whole state away unnoticed.
import { isRecord } from '../k8s.js';
import { LITERAL_VERSION, rolloutStatusSchema, type LambdaCanaryStatus } from '../../api/schema.js';
import type { Traffic } from '../traffic.js';

export type RolloutState = NonNullable<LambdaCanaryStatus['rollout']>;
export type Phase = NonNullable<RolloutState['phase']>;

/** How far a recorded step start may lie ahead of this clock before it counts as forged. */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

export type StateReading =
  /** A well-formed state; `extra` holds keys this release does not know, kept as they are. */
  | { kind: 'valid'; state: RolloutState; extra: Record<string, unknown> }
  /** Nothing recorded. */
  | { kind: 'absent' }
  /** Something recorded that this function never writes: `problem` names the field. */
  | { kind: 'invalid'; problem: string };

const KNOWN_KEYS = new Set(Object.keys(rolloutStatusSchema.shape));

/**
 * Reads a recorded rollout state (status.rollout, or the state in the Alias's
 * memory). `where` prefixes field names in problems ("status.rollout").
 */
export function readState(value: unknown, where: string): StateReading {
  if (value === undefined || value === null) return { kind: 'absent' };
  if (!isRecord(value)) return { kind: 'invalid', problem: `${where} is not an object` };
  if (Object.keys(value).length === 0) return { kind: 'absent' };
  const state: Record<string, unknown> = {};
  const extra: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (!KNOWN_KEYS.has(key)) {
      extra[key] = field;
      continue;
    }
    const parsed = rolloutStatusSchema.shape[key as keyof typeof rolloutStatusSchema.shape].safeParse(field);
    if (!parsed.success) return { kind: 'invalid', problem: `${where}.${key} is ${describe(field)}, which this function never writes` };
    if (parsed.data !== undefined) state[key] = parsed.data;
  }
  const s = state as RolloutState;
  // The checks below are what makes a state usable by the machine: no
  // arithmetic on it can yield NaN or index past the steps, and no version
  // only a bad record names can become functionVersion.
  const bad = (field: string, why: string): StateReading => ({ kind: 'invalid', problem: `${where}.${field} ${why}` });
  if (s.phase === undefined) return bad('phase', 'is missing');
  if (s.stableVersion !== undefined && !LITERAL_VERSION.test(s.stableVersion))
    return bad('stableVersion', `is ${describe(s.stableVersion)}, not a Lambda version`);
  if (s.targetVersion !== undefined && !LITERAL_VERSION.test(s.targetVersion))
    return bad('targetVersion', `is ${describe(s.targetVersion)}, not a Lambda version`);
  if (s.stableRef !== undefined && !/^[^/]+\/[^/]+$/.test(s.stableRef)) return bad('stableRef', `is ${describe(s.stableRef)}, not namespace/name`);
  for (const t of ['stepStartedAt', 'nextStepAt', 'changedAt'] as const) {
    if (s[t] !== undefined && Number.isNaN(Date.parse(s[t]))) return bad(t, `is ${describe(s[t])}, not a time`);
  }
  if (s.totalSteps !== undefined && s.totalSteps < 0) return bad('totalSteps', 'is negative');
  if (s.step !== undefined && (s.step < 0 || (s.totalSteps !== undefined && s.step > s.totalSteps))) {
    return bad('step', `is ${s.step}, outside 0..${s.totalSteps ?? 'totalSteps'}`);
  }
  if (s.weight !== undefined && !(s.weight >= 0 && s.weight <= 100)) return bad('weight', `is ${s.weight}, outside 0..100`);
  if (s.phase !== 'Stable' && s.phase !== 'Promoted' && s.phase !== 'Held' && s.stableVersion === undefined) return bad('stableVersion', 'is missing');
  return { kind: 'valid', state: s, extra };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The traffic a state renders when nothing holds it: what the Alias carries
 * if the state was applied. Used to check a status that has no record of
 * its own against the live Alias.
 */
export function stateTraffic(s: RolloutState): Traffic | undefined {
  const weight = s.weight ?? 0;
  if ((s.phase === 'Stable' || s.phase === 'Promoted') && s.stableVersion !== undefined) return { primary: s.stableVersion };
  if (s.phase === 'Aborted' || weight <= 0) return s.stableVersion !== undefined ? { primary: s.stableVersion } : undefined;
  if (weight >= 100) return s.targetVersion !== undefined ? { primary: s.targetVersion } : undefined;
  if (s.stableVersion === undefined || s.targetVersion === undefined) return undefined;
  return { primary: s.stableVersion, secondary: { version: s.targetVersion, percent: weight } };
}
