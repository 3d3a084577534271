// Progressive delivery inside Crossplane's reconcile loop. Crossplane calls
// the function again when the response TTL expires, and what the function
// writes to the XR status comes back as observed state; that is the whole
// "controller". The rollout's memory is status.rollout, but the observed Alias
// is the ground truth: when status is lost, the state is rebuilt from the
// Alias, and the rebuild never moves traffic forward.
//
// Rules (README "Progressive mode"):
// - stable is the version that last took all traffic; the first deployment
//   goes straight to the target;
// - a new target starts a rollout from the current stable; the stable itself
//   as target is a fast rollback; a third version restarts from stable;
// - a step advances only when its pause has elapsed, the target is resolved
//   and the Alias is synced at the step's weight, and at most one step a call;
// - abort (spec or a failed target) sends all traffic to stable and stops
//   until the target changes or retry is set.
import type { KubeObject } from './k8s.js';
import { aliasSynced } from './ack.js';
import { isRecord } from './k8s.js';
import type { PlanResult } from './plan-contract.js';
import type { SelectorResolution, VersionLookup } from './version-lookup.js';
import { LITERAL_VERSION, rolloutStatusSchema, type LambdaCanarySpec, type LambdaCanaryStatus, type RolloutSpec } from '../api/schema.js';
import { strategySteps, type Step } from './strategy.js';
import { percentOn, trafficEquals, type Traffic, type TrafficIntent } from './traffic.js';
import { percentToBasisPoints } from './weights.js';

type RolloutStatus = NonNullable<LambdaCanaryStatus['rollout']>;

export const TTL_MIN_SECONDS = 5;
export const TTL_MAX_SECONDS = 300;
export const TTL_WAIT_SECONDS = 15;

export interface RolloutInput {
  spec: LambdaCanarySpec;
  rollout: RolloutSpec;
  lookup: VersionLookup;
  live: Traffic | undefined;
  observedAlias: KubeObject | undefined;
  status: unknown;
  now: Date;
}

export interface RolloutPlan {
  intent: TrafficIntent;
  status: RolloutStatus;
  results: PlanResult[];
  resolutions: SelectorResolution[];
  ttlSeconds: number;
}

/**
 * Previous rollout state, if status holds a well-formed one. A stableVersion
 * that is no Lambda version, or a stableRef that is not namespace/name, means
 * status was edited or corrupted: it counts as lost (rebuilt from the live
 * Alias), so traffic never goes to a version that only a bad status names.
 */
/** How far a recorded step start may lie ahead of this clock before it counts as forged. */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

function previousState(status: unknown): RolloutStatus | undefined {
  if (!isRecord(status) || !isRecord(status.rollout)) return undefined;
  const parsed = rolloutStatusSchema.safeParse(status.rollout);
  if (!parsed.success || (parsed.data.stableVersion === undefined && parsed.data.phase === undefined)) return undefined;
  if (parsed.data.stableVersion !== undefined && !LITERAL_VERSION.test(parsed.data.stableVersion)) return undefined;
  if (parsed.data.stableRef !== undefined && !/^[^/]+\/[^/]+$/.test(parsed.data.stableRef)) return undefined;
  // Times that are no dates, and steps outside 0..totalSteps, were never
  // written by this function: the state counts as lost, like the cases above,
  // so no arithmetic on them can yield NaN or index past the steps.
  const { step, totalSteps, stepStartedAt, nextStepAt } = parsed.data;
  for (const t of [stepStartedAt, nextStepAt]) if (t !== undefined && Number.isNaN(Date.parse(t))) return undefined;
  if (step !== undefined && (step < 0 || (totalSteps !== undefined && step > totalSteps))) return undefined;
  if (totalSteps !== undefined && totalSteps < 0) return undefined;
  return parsed.data;
}

function targetIdentity(rollout: RolloutSpec, lookup: VersionLookup): string {
  if (rollout.target.version !== undefined) return `version:${rollout.target.version}`;
  const t = lookup.target(rollout.target.versionRef!);
  return `ref:${t.namespace}/${t.name}`;
}

function literal(version: string): SelectorResolution {
  return { display: `version ${version}`, resolution: { kind: 'resolved', version } };
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const { rollout, lookup, live, now } = input;
  const steps = strategySteps(rollout.strategy);
  const total = steps.length;
  const target = lookup.resolve(rollout.target);
  const targetId = targetIdentity(rollout, lookup);
  const targetVersion = target.resolution.kind === 'resolved' ? target.resolution.version : undefined;
  const results: PlanResult[] = [];
  const prev = previousState(input.status);
  const nowIso = now.toISOString();

  // Stable: from status, else rebuilt from the live Alias (status lost), else none (first deployment).
  let stableVersion = prev?.stableVersion;
  let stableRef = prev?.stableRef;
  let rebuilt = false;
  if (stableVersion === undefined && live !== undefined) {
    stableVersion = live.primary;
    stableRef = undefined;
    rebuilt = true;
  }

  const stableSelector = (): SelectorResolution => {
    if (stableRef !== undefined) {
      const [namespace, name] = stableRef.split('/') as [string, string];
      const r = lookup.resolveRef({ namespace, name });
      // The number in status is a fact about a published version; a lookup
      // that is pending or gone does not make it less true.
      if (r.resolution.kind === 'resolved' && r.resolution.version === stableVersion) return r;
    }
    return literal(stableVersion!);
  };

  // Control tokens are recorded as "seen" when a rollout state is created, so
  // only a later change is a request (a promote set for an earlier rollout
  // must not promote this one). Unset counts as "".
  const base: RolloutStatus = {
    target: targetId,
    ...(targetVersion !== undefined ? { targetVersion } : {}),
    totalSteps: total,
    resumeToken: rollout.resume ?? '',
    promoteToken: rollout.promote ?? '',
    retryToken: rollout.retry ?? '',
  };
  const tokenChanged = (spec: string | undefined, seen: string | undefined) => spec !== undefined && spec !== (seen ?? '');

  // First deployment: nothing is stable and no Alias exists; go straight to the target.
  if (stableVersion === undefined) {
    if (targetVersion === undefined) {
      return {
        intent: { stable: target },
        status: { ...base, phase: 'Progressing', step: 0, weight: 0 },
        results,
        resolutions: [target],
        ttlSeconds: TTL_WAIT_SECONDS,
      };
    }
    results.push({
      severity: 'Normal',
      reason: 'FirstDeployment',
      message: `first deployment: alias ${input.spec.alias.name} goes straight to version ${targetVersion}`,
    });
    return {
      intent: { stable: target },
      status: { ...base, phase: 'Stable', step: total, weight: 100, stableVersion: targetVersion, ...refOf(target), stepStartedAt: nowIso },
      results,
      resolutions: [target],
      ttlSeconds: TTL_WAIT_SECONDS,
    };
  }

  const stable = stableSelector();
  const withStable = (s: RolloutStatus): RolloutStatus => ({ ...s, stableVersion: stableVersion, ...(stableRef !== undefined ? { stableRef } : {}) });

  // The target is (or resolves to) the stable version: steady, or a fast rollback.
  const targetIsStable = targetVersion === stableVersion || (stableRef !== undefined && targetId === `ref:${stableRef}`);
  if (targetIsStable) {
    const wasRollingOut = prev !== undefined && prev.target !== targetId && (prev.phase === 'Progressing' || prev.phase === 'Paused');
    const liveOnStable = live === undefined || trafficEquals(live, { primary: stableVersion });
    if (wasRollingOut || (rebuilt && !liveOnStable)) {
      results.push({
        severity: 'Normal',
        reason: 'FastRollback',
        message: `fast rollback: the target is the stable version ${stableVersion} again; all traffic returns to it at once`,
      });
    }
    return {
      intent: { stable },
      status: withStable({
        ...base,
        // A finished rollout keeps saying Promoted until a new target arrives.
        phase: prev?.phase === 'Promoted' && prev.target === targetId ? 'Promoted' : 'Stable',
        step: total,
        weight: 100,
        stepStartedAt: prev?.target === targetId ? (prev.stepStartedAt ?? nowIso) : nowIso,
      }),
      results,
      resolutions: [stable, target],
      ttlSeconds: TTL_MAX_SECONDS,
    };
  }

  // Status lost while the target does not resolve yet: nothing tells whether
  // the live canary is the target, so the live Alias is held exactly as it is
  // (the gate keeps it and says why) and no stable is recorded, so that the
  // state is rebuilt again once the target resolves.
  if (rebuilt && target.resolution.kind === 'pending' && live?.secondary !== undefined) {
    results.push({
      severity: 'Warning',
      reason: 'StateRebuilt',
      message: `rollout state was missing from status and ${target.display} does not resolve yet; holding alias ${input.spec.alias.name} as it is (${live.secondary.percent}% to version ${live.secondary.version}) until it does`,
    });
    return {
      intent: { stable, canary: { selector: target, percent: live.secondary.percent } },
      status: { ...base, phase: 'Progressing', step: 0 },
      results,
      resolutions: [stable, target],
      ttlSeconds: TTL_WAIT_SECONDS,
    };
  }

  // From here on, the target differs from stable: a rollout is under way or starting.
  // The same target Version object with another number (ACK re-published it)
  // is a new release: it starts from the first step, never inherits one.
  const republished =
    prev !== undefined && prev.target === targetId && prev.targetVersion !== undefined && targetVersion !== undefined && prev.targetVersion !== targetVersion;
  const sameRollout = prev !== undefined && prev.target === targetId && !rebuilt && !republished;
  // Set when this call rebuilt lost state: it holds the live weight and moves nothing forward.
  let rebuiltNow = false;
  let state: RolloutStatus;
  if (sameRollout) {
    state = {
      ...prev,
      target: targetId,
      totalSteps: total,
      ...(targetVersion !== undefined ? { targetVersion } : {}),
    };
    // The strategy changed under a running rollout (fewer steps, other
    // weights): continue from the step at or below the current weight, with a
    // fresh pause, instead of indexing past the end or waiting for a weight
    // that is never rendered.
    const at = state.step ?? 0;
    if (at > 0 && state.phase !== 'Aborted' && (at > total || percentToBasisPoints(steps[at - 1]!.weight) !== percentToBasisPoints(state.weight ?? 0))) {
      const index = stepAtOrBelow(steps, state.weight ?? 0);
      state = index >= 0 ? enterStep(state, index, steps, now, rollout.resume) : { ...state, step: 0 };
      results.push({
        severity: 'Normal',
        reason: 'StrategyChanged',
        message: `the rollout strategy changed mid-rollout; continuing from step ${index + 1} of ${total}${index >= 0 ? ` (${steps[index]!.weight}%)` : ''}`,
      });
    }
    // A step that started in the future (a forged status, a clock far ahead
    // where it was written) would hold its pause until then: time runs from
    // now instead, with a Warning. Small skew between clocks is tolerated.
    const startedAt = state.stepStartedAt !== undefined ? Date.parse(state.stepStartedAt) : Number.NaN;
    if (startedAt > now.getTime() + CLOCK_SKEW_TOLERANCE_MS) {
      const stepIndex = (state.step ?? 0) - 1;
      results.push({
        severity: 'Warning',
        reason: 'StepStartInFuture',
        message: `status.rollout.stepStartedAt ${state.stepStartedAt} is in the future; the step's pause runs from now`,
      });
      state =
        stepIndex >= 0 && stepIndex < total
          ? { ...enterStep(state, stepIndex, steps, now, rollout.resume), resumeToken: state.resumeToken ?? '' }
          : { ...state, stepStartedAt: nowIso };
    }
    // Status behind the live Alias (a lost status write, an older backup): the
    // Alias already gives the target more than status says. Resume at the step
    // at or below the live share, with a fresh pause; traffic never goes back
    // to an earlier step because of status alone.
    const liveOnTarget = targetVersion !== undefined ? percentOn(live, targetVersion) : 0;
    if (state.phase !== 'Aborted' && percentToBasisPoints(liveOnTarget) > percentToBasisPoints(state.weight ?? 0)) {
      const index = stepAtOrBelow(steps, liveOnTarget);
      if (index >= 0 && index + 1 > (state.step ?? 0)) {
        state = enterStep(state, index, steps, now, rollout.resume);
        rebuiltNow = true;
        results.push({
          severity: 'Warning',
          reason: 'StatusBehindAlias',
          message: `status said step ${prev.step ?? 0} (${prev.weight ?? 0}%), but alias ${input.spec.alias.name} already sends ${liveOnTarget}% to version ${targetVersion}; continuing from step ${index + 1} of ${total} with its full pause`,
        });
      }
    }
  } else if (rebuilt && live?.secondary !== undefined && live.secondary.version === targetVersion) {
    // Status was lost mid-rollout: resume at the step at or below the live
    // weight, with a fresh pause. Traffic never moves forward from a rebuild.
    const index = stepAtOrBelow(steps, live.secondary.percent);
    // Below the first step: hold the live weight; step 1 starts on the next call.
    state = { ...base, phase: 'Progressing', step: 0, weight: live.secondary.percent };
    if (index >= 0) state = enterStep(state, index, steps, now, rollout.resume);
    rebuiltNow = true;
    results.push({
      severity: 'Warning',
      reason: 'StateRebuilt',
      message: `rollout state was missing from status; rebuilt from alias ${input.spec.alias.name}: stable version ${stableVersion}, target at ${live.secondary.percent}%, resuming at step ${index + 1} of ${total} with its full pause`,
    });
  } else {
    // A new target (or a third version mid-rollout): start from the current stable.
    if (republished) {
      results.push({
        severity: 'Warning',
        reason: 'TargetRepublished',
        message: `the target ${target.display} is now version ${targetVersion}, no longer ${prev.targetVersion}: a new release, so the rollout starts again from stable version ${stableVersion}`,
      });
    } else if (prev !== undefined && prev.target !== undefined && prev.target !== targetId && (prev.phase === 'Progressing' || prev.phase === 'Paused')) {
      results.push({ severity: 'Normal', reason: 'RolloutRestarted', message: `target changed mid-rollout; restarting from stable version ${stableVersion}` });
    }
    state = { ...base, phase: 'Progressing', step: 0, weight: 0 };
  }

  const failed = target.resolution.kind === 'failed' ? target.resolution.message : undefined;
  const abortNow = rollout.abort === true ? 'aborted by spec.rollout.abort' : failed !== undefined ? `target failed: ${failed}` : undefined;

  // Aborted: all traffic to stable until the target changes or retry is set.
  if (state.phase === 'Aborted') {
    if (abortNow === undefined && tokenChanged(rollout.retry, state.retryToken)) {
      results.push({ severity: 'Normal', reason: 'RolloutRetried', message: `retrying the rollout to ${target.display} from step 1` });
      state = {
        ...state,
        phase: 'Progressing',
        step: 0,
        weight: 0,
        retryToken: rollout.retry!,
        promoteToken: rollout.promote ?? '',
        resumeToken: rollout.resume ?? '',
      };
      delete state.abortReason;
      delete state.stepStartedAt;
      delete state.nextStepAt;
    } else {
      return aborted(state, stable, target, results, withStable);
    }
  } else if (abortNow !== undefined) {
    state = { ...state, phase: 'Aborted', abortReason: abortNow, weight: 0 };
    delete state.nextStepAt;
    state.retryToken = rollout.retry ?? '';
    results.push({
      severity: 'Warning',
      reason: 'RolloutAborted',
      message: `rollout to ${target.display} aborted, all traffic back to stable version ${stableVersion}: ${abortNow}`,
    });
    return aborted(state, stable, target, results, withStable);
  }

  // The target must resolve before any traffic moves to it.
  if (targetVersion === undefined) {
    const current = currentIntent(stable, target, state);
    return { intent: current, status: withStable({ ...state, phase: 'Progressing' }), results, resolutions: [stable, target], ttlSeconds: TTL_WAIT_SECONDS };
  }

  // A promote is consumed only when acted on: one set while paused waits.
  const promote = tokenChanged(rollout.promote, state.promoteToken);

  // Enter step 1 as soon as the target resolves (not in a call that rebuilt
  // lost state, and not while paused: paused holds the current weight).
  if ((state.step ?? 0) === 0) {
    if (rollout.paused === true) {
      return {
        intent: currentIntent(stable, target, state),
        status: withStable({ ...state, phase: 'Paused' }),
        results,
        resolutions: [stable, target],
        ttlSeconds: TTL_MAX_SECONDS,
      };
    }
    if (rebuiltNow) {
      return { intent: currentIntent(stable, target, state), status: withStable(state), results, resolutions: [stable, target], ttlSeconds: TTL_WAIT_SECONDS };
    }
    state = enterStep(state, 0, steps, now, rollout.resume);
    results.push(stepEvent(input, state, targetVersion));
  }

  const index = (state.step ?? 1) - 1;
  const step = steps[Math.min(index, total - 1)]!;
  // A 0 % step routes nothing to the target: the gate renders no split (at
  // most a zero-weight entry, which observedTraffic reads as none), so that is
  // what "synced at this step" must compare against.
  const intended: Traffic =
    step.weight >= 100
      ? { primary: targetVersion }
      : percentToBasisPoints(step.weight) === 0
        ? { primary: stableVersion }
        : { primary: stableVersion, secondary: { version: targetVersion, percent: step.weight } };
  const syncedAtStep = input.observedAlias !== undefined && aliasSynced(input.observedAlias) && trafficEquals(live, intended);

  // Done: the last step (100%) is live and synced; the target becomes stable.
  if (index >= total - 1 && syncedAtStep) {
    results.push({
      severity: 'Normal',
      reason: 'RolloutPromoted',
      message: `rollout complete: alias ${input.spec.alias.name} sends all traffic to version ${targetVersion}, the new stable`,
    });
    const promoted: RolloutStatus = { ...state, phase: 'Promoted', weight: 100, stableVersion: targetVersion };
    delete promoted.nextStepAt;
    delete promoted.stableRef;
    if (target.ref !== undefined) promoted.stableRef = `${target.ref.namespace}/${target.ref.name}`;
    return { intent: { stable: target }, status: promoted, results, resolutions: [stable, target], ttlSeconds: TTL_MAX_SECONDS };
  }

  const elapsed = now.getTime() - Date.parse(state.stepStartedAt ?? nowIso);
  const pauseDone = step.pauseMs === null ? tokenChanged(rollout.resume, state.resumeToken) : elapsed >= step.pauseMs;
  const paused = rollout.paused === true;
  let ttlSeconds = TTL_WAIT_SECONDS;

  if (promote && !paused) {
    state = { ...enterStep(state, total - 1, steps, now, rollout.resume), promoteToken: rollout.promote! };
    results.push({ severity: 'Normal', reason: 'RolloutPromotedEarly', message: `promote requested: skipping to 100% on version ${targetVersion}` });
  } else if (!paused && !rebuiltNow && syncedAtStep && pauseDone && index < total - 1) {
    if (step.pauseMs === null) state.resumeToken = rollout.resume!;
    state = enterStep(state, index + 1, steps, now, rollout.resume);
    results.push(stepEvent(input, state, targetVersion));
  } else if (syncedAtStep && step.pauseMs !== null && !paused) {
    ttlSeconds = clampTtl((step.pauseMs - elapsed) / 1000);
  }

  const cur = steps[(state.step ?? 1) - 1]!;
  if (paused) {
    state.phase = 'Paused';
    delete state.nextStepAt;
    ttlSeconds = TTL_MAX_SECONDS;
  } else if (cur.pauseMs === null && (state.step ?? 0) < total) {
    state.phase = 'Paused';
    delete state.nextStepAt;
  } else {
    state.phase = 'Progressing';
  }
  return { intent: currentIntent(stable, target, state), status: withStable(state), results, resolutions: [stable, target], ttlSeconds };
}

function refOf(target: SelectorResolution): { stableRef?: string } {
  return target.ref !== undefined ? { stableRef: `${target.ref.namespace}/${target.ref.name}` } : {};
}

function aborted(
  state: RolloutStatus,
  stable: SelectorResolution,
  target: SelectorResolution,
  results: PlanResult[],
  withStable: (s: RolloutStatus) => RolloutStatus,
): RolloutPlan {
  return { intent: { stable }, status: withStable({ ...state, weight: 0 }), results, resolutions: [stable, target], ttlSeconds: TTL_MAX_SECONDS };
}

function currentIntent(stable: SelectorResolution, target: SelectorResolution, state: RolloutStatus): TrafficIntent {
  const weight = state.weight ?? 0;
  return weight > 0 ? { stable, canary: { selector: target, percent: weight } } : { stable };
}

/**
 * The state on entering step `index`. Entering an indefinite pause records
 * the current resume token as seen: only a change made while the rollout
 * waits there resumes it (an earlier change, made during a timed step, was
 * not a decision about this pause).
 */
function enterStep(state: RolloutStatus, index: number, steps: Step[], now: Date, resume: string | undefined): RolloutStatus {
  const step = steps[index]!;
  const next: RolloutStatus = { ...state, step: index + 1, weight: step.weight, stepStartedAt: now.toISOString() };
  if (step.pauseMs === null) next.resumeToken = resume ?? '';
  if (step.pauseMs !== null && step.pauseMs > 0 && index < steps.length - 1) next.nextStepAt = new Date(now.getTime() + step.pauseMs).toISOString();
  else delete next.nextStepAt;
  return next;
}

function stepEvent(input: RolloutInput, state: RolloutStatus, targetVersion: string): PlanResult {
  return {
    severity: 'Normal',
    reason: 'RolloutStep',
    message: `rollout step ${state.step} of ${state.totalSteps}: ${state.weight}% of alias ${input.spec.alias.name} to version ${targetVersion}`,
  };
}

/** Index of the last step whose weight is at or below percent; -1 if none. */
export function stepAtOrBelow(steps: Step[], percent: number): number {
  let found = -1;
  for (const [i, s] of steps.entries()) if (percentToBasisPoints(s.weight) <= percentToBasisPoints(percent)) found = i;
  return found;
}

export function clampTtl(seconds: number): number {
  return Math.max(TTL_MIN_SECONDS, Math.min(TTL_MAX_SECONDS, Math.ceil(seconds)));
}
