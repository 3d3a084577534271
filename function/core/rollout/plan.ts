// Progressive delivery inside Crossplane's reconcile loop. Crossplane calls
// the function again when the response TTL expires; what the function writes
// to the XR status and to the Alias comes back as observed state. That is the
// whole "controller":
//
//   recall (memory.ts): the trusted state, from the Alias's record or status;
//   transition (machine.ts): the one event that applies now, and its result;
//   intent: the traffic the new state asks for, which the safety gate checks.
//
// README "Progressive mode" and "Rollout state and its memory" describe the
// behaviour for users.
import type { KubeObject } from '../k8s.js';
import { aliasSynced } from '../ack.js';
import type { PlanResult } from '../plan-contract.js';
import { literalVersion, type SelectorResolution, type VersionLookup } from '../version-lookup.js';
import type { LambdaCanarySpec, RolloutSpec } from '../../api/schema.js';
import { strategySteps } from '../strategy.js';
import { trafficEquals, type Traffic, type TrafficIntent } from '../traffic.js';
import { recall, type Recollection } from './memory.js';
import { TTL_MAX_SECONDS, firstDeployment, holdLost, stableOn, transition, type Facts, type Move } from './machine.js';
import type { RolloutState } from './state.js';
import { lambdaFunctionName } from '../analysis/checks.js';
import type { MeasurementQuery, Measurements } from '../analysis/measurements.js';

export interface RolloutInput {
  spec: LambdaCanarySpec;
  rollout: RolloutSpec;
  lookup: VersionLookup;
  live: Traffic | undefined;
  observedAlias: KubeObject | undefined;
  status: unknown;
  now: Date;
  /** CloudWatch's answers, once the handler has run what a first pass asked for. */
  measurements?: Measurements;
}

export interface RolloutPlan {
  intent: TrafficIntent;
  /** status.rollout, with keys of a newer release kept. */
  status: RolloutState & Record<string, unknown>;
  /** The state alone, for the Alias's record. */
  state: RolloutState;
  results: PlanResult[];
  resolutions: SelectorResolution[];
  ttlSeconds: number;
  /** Set when the live Alias must be held exactly as it is: why. */
  hold?: string;
  /** Measurements the analysis needs before it can decide this call. */
  measure?: MeasurementQuery[];
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { rollout, lookup, live, observedAlias } = input;
  const target = lookup.resolve(rollout.target);
  const facts: Facts = {
    aliasName: input.spec.alias.name,
    steps: strategySteps(rollout.strategy),
    target,
    targetId: rollout.target.version !== undefined ? `version:${rollout.target.version}` : refId(lookup, rollout),
    targetVersion: target.resolution.kind === 'resolved' ? target.resolution.version : undefined,
    targetFailed: target.resolution.kind === 'failed' ? target.resolution.message : undefined,
    controls: rollout,
    live,
    syncedAt: (t: Traffic) => observedAlias !== undefined && aliasSynced(observedAlias) && trafficEquals(live, t),
    now: input.now,
    metrics: { functionName: lambdaFunctionName(input.spec.function.name), region: input.spec.region },
    measurements: input.measurements,
  };

  const memory = recall(input.status, observedAlias, live, facts.aliasName);
  const move = keptAborted(next(memory.state, memory, facts), memory, facts);
  const state = revised(memory.state, move.state, input.now);
  const stable = stableSelector(state, lookup);
  const intent = intentOf(state, stable, target, move, live);
  return {
    intent,
    status: { ...memory.extra, ...state },
    state,
    results: [...memory.results, ...move.results],
    resolutions: stable !== undefined ? [stable, target] : [target],
    ttlSeconds: move.ttlSeconds,
    ...(move.hold !== undefined ? { hold: move.hold } : {}),
    ...(move.measure !== undefined ? { measure: move.measure } : {}),
  };
}

/**
 * The state with the time it last changed (the function's clock), so that
 * of two records that disagree the newer is known.
 */
function revised(before: RolloutState | undefined, after: RolloutState, now: Date): RolloutState {
  const { changedAt: was, ...old } = before ?? {};
  const { changedAt: _ignored, ...next } = after;
  const same = before !== undefined && was !== undefined && JSON.stringify(old) === JSON.stringify(next);
  return { ...next, changedAt: same ? was : now.toISOString() };
}

/** The event when no rollout state is trusted, else the machine's transition. */
function next(state: RolloutState | undefined, memory: ReturnType<typeof recall>, f: Facts): Move {
  if (state !== undefined) return transition(state, f);
  const live = f.live;
  if (memory.source === 'none' && memory.lost === undefined) return firstDeployment(f);
  // A trusted record from manual mode: its primary is stable as a fact.
  if (memory.noRolloutYet && live !== undefined) return transition(stableOn(live.primary, f), f);
  if (live !== undefined && live.secondary === undefined && f.targetVersion === live.primary) {
    // Lost, but there is nothing to decide: the Alias is wholly on the target.
    const move = transition(stableOn(live.primary, f), f);
    return memory.lost !== undefined ? { ...move, results: [lostButSettled(f, memory.lost), ...move.results] } : move;
  }
  return holdLost(f, memory.lost ?? 'the rollout state cannot be read');
}

/**
 * Status that leads only because it says Aborted, next to a record on the Alias that cannot be
 * trusted (memory.ts), may keep the rollout stopped, never start one: it may be a stale copy from
 * before the call that wrote the record (a stale status, a status write that landed where the
 * Alias's apply did not). So a move out of Aborted stands only when the user asked for it: a new
 * spec.rollout.retry (with abort false) or a new target. Anything else the machine would leave
 * Aborted for (the target's Version re-published under another number, which from a trusted
 * Aborted record is a new release) keeps it Aborted, now for the number the target resolves to,
 * so that the next call, trusting the record this one writes, does not take the same re-publish
 * for a new release either. Not Held: the abort is known, and a Held rollout moves on resume or
 * promote, which never restart an aborted one (README "Abort").
 */
function keptAborted(move: Move, memory: Recollection, f: Facts): Move {
  const s = memory.state;
  if (memory.abortOnly !== true || s?.phase !== 'Aborted' || move.state.phase === 'Aborted') return move;
  const retried = f.controls.abort !== true && f.controls.retry !== undefined && f.controls.retry !== (s.retryToken ?? '');
  const retargeted = s.target !== undefined && s.target !== f.targetId;
  if (retried || retargeted) return move;
  const republished = f.targetVersion !== undefined && f.targetVersion !== s.targetVersion;
  const why = republished
    ? `the target ${f.target.display} is now version ${f.targetVersion}, no longer ${s.targetVersion ?? 'unknown'}`
    : `this call would move it to phase ${move.state.phase}`;
  return {
    state: { ...s, weight: 0, ...(republished ? { targetVersion: f.targetVersion } : {}) },
    results: [
      {
        severity: 'Warning',
        reason: 'AbortKept',
        message:
          `status.rollout is trusted only because it says the rollout is aborted (the record on alias ${f.aliasName} cannot be trusted), ` +
          `and status alone never starts a rollout: ${why}; the rollout stays Aborted${republished ? ` for version ${f.targetVersion}` : ''}, ` +
          `all traffic on stable version ${s.stableVersion ?? 'unknown'}, until spec.rollout.retry changes (with abort false) or the target does`,
      },
    ],
    ttlSeconds: TTL_MAX_SECONDS,
  };
}

function lostButSettled(f: Facts, why: string): PlanResult {
  return {
    severity: 'Warning',
    reason: 'StateRebuilt',
    message: `${why}; alias ${f.aliasName} is wholly on the target, version ${f.targetVersion}, so it counts as stable and nothing moves`,
  };
}

function refId(lookup: VersionLookup, rollout: RolloutSpec): string {
  const t = lookup.target(rollout.target.versionRef!);
  return `ref:${t.namespace}/${t.name}`;
}

/**
 * The stable version as a selector: the recorded ref if it still resolves to
 * the recorded number, else the number itself (a fact about a published
 * version; a lookup that is pending or gone does not make it less true).
 */
function stableSelector(state: RolloutState, lookup: VersionLookup): SelectorResolution | undefined {
  const version = state.stableVersion;
  if (version === undefined) return undefined;
  if (state.stableRef !== undefined) {
    const [namespace, name] = state.stableRef.split('/') as [string, string];
    const r = lookup.resolveRef({ namespace, name });
    if (r.resolution.kind === 'resolved' && r.resolution.version === version) return r;
  }
  return literalVersion(version);
}

/** The traffic the state asks for; a hold asks for the live traffic exactly. */
function intentOf(
  state: RolloutState,
  stable: SelectorResolution | undefined,
  target: SelectorResolution,
  move: Move,
  live: Traffic | undefined,
): TrafficIntent {
  if (move.hold !== undefined && live !== undefined) return heldIntent(live);
  // No stable yet: a first deployment, straight to the target once it resolves.
  if (stable === undefined) return { stable: target };
  const weight = state.weight ?? 0;
  const rollingOut = state.phase === 'Progressing' || state.phase === 'Paused';
  return rollingOut && weight > 0 ? { stable, canary: { selector: target, percent: weight } } : { stable };
}

/** Live traffic as an intent of literals: what a hold renders. */
function heldIntent(live: Traffic): TrafficIntent {
  const stable = literalVersion(live.primary);
  return live.secondary !== undefined ? { stable, canary: { selector: literalVersion(live.secondary.version), percent: live.secondary.percent } } : { stable };
}
