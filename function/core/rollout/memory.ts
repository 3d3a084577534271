// The rollout's durable memory. XR status can be lost (a restore from backup,
// a status patch, a failed write) or edited; so every rendered Alias also
// carries the state it was rendered from, with the traffic it was rendered
// with, in one annotation. The API server stores it with the Alias's spec in
// one write, and Crossplane hands it back as observed state on the next call.
//
// Which record is trusted (README "Rollout state and its memory"):
// 1. the Alias's record, if it is well-formed and its traffic is what the
//    Alias routes (the two were applied together; a mismatch means one was
//    edited by hand);
// 2. else status.rollout, if it is well-formed and the traffic it records is
//    what the Alias routes (an Alias rendered by an older release has no
//    record);
// 3. else none: the caller holds live traffic and waits for a control.
import { annotation, get, isRecord, type KubeObject } from '../k8s.js';
import type { PlanResult } from '../plan-contract.js';
import { describeTraffic, trafficEquals, type Traffic } from '../traffic.js';
import { readState, stateTraffic, type RolloutState, type StateReading } from './state.js';

export const ROLLOUT_MEMORY_ANNOTATION = 'lambdacanary.fn.crossplane.io/rollout-state';
const MEMORY_FORMAT = 1;

/** What an Alias remembers: the traffic it was rendered with and, in progressive mode, the rollout state. */
export interface Memory {
  traffic?: Traffic;
  rollout?: RolloutState;
}

/** The annotation's value: compact JSON with a format number, so a later release can read (or refuse) it. */
export function encodeMemory(memory: Memory): string {
  return JSON.stringify({ v: MEMORY_FORMAT, ...memory });
}

type MemoryReading = { kind: 'valid'; memory: Memory } | { kind: 'absent' } | { kind: 'invalid'; problem: string };

const where = `annotation ${ROLLOUT_MEMORY_ANNOTATION}`;

export function readMemory(alias: KubeObject | undefined): MemoryReading {
  const text = annotation(alias, ROLLOUT_MEMORY_ANNOTATION);
  if (text === undefined) return { kind: 'absent' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid', problem: `${where} is not JSON` };
  }
  if (!isRecord(value)) return { kind: 'invalid', problem: `${where} is not a JSON object` };
  if (value.v !== MEMORY_FORMAT) return { kind: 'invalid', problem: `${where} has format ${JSON.stringify(value.v) ?? 'none'}, not ${MEMORY_FORMAT}` };
  const traffic = readTraffic(value.traffic);
  if (traffic === 'invalid') return { kind: 'invalid', problem: `${where} records traffic this function never writes` };
  const memory: Memory = traffic !== undefined ? { traffic } : {};
  if (value.rollout !== undefined) {
    const state = readState(value.rollout, `${where}: rollout`);
    if (state.kind === 'invalid') return { kind: 'invalid', problem: state.problem };
    if (state.kind === 'valid') memory.rollout = state.state;
  }
  return { kind: 'valid', memory };
}

function readTraffic(value: unknown): Traffic | undefined | 'invalid' {
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value.primary !== 'string') return 'invalid';
  if (value.secondary === undefined) return { primary: value.primary };
  const s = value.secondary;
  if (!isRecord(s) || typeof s.version !== 'string' || typeof s.percent !== 'number' || !(s.percent > 0 && s.percent < 100)) return 'invalid';
  return { primary: value.primary, secondary: { version: s.version, percent: s.percent } };
}

/** The traffic an older release's status recorded next to status.rollout (status.stable, status.canary). */
function statusTraffic(status: unknown): Traffic | undefined {
  const stable = get(status, 'stable', 'version');
  const canary = get(status, 'canary', 'version');
  const canaryWeight = get(status, 'canary', 'weight');
  const stableWeight = get(status, 'stable', 'weight');
  if (typeof canary === 'string' && typeof canaryWeight === 'number') {
    if (canaryWeight >= 100) return { primary: canary };
    if (canaryWeight > 0 && typeof stable === 'string') return { primary: stable, secondary: { version: canary, percent: canaryWeight } };
  }
  if (typeof stable === 'string' && typeof stableWeight === 'number' && stableWeight > 0) return { primary: stable };
  return undefined;
}

/**
 * Whether a state, trusted, would keep the Alias as it is: the versions it
 * renders when no event applies are the live ones. status.stable and
 * status.canary matching the Alias is not enough, for the state is what the
 * machine renders from: a forged status.rollout.stableVersion under an
 * intact status.stable would send all traffic to the forged version (an
 * Aborted state renders its stable), or make it the split's primary. A Held
 * state renders the live Alias exactly; only its stable version (where abort
 * sends all traffic) must be live, as it was when the hold began.
 */
function rendersLive(state: RolloutState, live: Traffic | undefined): boolean {
  if (state.phase === 'Held') return state.stableVersion === undefined || state.stableVersion === live?.primary;
  const own = stateTraffic(state);
  return own === undefined || trafficEquals(own, live);
}

export interface Recollection {
  /** The trusted rollout state, if any. */
  state?: RolloutState;
  /** Keys of status.rollout this release does not know, kept as they are. */
  extra: Record<string, unknown>;
  /** Where the state came from. */
  source: 'alias' | 'status' | 'none';
  /**
   * A trusted record says no rollout has run on this Alias yet (it was
   * rendered in manual mode): the live primary is stable as a fact.
   */
  noRolloutYet: boolean;
  /**
   * Status leads only because it says Aborted, next to a record that is there but cannot be
   * trusted: the state may keep the rollout stopped, never start one (plan.ts).
   */
  abortOnly?: true;
  /** Why nothing could be trusted, when source is 'none' and an Alias exists. */
  lost?: string;
  results: PlanResult[];
}

/**
 * The record's state, but with status's step start when status is at the same
 * step of the same rollout and says it started later: of two starts for one
 * step, the later one is used, so a replayed older record never ends a pause
 * early (a forged later start can only delay a step, never move traffic).
 */
function laterStart(state: RolloutState, fromStatus: StateReading): RolloutState {
  if (fromStatus.kind !== 'valid') return state;
  const st = fromStatus.state;
  const same = st.phase === state.phase && st.target === state.target && st.targetVersion === state.targetVersion && st.step === state.step;
  if (!same || st.stepStartedAt === undefined || state.stepStartedAt === undefined) return state;
  if (Date.parse(st.stepStartedAt) <= Date.parse(state.stepStartedAt)) return state;
  return { ...state, stepStartedAt: st.stepStartedAt, ...(st.nextStepAt !== undefined ? { nextStepAt: st.nextStepAt } : {}) };
}

const CORE_FIELDS = ['phase', 'target', 'targetVersion', 'step', 'weight', 'stableVersion', 'stepStartedAt'] as const;

export function recall(status: unknown, alias: KubeObject | undefined, live: Traffic | undefined, aliasName: string): Recollection {
  const fromStatus = readState(isRecord(status) ? status.rollout : undefined, 'status.rollout');
  const extra = fromStatus.kind === 'valid' ? fromStatus.extra : {};
  const results: PlanResult[] = [];
  if (alias === undefined) {
    // No Alias carries traffic, so nothing can be held: status is all there is.
    return fromStatus.kind === 'valid'
      ? { state: fromStatus.state, extra, source: 'status', noRolloutYet: false, results }
      : { extra, source: 'none', noRolloutYet: false, results };
  }

  const problems: string[] = [];
  const memory = readMemory(alias);
  const liveText = live !== undefined ? describeTraffic(aliasName, live) : `alias ${aliasName} names no version`;
  if (memory.kind === 'valid') {
    if (trafficEquals(memory.memory.traffic, live)) {
      const state = memory.memory.rollout;
      // A newer status that stops the rollout (Aborted, Held) wins over an older record: an
      // older copy of the annotation must not restart what was aborted since. It matches the
      // live Alias, so it moves no traffic; a newer status saying anything else does not win.
      if (
        state !== undefined &&
        fromStatus.kind === 'valid' &&
        (fromStatus.state.phase === 'Aborted' || fromStatus.state.phase === 'Held') &&
        Date.parse(fromStatus.state.changedAt ?? '') > Date.parse(state.changedAt ?? '1970-01-01T00:00:00Z') &&
        trafficEquals(stateTraffic(fromStatus.state) ?? live, live)
      ) {
        results.push({
          severity: 'Warning',
          reason: 'StatusDisagrees',
          message: `status.rollout (phase ${fromStatus.state.phase}, changed ${fromStatus.state.changedAt}) is newer than the rollout state recorded on alias ${aliasName} (phase ${state.phase}, changed ${state.changedAt ?? 'at an unknown time'}); the rollout stays ${fromStatus.state.phase}`,
        });
        return { state: fromStatus.state, extra, source: 'status', noRolloutYet: false, results };
      }
      if (state !== undefined) {
        if (fromStatus.kind === 'absent') {
          results.push({
            severity: 'Normal',
            reason: 'StateRecalled',
            message: `status.rollout was missing; continuing from the rollout state recorded on alias ${aliasName}`,
          });
        } else if (fromStatus.kind === 'invalid') {
          results.push({
            severity: 'Warning',
            reason: 'StatusDisagrees',
            message: `${fromStatus.problem}; continuing from the rollout state recorded on alias ${aliasName}`,
          });
        } else {
          const differs = CORE_FIELDS.filter((k) => fromStatus.state[k] !== state[k]);
          if (differs.length > 0) {
            results.push({
              severity: 'Warning',
              reason: 'StatusDisagrees',
              message:
                `status.rollout (${differs.map((k) => `${k} ${JSON.stringify(fromStatus.state[k]) ?? 'unset'}`).join(', ')}) disagrees with the rollout state ` +
                `recorded on alias ${aliasName} with its traffic (${differs.map((k) => `${k} ${JSON.stringify(state[k]) ?? 'unset'}`).join(', ')}); continuing from the alias's record`,
            });
          }
        }
      }
      return { ...(state !== undefined ? { state: laterStart(state, fromStatus) } : {}), extra, source: 'alias', noRolloutYet: state === undefined, results };
    }
    problems.push(
      `the record in ${where} was made for ${memory.memory.traffic !== undefined ? describeTraffic(aliasName, memory.memory.traffic) : 'no traffic'}, but ${liveText} (edited by hand?)`,
    );
  } else if (memory.kind === 'invalid') {
    problems.push(memory.problem);
  }

  if (fromStatus.kind === 'valid') {
    // What status recorded as rendered, or else what its state renders when nothing holds it.
    const recorded = statusTraffic(status) ?? stateTraffic(fromStatus.state);
    const written = trafficEquals(recorded, live) || trafficEquals(stateTraffic(fromStatus.state), live);
    const own = rendersLive(fromStatus.state, live);
    const matches = written && own;
    // A record that is there but cannot be trusted means the Alias was edited (or an older
    // copy of it applied again): then status alone may keep a rollout stopped, never start
    // or continue one. Only an Alias with no record at all (rendered by an older release)
    // lets status lead.
    const mayLead = memory.kind === 'absent' || fromStatus.state.phase === 'Aborted';
    if (matches && mayLead) {
      if (problems.length > 0) {
        results.push({
          severity: 'Warning',
          reason: 'StateFromStatus',
          message: `${problems.join('; ')}; continuing from status.rollout, which matches the alias`,
        });
      }
      return {
        state: fromStatus.state,
        extra,
        source: 'status',
        noRolloutYet: false,
        ...(memory.kind !== 'absent' ? { abortOnly: true as const } : {}),
        results,
      };
    }
    problems.push(
      matches
        ? `status.rollout (phase ${fromStatus.state.phase}) matches the alias, but status alone does not start or continue a rollout on an alias whose record was tampered with`
        : written
          ? `status.stable and status.canary match the alias, but status.rollout (phase ${fromStatus.state.phase}, stableVersion ${fromStatus.state.stableVersion ?? 'unset'}) would render other traffic (forged?): ${liveText}`
          : `status.rollout (phase ${fromStatus.state.phase}) was written for ${recorded !== undefined ? describeTraffic(aliasName, recorded) : 'other traffic'}, but ${liveText}`,
    );
  } else if (fromStatus.kind === 'invalid') {
    problems.push(fromStatus.problem);
  } else {
    problems.push('status.rollout is missing');
  }
  if (memory.kind === 'absent') problems.push(`alias ${aliasName} has no ${where}`);
  return { extra, source: 'none', noRolloutYet: false, lost: problems.join('; '), results };
}
