// The rollout as a state machine. States are the phases of status.rollout:
//
//   (none) --FirstDeployment--> Stable
//   Stable | Promoted --TargetChanged--> Progressing(step 0 -> 1)
//   Progressing(k) --StepDue--> Progressing(k+1) ... --LastStepSynced--> Promoted
//   Progressing | Paused --Pause/Unpause, indefinite pause--> Paused | Progressing
//   Progressing | Paused --Promote--> Progressing(last step)
//   any rollout --Abort (spec, failed target)--> Aborted --Retry--> Progressing(1)
//   any rollout --TargetIsStable--> Stable (a fast rollback)
//   any rollout --TargetChanged | TargetRepublished--> Progressing(1) from stable
//   (state lost) --> Held --Resume | Retry | Promote | Abort | TargetChanged--> ...
//
// Each transition below is a small pure function from (state, facts) to the
// next state and what to tell the user; `transition` picks the one event
// that applies this call, in priority order. Nothing here reads status or
// the Alias's annotation: plan.ts recalls the state (memory.ts) and hands it in.
import type { PlanResult } from '../plan-contract.js';
import type { SelectorResolution } from '../version-lookup.js';
import type { RolloutSpec } from '../../api/schema.js';
import type { Step } from '../strategy.js';
import { percentOn, trafficEquals, type Traffic } from '../traffic.js';
import { percentToBasisPoints } from '../weights.js';
import { CLOCK_SKEW_TOLERANCE_MS, type RolloutState } from './state.js';
import { evaluate, intervalMs, maxWaitMs, queriesFor, unreadableMs, type StepWindow } from '../analysis/checks.js';
import type { MeasurementQuery, Measurements } from '../analysis/measurements.js';

export const TTL_MIN_SECONDS = 5;
export const TTL_MAX_SECONDS = 300;
export const TTL_WAIT_SECONDS = 15;

/** Everything the machine knows this call, read once. */
export interface Facts {
  aliasName: string;
  steps: Step[];
  target: SelectorResolution;
  /** `version:<n>` or `ref:<namespace>/<name>`. */
  targetId: string;
  targetVersion: string | undefined;
  /** Why the target can never be used (a Terminal Version), if so. */
  targetFailed: string | undefined;
  controls: RolloutSpec;
  /** What the observed Alias routes (its spec). */
  live: Traffic | undefined;
  /** Whether ACK reports the observed Alias synced with exactly this traffic. */
  syncedAt: (traffic: Traffic) => boolean;
  now: Date;
  /** Where the analysis's metrics live (spec.rollout.analysis needs them). */
  metrics: { functionName: string | undefined; region: string | undefined };
  /** CloudWatch's answers in this call; undefined until the handler has run the queries a plan asked for. */
  measurements: Measurements | undefined;
}

/** The outcome of one call: the next state and what to say. */
export interface Move {
  state: RolloutState;
  results: PlanResult[];
  ttlSeconds: number;
  /** Set when live traffic must be held exactly as it is, with this reason. */
  hold?: string;
  /** Measurements the analysis needs before it can decide: the handler runs them and calls again. */
  measure?: MeasurementQuery[];
}

const tokenChanged = (spec: string | undefined, seen: string | undefined) => spec !== undefined && spec !== (seen ?? '');
const isRollingOut = (s: RolloutState) => s.phase === 'Progressing' || s.phase === 'Paused' || s.phase === 'Held';

/**
 * Control tokens are recorded as "seen" when a state is created, so only a
 * later change is a request (a promote set for an earlier rollout must not
 * promote this one). Unset counts as "".
 */
function seenTokens(f: Facts): Pick<RolloutState, 'resumeToken' | 'promoteToken' | 'retryToken'> {
  return { resumeToken: f.controls.resume ?? '', promoteToken: f.controls.promote ?? '', retryToken: f.controls.retry ?? '' };
}

/** A fresh analysis record for a rollout that starts now: only a later change of analysis.skip skips it. */
function freshAnalysis(f: Facts): Pick<RolloutState, 'analysis'> {
  return f.controls.analysis !== undefined ? { analysis: { skipToken: f.controls.analysis.skip ?? '' } } : {};
}

function withTarget(f: Facts): Pick<RolloutState, 'target' | 'targetVersion' | 'totalSteps'> {
  return { target: f.targetId, ...(f.targetVersion !== undefined ? { targetVersion: f.targetVersion } : {}), totalSteps: f.steps.length };
}

function refOf(r: SelectorResolution): string | undefined {
  return r.ref !== undefined ? `${r.ref.namespace}/${r.ref.name}` : undefined;
}

// ---------------------------------------------------------------------------
// States without a recorded rollout.

/** No Alias and no state: the first deployment goes straight to the target, once it resolves. */
export function firstDeployment(f: Facts): Move {
  if (f.targetVersion === undefined) {
    return { state: { ...withTarget(f), ...seenTokens(f), phase: 'Progressing', step: 0, weight: 0 }, results: [], ttlSeconds: TTL_WAIT_SECONDS };
  }
  const stableRef = refOf(f.target);
  return {
    state: {
      ...withTarget(f),
      ...seenTokens(f),
      phase: 'Stable',
      step: f.steps.length,
      weight: 100,
      stableVersion: f.targetVersion,
      ...(stableRef !== undefined ? { stableRef } : {}),
      stepStartedAt: f.now.toISOString(),
    },
    results: [{ severity: 'Normal', reason: 'FirstDeployment', message: `first deployment: alias ${f.aliasName} goes straight to version ${f.targetVersion}` }],
    ttlSeconds: TTL_WAIT_SECONDS,
  };
}

/** A steady state on a version known to take all traffic (a record from manual mode, or the live Alias wholly on it). */
export function stableOn(version: string, f: Facts): RolloutState {
  return { ...seenTokens(f), phase: 'Stable', target: `version:${version}`, targetVersion: version, stableVersion: version, totalSteps: f.steps.length };
}

/**
 * Nothing about the rollout can be trusted and an Alias is live: hold it as
 * it is and wait for an explicit control. Guessing would be worse than
 * waiting: an aborted rollout would start again, a split would move.
 */
export function holdLost(f: Facts, why: string): Move {
  const live = f.live;
  const share = percentOn(live, f.targetVersion);
  const state: RolloutState = {
    ...withTarget(f),
    ...seenTokens(f),
    phase: 'Held',
    step: 0,
    weight: share,
    ...(live !== undefined ? { stableVersion: live.primary } : {}),
  };
  return { state, results: [heldWarning(state, f, why)], ttlSeconds: TTL_MAX_SECONDS, hold: heldMessage(state, f) };
}

function heldMessage(s: RolloutState, f: Facts): string {
  const at = f.live?.secondary?.version === f.targetVersion && f.targetVersion !== undefined ? stepAtOrBelow(f.steps, percentOn(f.live, f.targetVersion)) : -1;
  const resumeFrom = at >= 0 ? `step ${at + 1} of ${f.steps.length} (the step at or below the live share), with its full pause` : 'step 1';
  const stable = s.stableVersion !== undefined ? `stable version ${s.stableVersion}` : 'stable';
  return (
    `the rollout state is lost, so nothing moves until you decide: change spec.rollout.resume to continue from ${resumeFrom}, ` +
    `change spec.rollout.retry to start again from step 1, change spec.rollout.promote to send all traffic to ${f.target.display}, ` +
    `or set spec.rollout.abort: true to send all traffic to ${stable}`
  );
}

function heldWarning(s: RolloutState, f: Facts, why: string): PlanResult {
  return { severity: 'Warning', reason: 'RolloutHeld', message: `holding alias ${f.aliasName} as it is: ${why}. ${heldMessage(s, f)}` };
}

// ---------------------------------------------------------------------------
// The transition function.

export function transition(prev: RolloutState, f: Facts): Move {
  const change = targetChange(prev, f);
  if (change === 'pending') return waitForNewTarget(prev, f);
  const recorded = change === 'same' ? { ...prev, ...withTarget(f) } : prev;
  if (isTargetStable(recorded, f)) return targetIsStable(recorded, f);

  const results: PlanResult[] = [];
  let state = recorded;
  if (change === 'republished' || change === 'changed' || state.phase === 'Stable' || state.phase === 'Promoted') {
    ({ state } = started(prev, f, change, results));
  } else if (state.phase === 'Progressing' || state.phase === 'Paused') {
    state = repaired(state, f, results);
  }

  const abortReason =
    f.controls.abort === true ? 'aborted by spec.rollout.abort' : f.targetFailed !== undefined ? `target failed: ${f.targetFailed}` : undefined;
  if (abortReason !== undefined) return state.phase === 'Aborted' ? stayAborted(state, results) : aborted(state, f, abortReason, results);

  switch (state.phase) {
    case 'Aborted':
      return tokenChanged(f.controls.retry, state.retryToken) ? progress(retried(state, f, results), f, results) : stayAborted(state, results);
    case 'Held':
      return fromHeld(state, f, results);
    default:
      return progress(state, f, results);
  }
}

type TargetChange = 'same' | 'changed' | 'republished' | 'pending';

/**
 * How the target compares with the recorded one. The same number under
 * another name (a ref where a literal was, or back) is the same release; the
 * same Version object with another number (ACK re-published it) is a new one.
 * A new name that does not resolve yet, while the recorded target takes
 * traffic, is "pending": nothing is decided until its number is known.
 */
function targetChange(prev: RolloutState, f: Facts): TargetChange {
  if (prev.target === f.targetId) {
    return prev.targetVersion !== undefined && f.targetVersion !== undefined && prev.targetVersion !== f.targetVersion ? 'republished' : 'same';
  }
  if (f.targetVersion !== undefined) return prev.targetVersion === f.targetVersion ? 'same' : 'changed';
  return isRollingOut(prev) && (prev.weight ?? 0) > 0 ? 'pending' : 'changed';
}

/**
 * The number decides when it is known (a recorded stableRef naming the
 * target's Version does not make another number stable); the ref alone
 * only while the target does not resolve.
 */
function isTargetStable(s: RolloutState, f: Facts): boolean {
  if (f.targetVersion !== undefined) return f.targetVersion === s.stableVersion;
  return s.stableRef !== undefined && f.targetId === `ref:${s.stableRef}`;
}

/** The target is (or resolves to) the stable version: steady, or a fast rollback. */
function targetIsStable(s: RolloutState, f: Facts): Move {
  const results: PlanResult[] = [];
  const stable = s.stableVersion;
  if (stable !== undefined && f.live !== undefined && !trafficEquals(f.live, { primary: stable })) {
    results.push({
      severity: 'Normal',
      reason: 'FastRollback',
      message: `fast rollback: the target is the stable version ${stable} again; all traffic returns to it at once`,
    });
  }
  const state: RolloutState = {
    ...s,
    ...withTarget(f),
    ...(s.phase === 'Stable' || s.phase === 'Promoted' ? {} : seenTokens(f)),
    // A finished rollout keeps saying Promoted until a new target arrives.
    phase: s.phase === 'Promoted' ? 'Promoted' : 'Stable',
    step: f.steps.length,
    weight: 100,
    stepStartedAt: s.phase === 'Stable' || s.phase === 'Promoted' ? (s.stepStartedAt ?? f.now.toISOString()) : f.now.toISOString(),
  };
  delete state.abortReason;
  delete state.nextStepAt;
  return { state, results, ttlSeconds: TTL_MAX_SECONDS };
}

/** A new identity that does not resolve yet while the old target takes traffic: keep everything as it is. */
function waitForNewTarget(prev: RolloutState, f: Facts): Move {
  return {
    state: prev,
    results: [
      {
        severity: 'Normal',
        reason: 'TargetPending',
        message: `the target changed to ${f.target.display}, which does not resolve yet; keeping the rollout to version ${prev.targetVersion ?? '?'} as it is until it does (a new release restarts from stable, the same number continues)`,
      },
    ],
    ttlSeconds: TTL_WAIT_SECONDS,
  };
}

/** A rollout starts from the current stable, at step 0. */
function started(prev: RolloutState, f: Facts, change: TargetChange, results: PlanResult[]): { state: RolloutState } {
  if (change === 'republished') {
    results.push({
      severity: 'Warning',
      reason: 'TargetRepublished',
      message: `the target ${f.target.display} is now version ${f.targetVersion}, no longer ${prev.targetVersion}: a new release, so the rollout starts again from stable version ${prev.stableVersion}`,
    });
  } else if (change === 'changed' && isRollingOut(prev)) {
    results.push({
      severity: 'Normal',
      reason: 'RolloutRestarted',
      message: `target changed mid-rollout; restarting from stable version ${prev.stableVersion}`,
    });
  }
  const state: RolloutState = {
    ...withTarget(f),
    ...seenTokens(f),
    ...freshAnalysis(f),
    phase: 'Progressing',
    step: 0,
    weight: 0,
    ...(prev.stableVersion !== undefined ? { stableVersion: prev.stableVersion } : {}),
    ...(prev.stableRef !== undefined ? { stableRef: prev.stableRef } : {}),
  };
  return { state };
}

/**
 * A recorded rollout the spec moved under: a strategy with other steps
 * continues from the step at or below the current weight with a fresh pause;
 * a step that started in the future (a forged record, a clock far ahead)
 * has its pause run from now. Small skew between clocks is tolerated.
 */
function repaired(s: RolloutState, f: Facts, results: PlanResult[]): RolloutState {
  const total = f.steps.length;
  let state = s;
  const at = state.step ?? 0;
  if (at > 0 && (at > total || percentToBasisPoints(f.steps[at - 1]!.weight) !== percentToBasisPoints(state.weight ?? 0))) {
    const index = stepAtOrBelow(f.steps, state.weight ?? 0);
    state = index >= 0 ? enterStep(state, index, f) : { ...state, step: 0 };
    results.push({
      severity: 'Normal',
      reason: 'StrategyChanged',
      message: `the rollout strategy changed mid-rollout; continuing from step ${index + 1} of ${total}${index >= 0 ? ` (${f.steps[index]!.weight}%)` : ''}`,
    });
  }
  const startedAt = state.stepStartedAt !== undefined ? Date.parse(state.stepStartedAt) : Number.NaN;
  if (startedAt > f.now.getTime() + CLOCK_SKEW_TOLERANCE_MS) {
    results.push({
      severity: 'Warning',
      reason: 'StepStartInFuture',
      message: `status.rollout.stepStartedAt ${state.stepStartedAt} is in the future; the step's pause runs from now`,
    });
    const index = (state.step ?? 0) - 1;
    state =
      index >= 0 && index < total ? { ...enterStep(state, index, f), resumeToken: state.resumeToken ?? '' } : { ...state, stepStartedAt: f.now.toISOString() };
  }
  return state;
}

function aborted(s: RolloutState, f: Facts, reason: string, results: PlanResult[]): Move {
  const state: RolloutState = { ...s, phase: 'Aborted', abortReason: reason, weight: 0, retryToken: f.controls.retry ?? '' };
  delete state.nextStepAt;
  const stable = state.stableVersion !== undefined ? `stable version ${state.stableVersion}` : 'stable';
  results.push({ severity: 'Warning', reason: 'RolloutAborted', message: `rollout to ${f.target.display} aborted, all traffic back to ${stable}: ${reason}` });
  if (state.stableVersion === undefined) return { state, results, ttlSeconds: TTL_MAX_SECONDS, hold: 'the stable version is not known' };
  return { state, results, ttlSeconds: TTL_MAX_SECONDS };
}

function stayAborted(s: RolloutState, results: PlanResult[]): Move {
  const move: Move = { state: { ...s, weight: 0 }, results, ttlSeconds: TTL_MAX_SECONDS };
  return s.stableVersion === undefined ? { ...move, hold: 'the rollout is aborted and the stable version is not known' } : move;
}

/** Retry (an aborted or held rollout): from step 1, with tokens seen now. */
function retried(s: RolloutState, f: Facts, results: PlanResult[]): RolloutState {
  results.push({ severity: 'Normal', reason: 'RolloutRetried', message: `retrying the rollout to ${f.target.display} from step 1` });
  const state: RolloutState = { ...s, ...seenTokens(f), phase: 'Progressing', step: 0, weight: 0 };
  delete state.abortReason;
  delete state.stepStartedAt;
  delete state.nextStepAt;
  delete state.analysis;
  return { ...state, ...freshAnalysis(f) };
}

/** Held: only an explicit control moves on (abort was handled before). */
function fromHeld(s: RolloutState, f: Facts, results: PlanResult[]): Move {
  const stay = (): Move => ({
    state: s,
    results: [...results, heldWarning(s, f, 'the rollout state was lost earlier')],
    ttlSeconds: TTL_MAX_SECONDS,
    hold: heldMessage(s, f),
  });
  if (s.stableVersion === undefined) return stay();
  if (tokenChanged(f.controls.retry, s.retryToken)) return progress(retried(s, f, results), f, results);
  if (tokenChanged(f.controls.promote, s.promoteToken)) return progress({ ...s, phase: 'Progressing' }, f, results);
  if (tokenChanged(f.controls.resume, s.resumeToken)) {
    // Continue from the step at or below the live share, with its full pause
    // (below the first step, or no share: from step 1).
    const share = f.live?.secondary?.version === f.targetVersion ? percentOn(f.live, f.targetVersion) : 0;
    const index = f.targetVersion !== undefined ? stepAtOrBelow(f.steps, share) : -1;
    const state: RolloutState = { ...s, ...seenTokens(f), phase: 'Progressing', step: 0, weight: 0 };
    results.push({
      severity: 'Normal',
      reason: 'RolloutResumed',
      message: `resumed by spec.rollout.resume: continuing from step ${Math.max(index, 0) + 1} of ${f.steps.length}`,
    });
    if (index < 0) return progress(state, f, results);
    const entered = enterStep(state, index, f);
    results.push(stepEvent(f, entered, f.targetVersion!));
    return { state: entered, results, ttlSeconds: TTL_WAIT_SECONDS };
  }
  return stay();
}

/**
 * A rollout under way: wait for the target, enter step 1, then advance one
 * step when it is due, promote, or complete. At most one step per call.
 */
function progress(s: RolloutState, f: Facts, results: PlanResult[]): Move {
  const total = f.steps.length;
  const paused = f.controls.paused === true;
  const targetVersion = f.targetVersion;
  const stableVersion = s.stableVersion;
  // The target must resolve before any traffic moves to it.
  if (targetVersion === undefined || stableVersion === undefined) return { state: { ...s, phase: 'Progressing' }, results, ttlSeconds: TTL_WAIT_SECONDS };

  let state = s;
  if ((state.step ?? 0) === 0) {
    if (paused) return { state: { ...state, phase: 'Paused' }, results, ttlSeconds: TTL_MAX_SECONDS };
    state = enterStep(state, 0, f);
    results.push(stepEvent(f, state, targetVersion));
  }
  // Promote is consumed only when acted on: one set while paused waits.
  const promote = tokenChanged(f.controls.promote, state.promoteToken);
  const index = (state.step ?? 1) - 1;
  const step = f.steps[Math.min(index, total - 1)]!;
  const syncedAtStep = f.syncedAt(stepTraffic(step.weight, stableVersion, targetVersion));

  // Done: the last step (100%) is live and synced; the target becomes stable.
  if (index >= total - 1 && syncedAtStep) return completed(state, f, targetVersion, results);

  const elapsed = f.now.getTime() - Date.parse(state.stepStartedAt ?? f.now.toISOString());
  const pauseDone = step.pauseMs === null ? tokenChanged(f.controls.resume, state.resumeToken) : elapsed >= step.pauseMs;
  let ttlSeconds = TTL_WAIT_SECONDS;

  // Analysis: an event source of its own. It never moves traffic forward;
  // it holds a step, or aborts the rollout like spec.rollout.abort.
  const analysis = analyse(
    state,
    f,
    { weight: step.weight, pauseMs: step.pauseMs, elapsed, pauseDone, synced: syncedAtStep, last: index >= total - 1 },
    results,
  );
  if (analysis.measure !== undefined) return { state, results, ttlSeconds, measure: analysis.measure };
  state = analysis.state;
  if (analysis.abort !== undefined) return aborted(state, f, analysis.abort, results);

  if (promote && !paused) {
    state = { ...enterStep(state, total - 1, f), promoteToken: f.controls.promote! };
    results.push({ severity: 'Normal', reason: 'RolloutPromotedEarly', message: `promote requested: skipping to 100% on version ${targetVersion}` });
  } else if (!paused && syncedAtStep && pauseDone && analysis.allows && index < total - 1) {
    state = enterStep({ ...state, ...(step.pauseMs === null ? { resumeToken: f.controls.resume! } : {}) }, index + 1, f);
    results.push(stepEvent(f, state, targetVersion));
  } else if (syncedAtStep && step.pauseMs !== null && !paused && !pauseDone) {
    ttlSeconds = clampTtl((step.pauseMs - elapsed) / 1000);
  }
  // Come back when the next measurement is due, if that is sooner.
  if (analysis.nextInMs !== undefined && !paused) ttlSeconds = Math.min(ttlSeconds, clampTtl(analysis.nextInMs / 1000));

  const current = f.steps[(state.step ?? 1) - 1]!;
  if (paused || (current.pauseMs === null && (state.step ?? 0) < total)) {
    state = { ...state, phase: 'Paused' };
    delete state.nextStepAt;
    if (paused) ttlSeconds = TTL_MAX_SECONDS;
  } else {
    state = { ...state, phase: 'Progressing' };
  }
  return { state, results, ttlSeconds };
}

interface StepFacts {
  weight: number;
  pauseMs: number | null;
  elapsed: number;
  pauseDone: boolean;
  synced: boolean;
  last: boolean;
}

interface AnalysisOutcome {
  state: RolloutState;
  /** Whether analysis lets this step end (its pause and sync are checked by the caller). */
  allows: boolean;
  abort?: string;
  measure?: MeasurementQuery[];
  /** When the next measurement is due. */
  nextInMs?: number;
}

/**
 * The analysis of the current step. A measurement is due every interval
 * while the step's traffic is synced, and once more when the pause has
 * elapsed (so the decision to move on counts the whole pause). An alarm, or
 * more failed measurements than failureLimit, aborts; an unreadable
 * CloudWatch holds the step until unreadableFor, then aborts; too few
 * invocations hold it until maxWaitForInvocations, then fail or pass.
 */
function analyse(recalled: RolloutState, f: Facts, step: StepFacts, results: PlanResult[]): AnalysisOutcome {
  let s = recalled;
  const spec = f.controls.analysis;
  if (spec === undefined) return { state: s, allows: true };
  let record = s.analysis ?? { skipToken: '' };
  if (record.result === 'Skipped') return { state: s, allows: true };
  if (tokenChanged(spec.skip, record.skipToken)) {
    results.push({
      severity: 'Warning',
      reason: 'AnalysisSkipped',
      message: 'analysis skipped for the rest of this rollout: spec.rollout.analysis.skip changed',
    });
    return { state: { ...s, analysis: { ...record, skipToken: spec.skip!, result: 'Skipped' } }, allows: true };
  }
  // The final 100 % step has no canary to compare and nothing after it: it completes once synced.
  if (!step.synced || step.last) return { state: s, allows: true };

  const now = f.now.getTime();
  const start = Date.parse(s.stepStartedAt ?? f.now.toISOString());
  // An indefinite pause ends when resume changes: the first call that sees it records when,
  // so the sample's deadline and the cadence run from then, not from every later call.
  const pauseEndedAt = step.pauseMs === null && step.pauseDone ? (record.pauseEndedAt ?? f.now.toISOString()) : undefined;
  const pauseEnd = step.pauseMs !== null ? start + step.pauseMs : pauseEndedAt !== undefined ? Date.parse(pauseEndedAt) : now;
  if (pauseEndedAt !== undefined && record.pauseEndedAt === undefined) {
    record = { ...record, pauseEndedAt };
    s = { ...s, analysis: record };
  }
  const last = record.lastMeasuredAt !== undefined ? Date.parse(record.lastMeasuredAt) : undefined;
  const interval = intervalMs(spec);
  const due = last === undefined || last < start || now - last >= interval || (step.pauseDone && last < pauseEnd);
  if (!due) {
    return { state: s, allows: record.result === 'Passing', nextInMs: Math.max(0, last + interval - now) };
  }
  const window: StepWindow = {
    analysis: spec,
    functionName: f.metrics.functionName,
    aliasName: f.aliasName,
    region: f.metrics.region,
    canaryVersion: f.targetVersion!,
    stableVersion: s.stableVersion!,
    compare: step.weight > 0 && step.weight < 100,
    start: new Date(start),
    now: f.now,
  };
  if (f.measurements === undefined) {
    const queries = queriesFor(window);
    if (queries.length > 0) return { state: s, allows: false, measure: queries };
  }
  const verdict = evaluate(window, f.measurements ?? {});
  const measured = {
    ...record,
    lastMeasuredAt: f.now.toISOString(),
    checks: verdict.checks.slice(0, 20),
    ...('canaryInvocations' in verdict && verdict.canaryInvocations !== undefined ? { canaryInvocations: verdict.canaryInvocations } : {}),
  };
  delete measured.unreadableSince;
  delete measured.message;
  const next = (analysis: NonNullable<RolloutState['analysis']>, allows: boolean, abort?: string): AnalysisOutcome => ({
    state: { ...s, analysis },
    allows,
    nextInMs: interval,
    ...(abort !== undefined ? { abort } : {}),
  });
  switch (verdict.kind) {
    case 'alarm':
      return next({ ...measured, result: 'Failing', message: verdict.reason }, false, `analysis: ${verdict.reason}`);
    case 'fail': {
      const failures = (record.failures ?? 0) + 1;
      const limit = spec.failureLimit;
      if (failures > limit) {
        return next(
          { ...measured, failures, result: 'Failing', message: verdict.reason },
          false,
          `analysis failed ${failures} time(s), more than failureLimit ${limit}: ${verdict.reason}`,
        );
      }
      results.push({
        severity: 'Warning',
        reason: 'AnalysisFailed',
        message: `analysis failed (${failures} of ${limit} allowed; one more aborts): ${verdict.reason}`,
      });
      return next({ ...measured, failures, result: 'Failing', message: verdict.reason }, false);
    }
    case 'unreadable': {
      const since = record.unreadableSince ?? f.now.toISOString();
      const forMs = now - Date.parse(since);
      if (forMs >= unreadableMs(spec)) {
        return next(
          { ...measured, unreadableSince: since, result: 'Unreadable', message: verdict.reason },
          false,
          `analysis: CloudWatch unreadable since ${since}: ${verdict.reason}`,
        );
      }
      results.push({ severity: 'Warning', reason: 'AnalysisUnreadable', message: `holding step ${s.step}: ${verdict.reason}` });
      return next({ ...measured, unreadableSince: since, result: 'Unreadable', message: verdict.reason }, false);
    }
    case 'waiting': {
      if (step.pauseDone && now - pauseEnd >= maxWaitMs(spec)) {
        if (spec.onTooFewInvocations === 'Pass') {
          results.push({
            severity: 'Normal',
            reason: 'AnalysisSampleTimeout',
            message: `moving on after waiting for the sample: ${verdict.reason} (analysis.onTooFewInvocations: Pass)`,
          });
          return next({ ...measured, result: 'Passing', message: verdict.reason }, true);
        }
        return next(
          { ...measured, result: 'Failing', message: verdict.reason },
          false,
          `analysis: too few invocations after waiting ${spec.maxWaitForInvocations ?? '1h'}: ${verdict.reason}`,
        );
      }
      return next({ ...measured, result: 'Waiting', message: verdict.reason }, false);
    }
    case 'pass':
      return next({ ...measured, result: 'Passing' }, true);
  }
}

function completed(s: RolloutState, f: Facts, targetVersion: string, results: PlanResult[]): Move {
  results.push({
    severity: 'Normal',
    reason: 'RolloutPromoted',
    message: `rollout complete: alias ${f.aliasName} sends all traffic to version ${targetVersion}, the new stable`,
  });
  const state: RolloutState = { ...s, phase: 'Promoted', weight: 100, stableVersion: targetVersion };
  delete state.nextStepAt;
  delete state.stableRef;
  const ref = refOf(f.target);
  if (ref !== undefined) state.stableRef = ref;
  return { state, results, ttlSeconds: TTL_MAX_SECONDS };
}

/**
 * What a step at `weight` routes. A 0 % step routes nothing to the target:
 * the gate renders no split (at most a zero-weight entry, which
 * observedTraffic reads as none), so that is what "synced at this step"
 * compares against.
 */
function stepTraffic(weight: number, stableVersion: string, targetVersion: string): Traffic {
  if (weight >= 100) return { primary: targetVersion };
  if (percentToBasisPoints(weight) === 0) return { primary: stableVersion };
  return { primary: stableVersion, secondary: { version: targetVersion, percent: weight } };
}

/**
 * The state on entering step `index`. Entering an indefinite pause records
 * the current resume token as seen: only a change made while the rollout
 * waits there resumes it (an earlier change, made during a timed step, was
 * not a decision about this pause).
 */
function enterStep(state: RolloutState, index: number, f: Facts): RolloutState {
  const step = f.steps[index]!;
  const next: RolloutState = { ...state, step: index + 1, weight: step.weight, stepStartedAt: f.now.toISOString() };
  // A step's analysis starts over (its window is the step); failures count for the whole rollout.
  if (next.analysis !== undefined) {
    next.analysis = { ...next.analysis };
    delete next.analysis.canaryInvocations;
    delete next.analysis.lastMeasuredAt;
    delete next.analysis.pauseEndedAt;
    if (next.analysis.result !== 'Skipped') delete next.analysis.result;
  }
  if (step.pauseMs === null) next.resumeToken = f.controls.resume ?? '';
  if (step.pauseMs !== null && step.pauseMs > 0 && index < f.steps.length - 1) next.nextStepAt = new Date(f.now.getTime() + step.pauseMs).toISOString();
  else delete next.nextStepAt;
  return next;
}

function stepEvent(f: Facts, state: RolloutState, targetVersion: string): PlanResult {
  return {
    severity: 'Normal',
    reason: 'RolloutStep',
    message: `rollout step ${state.step} of ${state.totalSteps}: ${state.weight}% of alias ${f.aliasName} to version ${targetVersion}`,
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
