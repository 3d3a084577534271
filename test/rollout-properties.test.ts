// Property tests of the rollout invariants (issue 10) over generated sequences
// of reconciles with lost, stale, forged and reordered XR status, a stripped or
// corrupted rollout-state annotation on the Alias, dropped ResourceSynced
// conditions and deleted or re-published Versions, through runFunction and the
// reconcile simulator (test/support/rollout-sim.ts).
//
// Every invariant is judged from facts the simulator keeps itself (the spec
// at each call, the observed objects, the clock, when live traffic last
// changed, what the function last wrote), never from the status or results
// the planner returns:
//   a. traffic changes only for a cause: a due step (its pause elapsed since
//      live traffic took its current value; then only to the next step), a
//      control changed in spec since then, a Version event, a change of the
//      live Alias by someone else, or the first deployment;
//   b. with a perturbed status, the rendered traffic is the live traffic or
//      the traffic rendered with the true status (the one last written);
//   c. an aborted rollout never sends traffic to its target again without a
//      retry or a target change;
//   d. a live Alias, and every composed Version it or the rendered Alias
//      names, stays in desired;
//   e. no status and no annotation content crashes the function or makes a
//      response that cannot be encoded;
//   f. earlier steps' desired resources pass through unchanged, or the call is
//      a Fatal ResourceNameConflict naming each clashing resource.
// Some of these fail until the rollout state machine lands (issue 10): the
// counterexamples fast-check prints are the defects.
import fc from 'fast-check';
import { RunFunctionResponse, Severity } from '@crossplane-org/function-sdk-typescript';
import { describe, expect, it } from 'vitest';
import { runFunction } from '../function/handler.js';
import { encodeRunFunctionResponse } from '../function/wire/response.js';
import { crossesTheWire, junkArb, same } from './support/arbitraries.js';
import {
  ACK_API,
  ALIAS,
  ROLLOUT_STATE_ANNOTATION,
  RolloutSim,
  ackPublished,
  brief,
  handlerDriver,
  planDriver,
  progressiveSpec,
  resultsWith,
  weightOn,
  type Json,
  type KubeObject,
  type Tick,
} from './support/rollout-sim.js';

// Fixed so CI is reproducible; FLC_PROPERTY_SEED explores others (seeds 7 and 8 found the two cases in the closing tests).
const SEED = Number(process.env['FLC_PROPERTY_SEED'] ?? 101010);
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

type Traffic = NonNullable<Tick['rendered']>;

// ---------------------------------------------------------------------------
// Strategies, with the schedule the oracle expects (written out here, not
// taken from function/core/strategy.ts).

interface StepPlan {
  weight: number;
  /** null: until resumed. */
  pauseMs: number | null;
}
const STRATEGIES: { spec: Json; steps: StepPlan[] }[] = [
  {
    spec: { preset: 'Canary10Percent5Minutes' },
    steps: [
      { weight: 10, pauseMs: 5 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
  },
  {
    spec: { preset: 'Linear10PercentEvery1Minute' },
    steps: [...Array.from({ length: 9 }, (_, i) => ({ weight: (i + 1) * 10, pauseMs: MIN })), { weight: 100, pauseMs: 0 }],
  },
  { spec: { preset: 'AllAtOnce' }, steps: [{ weight: 100, pauseMs: 0 }] },
  {
    spec: {
      steps: [
        { weight: 10, pause: { duration: '1m' } },
        { weight: 50, pause: { duration: '2m' } },
      ],
    },
    steps: [
      { weight: 10, pauseMs: MIN },
      { weight: 50, pauseMs: 2 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
  },
  {
    spec: {
      steps: [
        { weight: 20, pause: {} },
        { weight: 60, pause: { duration: '30s' } },
      ],
    },
    steps: [
      { weight: 20, pauseMs: null },
      { weight: 60, pauseMs: 30 * S },
      { weight: 100, pauseMs: 0 },
    ],
  },
  {
    spec: { steps: [{ weight: 0, pause: { duration: '1m' } }, { weight: 30 }] },
    steps: [
      { weight: 0, pauseMs: MIN },
      { weight: 30, pauseMs: 0 },
      { weight: 100, pauseMs: 0 },
    ],
  },
];

// ---------------------------------------------------------------------------
// Generated sequences

type Wait = 'ttl' | '1s' | '15s' | '1m' | '5m' | '1h';
type Action =
  | { target: '5' | '6' | '7' }
  | { abort: boolean | null }
  | { retry: string }
  | { promote: string }
  | { resume: string }
  | { paused: boolean }
  | { strategy: number }
  | { republish: string }
  | { terminal: boolean }
  | { deleteVersion: string | null }
  | { syncHeld: boolean };
/** A forged field of status.rollout; { isoIn: s } is a time s seconds from the simulated now. */
type Forgery = [field: string, value: unknown];
type Perturbation =
  | { status: 'wipe' | 'delete' }
  | { stale: number }
  | { reorder: number }
  | { replay: number }
  | { forge: Forgery[] }
  | { junkRollout: unknown }
  | { unknownKey: [string, unknown] }
  | { annotation: 'strip' }
  | { staleAnnotation: number }
  | { annotationValue: unknown }
  | { dropSynced: 'alias' | 'checkout-v6' };
interface Step {
  wait: Wait;
  action: Action | null;
  perturb: Perturbation[];
}
interface Scenario {
  /** Targets by versionRef to the Versions the XR publishes (checkout-v6, checkout-v7), else literal. */
  refs: boolean;
  publishAfter: number;
  strategy: number;
  syncDelay: number;
  steps: Step[];
}

const tokenArb = fc.constantFrom('a', 'b', 'c');
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('5', '6', '6', '7').map((target) => ({ target })) },
  { weight: 3, arbitrary: fc.constant({ abort: true }) },
  { weight: 2, arbitrary: fc.constantFrom(false, null).map((abort) => ({ abort })) },
  { weight: 2, arbitrary: tokenArb.map((retry) => ({ retry })) },
  { weight: 2, arbitrary: tokenArb.map((promote) => ({ promote })) },
  { weight: 2, arbitrary: tokenArb.map((resume) => ({ resume })) },
  { weight: 2, arbitrary: fc.boolean().map((paused) => ({ paused })) },
  { weight: 1, arbitrary: fc.nat({ max: STRATEGIES.length - 1 }).map((strategy) => ({ strategy })) },
  { weight: 1, arbitrary: fc.constantFrom('16', '26').map((republish) => ({ republish })) },
  { weight: 1, arbitrary: fc.boolean().map((terminal) => ({ terminal })) },
  { weight: 1, arbitrary: fc.constantFrom(null, '36').map((deleteVersion) => ({ deleteVersion })) },
  { weight: 1, arbitrary: fc.boolean().map((syncHeld) => ({ syncHeld })) },
);

const isoIn = (seconds: number) => ({ isoIn: seconds });
const forgeryArb: fc.Arbitrary<Forgery> = fc.oneof(
  fc.tuple(fc.constant('phase'), fc.constantFrom('Progressing', 'Paused', 'Promoted', 'Aborted', 'Stable', 'Bogus', 'aborted', 3)),
  fc.tuple(fc.constant('step'), fc.constantFrom(-1, 0, 1, 2, 3, 5, 10, 99, 1.5, 1e308, 2 ** 53 + 2, Number.NaN, 'NaN', '3', null)),
  fc.tuple(fc.constant('totalSteps'), fc.constantFrom(-1, 0, 1, 2, 3, 10, 1e308, 'NaN')),
  fc.tuple(fc.constant('weight'), fc.constantFrom(0, 10, 20, 50, 90, 100, -10, 150, 1e308, Number.POSITIVE_INFINITY, 'NaN', '50')),
  fc.tuple(
    fc.constantFrom('stepStartedAt', 'nextStepAt'),
    fc.oneof(
      fc.constantFrom(-HOUR / S, -10 * 60, -30, 30, 10 * 60, 24 * 3600).map(isoIn),
      fc.constantFrom('garbage', '', 'NaN', '1970-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', 0, 1e308),
    ),
  ),
  fc.tuple(fc.constant('stableVersion'), fc.constantFrom('3', '5', '6', '7', '16', '$LATEST', '', '05', 5, null)),
  fc.tuple(fc.constant('stableRef'), fc.constantFrom('team-a/checkout-v6', 'team-a/checkout-v7', 'team-b/checkout-v6', 'nonsense', 7)),
  fc.tuple(fc.constantFrom('target', 'targetVersion'), fc.constantFrom('version:6', 'version:7', 'ref:team-a/checkout-v6', 'version:5', '6', '7', 6)),
  fc.tuple(fc.constantFrom('resumeToken', 'promoteToken', 'retryToken'), fc.constantFrom('', 'a', 'b', 'c', 0, null)),
  fc.tuple(fc.constant('abortReason'), fc.constantFrom('aborted by spec.rollout.abort', '', 42)),
);
const UNKNOWN_KEYS = ['observedGeneration', 'lastTransitionTime', 'conditions', 'x-future-field'];
const unknownKeyArb: fc.Arbitrary<[string, unknown]> = fc.tuple(fc.constantFrom(...UNKNOWN_KEYS), fc.constantFrom(7, 0, -1, 1e308, 'soon', null, [], { a: 1 }));
/** Annotation contents: JSON of every shape, half-JSON, a forged state, non-strings. */
const annotationValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    'null',
    '[]',
    '"Aborted"',
    '{"phase":"Progressing","step":1,"weight":10}',
    '{"phase":"Promoted","stableVersion":"6"}',
    '{"phase":"Aborted","step":-1,"weight":1e309}',
    '{"__proto__":{"phase":"Aborted"}}',
  ),
  fc.string({ maxLength: 20 }),
  junkArb.map((j) => {
    try {
      return JSON.stringify(j) ?? 'undefined';
    } catch {
      return 'unserialisable';
    }
  }),
  fc.constantFrom(7, true, null, { phase: 'Aborted' }, ['x']),
);

function perturbationArb(o: { replay: boolean }): fc.Arbitrary<Perturbation> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('wipe', 'delete').map((status) => ({ status })) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 8 }).map((stale) => ({ stale })) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 }).map((reorder) => ({ reorder })) },
    { weight: o.replay ? 1 : 0, arbitrary: fc.integer({ min: 1, max: 4 }).map((replay) => ({ replay })) },
    { weight: 4, arbitrary: fc.array(forgeryArb, { minLength: 1, maxLength: 3 }).map((forge) => ({ forge })) },
    { weight: 1, arbitrary: junkArb.map((junkRollout) => ({ junkRollout })) },
    { weight: 2, arbitrary: unknownKeyArb.map((unknownKey) => ({ unknownKey })) },
    { weight: 2, arbitrary: fc.constant({ annotation: 'strip' }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }).map((staleAnnotation) => ({ staleAnnotation })) },
    { weight: 2, arbitrary: annotationValueArb.map((annotationValue) => ({ annotationValue })) },
    { weight: 1, arbitrary: fc.constantFrom('alias', 'checkout-v6').map((dropSynced) => ({ dropSynced })) },
  );
}

function stepArb(o: { replay: boolean; clean?: boolean }): fc.Arbitrary<Step> {
  return fc.record({
    wait: fc.constantFrom<Wait>('ttl', 'ttl', 'ttl', '1s', '15s', '1m', '5m', '1h'),
    action: fc.option(actionArb, { freq: 2 }),
    perturb:
      o.clean === true
        ? fc.constant<Perturbation[]>([])
        : fc.oneof(
            { weight: 3, arbitrary: fc.constant<Perturbation[]>([]) },
            { weight: 2, arbitrary: fc.array(perturbationArb(o), { minLength: 1, maxLength: 2 }) },
          ),
  });
}

const quiet: Step = { wait: '1m', action: null, perturb: [] };

function scenarioArb(o: { replay: boolean; maxSteps?: number; abortAt?: boolean; clean?: boolean } = { replay: true }): fc.Arbitrary<Scenario> {
  const steps = fc.array(stepArb(o), { maxLength: o.maxSteps ?? 24 });
  return fc
    .record({
      refs: fc.boolean(),
      publishAfter: fc.nat({ max: 2 }),
      strategy: fc.nat({ max: STRATEGIES.length - 1 }),
      syncDelay: fc.nat({ max: 1 }),
      before: steps,
      after: o.abortAt === true ? steps : fc.constant([] as Step[]),
    })
    .map(({ before, after, ...rest }) => ({
      ...rest,
      // Every sequence starts a rollout to 6; with abortAt, every one aborts it later.
      steps: [
        { ...quiet, action: { target: '6' } },
        ...before,
        ...(o.abortAt === true ? [{ ...quiet, wait: 'ttl' as Wait, action: { abort: true } }] : []),
        ...after,
      ],
    }));
}

// ---------------------------------------------------------------------------
// Running a scenario

interface Run {
  sim: RolloutSim;
  /** For ticks (by n) whose status was perturbed: what the same call renders with the true status. */
  probes: Map<number, { rendered: Traffic | undefined; fatal: boolean }>;
  /** For ticks (by n): the earlier steps' resources this function would render too (the planner alone, same state). */
  clashes: Map<number, string[]>;
  /** The tick index where the generated steps begin (after the first deployment). */
  first: number;
}

function selectorOf(sc: Scenario, v: '5' | '6' | '7'): Json {
  return sc.refs && v !== '5' ? { versionRef: { from: { name: `checkout-v${v}` } } } : { version: v };
}

function resolveTimes(v: unknown, now: Date): unknown {
  return typeof v === 'object' && v !== null && 'isoIn' in v ? new Date(now.getTime() + (v as { isoIn: number }).isoIn * S).toISOString() : v;
}

function perturb(sim: RolloutSim, p: Perturbation): void {
  if ('status' in p) sim.setStatus(p.status === 'wipe' ? {} : undefined, p.status === 'wipe' ? 'status lost' : 'status deleted');
  else if ('stale' in p) sim.staleStatus(p.stale);
  else if ('reorder' in p) sim.reorder(p.reorder, 'status');
  else if ('replay' in p) sim.reorder(p.replay, 'response');
  else if ('forge' in p) {
    const written = structuredClone(sim.writtenStatus ?? {});
    const rollout: Json = typeof written.rollout === 'object' && written.rollout !== null ? (written.rollout as Json) : {};
    for (const [field, value] of p.forge) rollout[field] = resolveTimes(value, sim.now);
    sim.setStatus({ ...written, rollout }, 'status.rollout forged');
  } else if ('junkRollout' in p) sim.setStatus({ ...(sim.status ?? {}), rollout: p.junkRollout }, 'status.rollout is junk');
  else if ('unknownKey' in p) sim.editRolloutStatus((r) => (r[p.unknownKey[0]] = p.unknownKey[1]), 'unknown key in status.rollout');
  else if ('annotation' in p) sim.setAliasAnnotation(ROLLOUT_STATE_ANNOTATION, undefined);
  else if ('staleAnnotation' in p) {
    const t = sim.history[sim.history.length - p.staleAnnotation];
    const meta = t?.alias?.metadata as Json | undefined;
    const annotations = meta?.annotations as Json | undefined;
    sim.setAliasAnnotation(ROLLOUT_STATE_ANNOTATION, annotations?.[ROLLOUT_STATE_ANNOTATION]);
  } else if ('annotationValue' in p) sim.setAliasAnnotation(ROLLOUT_STATE_ANNOTATION, p.annotationValue);
  else sim.dropSynced(p.dropSynced);
}

function act(sim: RolloutSim, sc: Scenario, a: Action): void {
  const r = sim.rollout;
  if ('target' in a) r.target = selectorOf(sc, a.target);
  else if ('abort' in a) {
    if (a.abort === null) delete r.abort;
    else r.abort = a.abort;
  } else if ('retry' in a) r.retry = a.retry;
  else if ('promote' in a) r.promote = a.promote;
  else if ('resume' in a) r.resume = a.resume;
  else if ('paused' in a) r.paused = a.paused;
  else if ('strategy' in a) r.strategy = structuredClone(STRATEGIES[a.strategy]!.spec);
  else if ('republish' in a) sim.republish('checkout-v6', a.republish);
  else if ('terminal' in a) sim.setVersion('checkout-v6', { terminal: a.terminal ? 'InvalidParameterValueException: code too large' : undefined });
  else if ('deleteVersion' in a) sim.deleteVersion('checkout-v6', a.deleteVersion ?? undefined);
  else sim.aliasSyncHeld = a.syncHeld;
}

function wait(sim: RolloutSim, w: Wait): void {
  if (w === 'ttl') sim.advanceByTtl();
  else sim.advance({ '1s': S, '15s': 15 * S, '1m': MIN, '5m': 5 * MIN, '1h': HOUR }[w]);
}

function run(sc: Scenario, o: { probe?: boolean; prior?: Record<string, KubeObject> } = {}): Run {
  const spec = progressiveSpec({ target: '5', versions: [{ name: 'checkout-v6' }, { name: 'checkout-v7' }] });
  (spec.rollout as Json).strategy = structuredClone(STRATEGIES[sc.strategy]!.spec);
  const sim = new RolloutSim({
    spec,
    versions: { 'checkout-v6': { version: '6', publishAfter: sc.publishAfter }, 'checkout-v7': { version: '7' } },
    aliasSyncDelay: sc.syncDelay,
    driver: handlerDriver,
  });
  // The first deployment: version 5, synced.
  sim.tick();
  sim.advance(15 * S).tick();
  if (o.prior !== undefined) sim.priorDesired = structuredClone(o.prior);
  const probes: Run['probes'] = new Map();
  const clashes: Run['clashes'] = new Map();
  const first = sim.history.length;
  for (const step of sc.steps) {
    wait(sim, step.wait);
    if (step.action !== null) act(sim, sc, step.action);
    for (const p of step.perturb) perturb(sim, p);
    const n = sim.history.length + 1;
    if (o.probe === true && !same(sim.status, sim.writtenStatus)) {
      const p = sim.probe({ status: sim.writtenStatus });
      probes.set(n, { rendered: p.rendered, fatal: p.outcome.fatal !== undefined });
    }
    if (o.prior !== undefined) {
      const driver = sim.driver;
      sim.driver = planDriver;
      const p = sim.probe();
      sim.driver = driver;
      clashes.set(
        n,
        Object.keys(p.outcome.desired).filter((k) => k in sim.priorDesired),
      );
    }
    sim.tick();
  }
  return { sim, probes, clashes, first };
}

// ---------------------------------------------------------------------------
// Facts the oracle derives from the simulator's records

const bp = (percent: number) => Math.round(percent * 100);
function eqT(a: Traffic | undefined, b: Traffic | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.primary !== b.primary) return false;
  if (a.secondary === undefined || b.secondary === undefined) return a.secondary === b.secondary;
  return a.secondary.version === b.secondary.version && bp(a.secondary.percent) === bp(b.secondary.percent);
}
const show = (t: Traffic | undefined) =>
  t === undefined ? 'no Alias' : t.secondary === undefined ? `all on ${t.primary}` : `${t.primary} + ${t.secondary.percent}% on ${t.secondary.version}`;

function rolloutOf(t: Tick): Json {
  return (t.spec.rollout ?? {}) as Json;
}
function controls(t: Tick): string {
  const r = rolloutOf(t);
  return JSON.stringify([r.target, r.abort, r.retry, r.promote, r.resume, r.paused, r.strategy]);
}
function versionFacts(t: Tick): string {
  return JSON.stringify(
    Object.entries(t.observedBefore)
      .filter(([k]) => k.startsWith('version-'))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, o]) => [k, ackPublished(o), (o.status as Json | undefined)?.version, terminal(o)]),
  );
}
function terminal(o: KubeObject | undefined): boolean {
  const conds = (o?.status as Json | undefined)?.conditions;
  return Array.isArray(conds) && conds.some((c) => (c as Json).type === 'ACK.Terminal' && (c as Json).status === 'True');
}

/**
 * The rollout-state annotation on an Alias (undefined: none). A value that is no string counts as none:
 * annotations are a map of strings, so an API server never stores one (the simulator's perturbation can),
 * and the function reads it as no record (k8s.ts `annotation`), as it reads a stripped one.
 */
function recordOn(alias: KubeObject | undefined): unknown {
  const annotations = (alias?.metadata as Json | undefined)?.annotations as Json | undefined;
  const record = annotations?.[ROLLOUT_STATE_ANNOTATION];
  return typeof record === 'string' ? record : undefined;
}

/** The record the function last applied to the Alias, before tick i (what the call would see unperturbed). */
function appliedRecord(h: Tick[], i: number): unknown {
  for (let j = i - 1; j >= 0; j--) if (h[j]!.outcome.fatal === undefined && h[j]!.alias !== undefined) return recordOn(h[j]!.alias);
  return undefined;
}

/** Whether the record the call at tick i saw is not the one last applied (stripped, stale, forged). */
function recordPerturbed(h: Tick[], i: number): boolean {
  return !same(recordOn(h[i]!.observedBefore[ALIAS]), appliedRecord(h, i));
}

/** status.rollout without the unknown keys unknownKeyArb adds (the function keeps them; they say nothing about the state). */
function knownRollout(status: Json | undefined): unknown {
  const r = status?.rollout;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return r;
  const known: Json = { ...(r as Json) };
  for (const k of UNKNOWN_KEYS) delete known[k];
  return known;
}

interface TargetFact {
  key: string;
  version: string | undefined;
  resolved: boolean;
  failed: boolean;
}

interface AbortFact {
  key: string;
  version: string;
  retry: string;
  /** Live traffic on the aborted version has been 0 at some call since the abort. */
  zeroed: boolean;
  at: number;
  /** resume and promote at the first call since the abort that saw neither record of it (see walk). */
  lost?: { resume: string; promote: string };
  /** resume or promote changed after that call, or a call since the abort saw a view of the time before it (see walk). */
  excused?: boolean;
}

interface Facts {
  target: TargetFact;
  aborted: AbortFact | undefined;
  /** Causes other than a due step, within the window since live traffic last changed. */
  causes: string[];
  /** The step due now by the schedule and the clock, and the traffic it brings (undefined: any, off schedule). */
  due: { next: Traffic[] | undefined; why: string } | undefined;
}

function walk(h: Tick[]): Facts[] {
  const out: Facts[] = [];
  const lastNumber = new Map<string, string>();
  let aborted: AbortFact | undefined;
  // The retry value when abort was last set true, and when the target last began to fail (undefined: not now).
  let abortAsked: string | undefined;
  let failedAsked: string | undefined;
  let windowStart = 0;
  for (let i = 0; i < h.length; i++) {
    const t = h[i]!;
    // The target, from the spec and the observed Versions.
    const sel = rolloutOf(t).target as Json | undefined;
    const key = JSON.stringify(sel);
    let target: TargetFact;
    if (typeof sel?.version === 'string') target = { key, version: sel.version, resolved: true, failed: false };
    else {
      const name = String(((sel?.versionRef as Json | undefined)?.from as Json | undefined)?.name);
      const obj = t.observedBefore[`version-${name}`];
      const published = obj !== undefined && ackPublished(obj);
      if (published) lastNumber.set(name, String((obj.status as Json).version));
      target = { key, version: lastNumber.get(name), resolved: published, failed: terminal(obj) };
    }
    // Abort bookkeeping (README "Abort": nothing moves until the target changes or retry changes, with abort back to false).
    // A retry counts against its value when the abort was asked for (abort set, or the target failed), not when
    // live traffic first left the target: abort set while the last step (100 %) was live but not yet promoted
    // aborts at once, and a retry changed after that call is a retry. While the abort is in force (abort still
    // true, or the target still failed) a changed retry waits, as it does for abort: true: it counts once the
    // abort is no longer in force, so a retry pressed while the Version was Terminal restarts when it recovers.
    const r = rolloutOf(t);
    const retry = typeof r.retry === 'string' ? r.retry : '';
    abortAsked = r.abort === true ? (abortAsked ?? retry) : undefined;
    failedAsked = target.failed ? (failedAsked ?? retry) : undefined;
    if (aborted !== undefined) {
      if (target.key !== aborted.key) aborted = undefined;
      else if (r.abort !== true && !target.failed && retry !== aborted.retry) aborted = undefined;
      else if (target.resolved && target.version !== aborted.version) aborted = undefined; // re-published: a new release
    }
    if (aborted === undefined && target.version !== undefined && t.liveBefore !== undefined && t.liveBefore.primary !== target.version) {
      const asked = r.abort === true ? abortAsked : target.failed ? failedAsked : undefined;
      if (asked !== undefined) aborted = { key: target.key, version: target.version, retry: asked, zeroed: false, at: t.n };
    }
    if (aborted !== undefined && weightOn(t.liveBefore, aborted.version) === 0) aborted.zeroed = true;
    // Property (c)'s precondition: a call that saw neither record of the abort (the Alias's record not the
    // one last applied, and status neither the one last written nor any Aborted status the function wrote,
    // unknown keys aside) knows of no abort: the world it sees is one where a rollout's state was lost, and
    // there it holds the Alias and asks the user to decide (README: resume continues from the step at or
    // below the live share, promote sends all traffic to the target). A resume or promote changed after that
    // call is that decision, which no call can tell from one about a rollout that was never aborted.
    // And a call that saw a view of the time before the abort (aPastViewBefore) knows of no abort either, but
    // acts on that view by itself: it continues, or starts, the rollout that the world it sees asks for, and
    // every later call continues from the records it wrote, as the same calls would in that world.
    if (aborted !== undefined && aborted.excused !== true && t.n > aborted.at && aPastViewBefore(h, i, aborted.at)) aborted.excused = true;
    if (aborted !== undefined) {
      const resume = typeof r.resume === 'string' ? r.resume : '';
      const promote = typeof r.promote === 'string' ? r.promote : '';
      if (aborted.lost !== undefined && (resume !== aborted.lost.resume || promote !== aborted.lost.promote)) aborted.excused = true;
      else if (aborted.lost === undefined && t.n > aborted.at && abortForgotten(h, i)) aborted.lost = { resume, promote };
    }

    // The window since live traffic last changed, and the causes in it.
    if (i > 0 && !eqT(h[i - 1]!.liveBefore, t.liveBefore)) windowStart = i;
    const causes: string[] = [];
    if (t.liveBefore === undefined) causes.push('first deployment');
    for (let j = Math.max(1, windowStart); j <= i; j++) {
      const prev = h[j - 1]!;
      const cur = h[j]!;
      if (controls(prev) !== controls(cur)) causes.push(`spec control changed at tick ${cur.n}`);
      if (versionFacts(prev) !== versionFacts(cur)) causes.push(`a Version changed before tick ${cur.n}`);
      const expected = prev.outcome.fatal !== undefined ? prev.liveBefore : (prev.rendered ?? prev.liveBefore);
      if (!eqT(expected, cur.liveBefore)) causes.push(`the live Alias was changed by someone else before tick ${cur.n}`);
    }

    // A due step, from the schedule and the clock.
    let due: Facts['due'];
    const steps = STRATEGIES.find((s) => same(s.spec, r.strategy))?.steps;
    const live = t.liveBefore;
    const T = target.version;
    if (aborted === undefined && r.paused !== true && target.resolved && T !== undefined && live !== undefined && live.primary !== T && steps !== undefined) {
      const P = live.primary;
      const trafficOf = (s: StepPlan): Traffic =>
        s.weight >= 100 ? { primary: T } : s.weight === 0 ? { primary: P } : { primary: P, secondary: { version: T, percent: s.weight } };
      const elapsed = t.at.getTime() - (t.liveSince ?? t.at).getTime();
      const w = weightOn(live, T);
      if (w === 0) {
        const next = [trafficOf(steps[0]!)];
        if (steps[0]!.weight === 0 && steps[0]!.pauseMs !== null && elapsed >= steps[0]!.pauseMs) next.push(trafficOf(steps[1]!));
        due = { next, why: 'step 1 is due as soon as the target resolves' };
      } else {
        let j = lastIndex(steps, (s) => bp(s.weight) === bp(w));
        const onSchedule = j >= 0;
        if (!onSchedule) j = lastIndex(steps, (s) => bp(s.weight) < bp(w));
        const pause = j >= 0 ? steps[j]!.pauseMs : 0;
        if (j + 1 < steps.length && pause !== null && elapsed >= pause) {
          due = {
            next: onSchedule ? [trafficOf(steps[j + 1]!)] : undefined,
            why: `step ${j + 1} (${steps[j]?.weight ?? 0}%) began ${elapsed / S}s ago, its pause is ${pause / S}s`,
          };
        }
      }
    }
    out.push({ target, aborted: aborted !== undefined ? { ...aborted } : undefined, causes, due });
  }
  return out;
}

/** Whether the call at tick i saw neither record of an abort (see walk). */
function abortForgotten(h: Tick[], i: number): boolean {
  const t = h[i]!;
  if (!recordPerturbed(h, i)) return false;
  const seen = knownRollout(t.statusBefore);
  if (same(seen, knownRollout(t.writtenStatus))) return false;
  return !h.slice(0, i).some((x) => x.rollout?.phase === 'Aborted' && same(knownRollout(x.outcome.status), seen));
}

function lastIndex<T>(xs: T[], p: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (p(xs[i]!)) return i;
  return -1;
}

function trace(h: Tick[], upTo: number, last = 8): string {
  return h
    .slice(Math.max(0, upTo - last + 1), upTo + 1)
    .map(
      (t) =>
        `  tick ${t.n} +${t.elapsedMs / S}s ${brief(rolloutOf(t).target)} abort=${String(rolloutOf(t).abort)} retry=${String(rolloutOf(t).retry)}: ` +
        `${show(t.liveBefore)} -> ${t.outcome.fatal !== undefined ? `Fatal ${t.outcome.fatal.slice(0, 80)}` : show(t.rendered)}` +
        `${t.perturbations.length > 0 ? ` after [${t.perturbations.join('; ')}]` : ''}` +
        ` status.rollout seen ${brief(t.statusBefore?.rollout)}`,
    )
    .join('\n');
}

function fail(r: Run, i: number, message: string): never {
  throw new Error(`${message}\n${trace(r.sim.history, i)}`);
}

// ---------------------------------------------------------------------------
// The invariants, one check each

function checkCause(r: Run): void {
  const h = r.sim.history;
  const facts = walk(h);
  for (let i = 0; i < h.length; i++) {
    const t = h[i]!;
    const f = facts[i]!;
    if (t.outcome.fatal !== undefined || eqT(t.rendered, t.liveBefore)) continue;
    if (f.causes.length > 0) continue;
    if (f.due === undefined)
      fail(r, i, `(a) tick ${t.n}: traffic moved from ${show(t.liveBefore)} to ${show(t.rendered)} with no cause: no step due, no control, no Version event`);
    if (f.due.next !== undefined && !f.due.next.some((n) => eqT(n, t.rendered))) {
      fail(
        r,
        i,
        `(a) tick ${t.n}: traffic moved from ${show(t.liveBefore)} to ${show(t.rendered)}; the only cause is a due step (${f.due.why}), which brings ${f.due.next.map(show).join(' or ')}`,
      );
    }
  }
}

/**
 * Whether the call at tick i saw a view of the past that no call can tell from a legitimate one, so that
 * "what the true status renders" is not a fact it could know (property (b)'s precondition excludes it):
 * the Alias's record is not the one last applied, and what the call saw is what the function itself wrote
 * earlier (at a tick before `before`, if given) with the traffic the Alias routes now:
 * - the record is a copy of one rendered earlier with the live traffic (a stale annotation, a whole older
 *   response replayed), whatever status says. That is rule 1's record (README "Rollout state and its
 *   memory"), which the function trusts over any status but a newer Aborted or Held one (and that one only
 *   keeps the Alias as it is). So the call sees exactly what it would in a world where that record is the
 *   last one applied and only status was perturbed (lost, stale, written with other traffic, forged), and
 *   there it must do what that record asks, which is what it renders here: the calls after the record
 *   left no trace on what this call sees; or
 * - the record is absent (stripped), and status is missing, or is a status the function wrote earlier with
 *   the live traffic (stale, reordered). An Alias with no record next to a status that matches it is
 *   exactly what an Alias rendered by v0.1 (or one whose apply failed while the status write landed) looks
 *   like, and there status must lead (rule 2).
 * Any forged, junk or corrupted record, a stripped record next to a forged or junk status, and any stale
 * status under the record last applied, stays checked.
 */
function aPastView(h: Tick[], i: number, before = Number.POSITIVE_INFINITY): boolean {
  const t = h[i]!;
  if (!recordPerturbed(h, i)) return false;
  const earlier = h.slice(0, i).filter((x) => x.n < before && x.outcome.fatal === undefined && eqT(x.rendered, t.liveBefore));
  const record = recordOn(t.observedBefore[ALIAS]);
  if (record !== undefined) return earlier.some((x) => same(recordOn(x.alias), record));
  const status = t.statusBefore;
  return status === undefined || Object.keys(status).length === 0 || earlier.some((x) => same(x.outcome.status, status));
}

/**
 * Property (c)'s counterpart of aPastView: the call at tick i saw a view of the time before the abort at
 * tick `at` (a record, or with the record stripped a status, the function wrote before that tick, with the
 * traffic the Alias routes now), so it cannot know of the abort: the world it sees is one where no abort
 * happened (or a retry or new target ended an earlier one), and a rollout that starts there is the one that
 * world asks for. Not when status is an Aborted state the function wrote at or after the abort: that is a
 * record of this abort, newer than any record from before it, and it must keep the rollout stopped.
 */
function aPastViewBefore(h: Tick[], i: number, at: number): boolean {
  if (!aPastView(h, i, at)) return false;
  const seen = knownRollout(h[i]!.statusBefore);
  return !h.slice(0, i).some((x) => x.n >= at && x.rollout?.phase === 'Aborted' && same(knownRollout(x.outcome.status), seen));
}

function checkStatusAlone(r: Run): void {
  const h = r.sim.history;
  for (let i = r.first; i < h.length; i++) {
    const t = h[i]!;
    const p = r.probes.get(t.n);
    if (p === undefined || p.fatal || t.outcome.fatal !== undefined) continue;
    if (aPastView(h, i)) continue;
    if (!eqT(t.rendered, t.liveBefore) && !eqT(t.rendered, p.rendered)) {
      fail(
        r,
        i,
        `(b) tick ${t.n}: with status ${brief(t.statusBefore)} the function renders ${show(t.rendered)}; live is ${show(t.liveBefore)}, and with the true status ${brief(t.writtenStatus)} it renders ${show(p.rendered)}`,
      );
    }
  }
}

function checkAbort(r: Run): void {
  const h = r.sim.history;
  const facts = walk(h);
  for (let i = 0; i < h.length; i++) {
    const t = h[i]!;
    const a = facts[i]!.aborted;
    if (a === undefined || a.excused === true || t.outcome.fatal !== undefined) continue;
    const rendered = weightOn(t.rendered, a.version);
    const live = weightOn(t.liveBefore, a.version);
    if ((a.zeroed && rendered > 0) || rendered > live) {
      fail(
        r,
        i,
        `(c) tick ${t.n}: the rollout to version ${a.version} was aborted at tick ${a.at}, with no retry or target change since, yet ${rendered}% goes to it (live: ${live}%)`,
      );
    }
  }
}

function named(alias: KubeObject | undefined): Set<string> {
  const out = new Set<string>();
  const spec = alias?.spec as Json | undefined;
  if (typeof spec?.functionVersion === 'string') out.add(spec.functionVersion);
  const w = (spec?.routingConfig as Json | undefined)?.additionalVersionWeights;
  if (typeof w === 'object' && w !== null) for (const k of Object.keys(w)) out.add(k);
  return out;
}

function checkKept(r: Run): void {
  const h = r.sim.history;
  for (let i = 0; i < h.length; i++) {
    const t = h[i]!;
    if (t.outcome.fatal !== undefined) continue;
    const observedAlias = t.observedBefore[ALIAS];
    if (observedAlias !== undefined && t.outcome.desired[ALIAS] === undefined) fail(r, i, `(d) tick ${t.n}: the live Alias was left out of desired`);
    const inUse = new Set([...named(observedAlias), ...named(t.alias)]);
    for (const [k, o] of Object.entries(t.observedBefore)) {
      const n = (o.status as Json | undefined)?.version;
      if (k.startsWith('version-') && typeof n === 'string' && inUse.has(n) && t.outcome.desired[k] === undefined) {
        fail(r, i, `(d) tick ${t.n}: composed Version ${k} (version ${n}) is named by the Alias but was left out of desired`);
      }
    }
  }
}

function holds(arb: fc.Arbitrary<Scenario>, check: (r: Run) => void, numRuns: number, o: { probe?: boolean } = {}): void {
  fc.assert(
    fc.property(arb, (sc) => check(run(sc, o))),
    { seed: SEED, numRuns },
  );
}

// ---------------------------------------------------------------------------

describe(`rollout invariants over generated reconcile sequences with perturbed state (fast-check, seed ${SEED})`, () => {
  it('(a) traffic changes only for a cause: a due step (to the next step only), a control changed in spec, a Version event, or the first deployment', () => {
    holds(scenarioArb({ replay: true }), checkCause, 150);
  });

  it('(b) status alone never moves live traffic: with a perturbed status it renders the live traffic or what the true status renders', () => {
    holds(scenarioArb({ replay: true }), checkStatusAlone, 150, { probe: true });
  });

  it('(c) an aborted rollout never sends traffic to its target again without a retry or a target change, whatever happens to status and the annotation', () => {
    holds(scenarioArb({ replay: false, abortAt: true, maxSteps: 12 }), checkAbort, 150);
  });

  it('(d) a live Alias, and every composed Version it or the rendered Alias names, is never left out of desired', () => {
    holds(scenarioArb({ replay: true }), checkKept, 150);
  });

  it("the simulator's core safety rules hold at every call under perturbations (traffic only to literal, live, recorded-stable or published versions; never $LATEST or self splits; no rejected apply)", () => {
    holds(
      scenarioArb({ replay: true }),
      (r) => {
        if (r.sim.violations.length > 0) throw new Error(`${r.sim.violations.join('\n')}\n${trace(r.sim.history, r.sim.history.length - 1)}`);
      },
      150,
    );
  });

  it('(e) no status content (any JSON) and no annotation content crashes the function or yields a response that cannot be encoded', () => {
    const statusArb: fc.Arbitrary<unknown> = fc.oneof(
      { weight: 2, arbitrary: junkArb },
      { weight: 3, arbitrary: junkArb.map((rollout) => ({ rollout })) },
      { weight: 3, arbitrary: fc.array(forgeryArb, { minLength: 1, maxLength: 6 }).map((forge) => ({ forge })) },
      { weight: 1, arbitrary: fc.constant({}) },
    );
    const annotationArb = fc.oneof(fc.constant(undefined), annotationValueArb);
    fc.assert(
      fc.property(scenarioArb({ replay: true, maxSteps: 6 }), fc.array(fc.tuple(statusArb, annotationArb), { minLength: 1, maxLength: 3 }), (sc, forgeries) => {
        const { sim } = run(sc);
        for (const [status, annotation] of forgeries) {
          if (typeof status === 'object' && status !== null && 'forge' in status) perturb(sim, status as Perturbation);
          else sim.setStatus(status);
          sim.setAliasAnnotation(ROLLOUT_STATE_ANNOTATION, annotation);
          const { req, now } = sim.nextRequest();
          const wire = crossesTheWire(req);
          let rsp: RunFunctionResponse;
          try {
            rsp = runFunction(req, { now: () => now });
          } catch (err) {
            throw new Error(`runFunction threw with status ${brief(status)} and annotation ${brief(annotation)}: ${String(err)}`);
          }
          const fatal = rsp.results.find((x) => x.severity === Severity.SEVERITY_FATAL);
          if (fatal !== undefined)
            throw new Error(`a Fatal result (${fatal.reason ?? ''}: ${fatal.message}) for status ${brief(status)} and annotation ${brief(annotation)}`);
          const ttl = Number(rsp.meta?.ttl?.seconds);
          if (!(ttl >= 5 && ttl <= 300)) throw new Error(`ttl ${ttl}s outside [5s, 300s] for status ${brief(status)}`);
          if (wire) {
            const ours = encodeRunFunctionResponse(rsp);
            const sdk = Buffer.from(RunFunctionResponse.encode(rsp).finish());
            RunFunctionResponse.decode(ours);
            if (!ours.equals(sdk)) throw new Error(`our encoding of the response differs from the SDK's for status ${brief(status)}`);
          }
          sim.tick();
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it("(f) earlier pipeline steps' desired resources pass through unchanged, or the call is a Fatal ResourceNameConflict naming each clashing resource", () => {
    const POOL: Record<string, KubeObject> = {
      bucket: { apiVersion: 's3.aws.upbound.io/v1beta1', kind: 'Bucket', metadata: { name: 'assets' }, spec: { forProvider: { region: 'us-east-1' } } },
      config: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'team-a' }, data: { 'a.b': 'x', '': '', '💥': '\u0000' } },
      alias: {
        apiVersion: ACK_API,
        kind: 'Alias',
        metadata: { name: 'other-live', namespace: 'team-a' },
        spec: { name: 'other', functionName: 'other', functionVersion: '1' },
      },
      'version-checkout-v6': { apiVersion: ACK_API, kind: 'Version', metadata: { name: 'checkout-v6', namespace: 'team-a' }, spec: { functionName: 'x' } },
      'version-legacy': { apiVersion: ACK_API, kind: 'Version', metadata: { name: 'legacy', namespace: 'team-a' }, spec: { functionName: 'checkout' } },
      'version-bucket': { apiVersion: 's3.aws.upbound.io/v1beta1', kind: 'Bucket', metadata: { name: 'v' }, spec: {} },
    };
    const priorArb = fc.subarray(Object.keys(POOL), { minLength: 1 }).map((keys) => Object.fromEntries(keys.map((k) => [k, POOL[k]!])));
    fc.assert(
      fc.property(scenarioArb({ replay: true, maxSteps: 10 }), priorArb, (sc, prior) => {
        const r = run(sc, { prior });
        const h = r.sim.history;
        for (let i = r.first; i < h.length; i++) {
          const t = h[i]!;
          const clashing = r.clashes.get(t.n) ?? [];
          if (t.outcome.fatal !== undefined) {
            const conflict = resultsWith(t, 'ResourceNameConflict');
            if (conflict.length !== 1) fail(r, i, `(f) tick ${t.n}: a Fatal result that is no ResourceNameConflict: ${t.outcome.fatal}`);
            for (const k of clashing)
              if (!t.outcome.fatal.includes(`"${k}"`)) fail(r, i, `(f) tick ${t.n}: the ResourceNameConflict does not name "${k}": ${t.outcome.fatal}`);
            if (clashing.length === 0)
              fail(r, i, `(f) tick ${t.n}: a ResourceNameConflict although this function renders none of ${Object.keys(prior).join(', ')}`);
            const desired = Object.fromEntries(Object.entries(t.outcome.desired).map(([k, d]) => [k, d.resource]));
            if (!same(desired, prior)) fail(r, i, `(f) tick ${t.n}: a Fatal response whose desired resources are not exactly the earlier steps'`);
            continue;
          }
          if (clashing.length > 0) fail(r, i, `(f) tick ${t.n}: this function renders ${clashing.join(', ')} too, yet the call is no Fatal`);
          for (const [k, obj] of Object.entries(prior)) {
            if (!same(t.outcome.desired[k]?.resource, obj))
              fail(r, i, `(f) tick ${t.n}: the earlier step's ${k} did not pass through unchanged: ${brief(t.outcome.desired[k]?.resource)}`);
          }
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('the oracle of (a), (c), (d) and the core rules accepts the function on the same sequences without perturbations (so a failure above is caused by a perturbation)', () => {
    holds(
      scenarioArb({ replay: false, clean: true }),
      (r) => {
        checkCause(r);
        checkKept(r);
        if (r.sim.violations.length > 0) throw new Error(r.sim.violations.join('\n'));
      },
      100,
    );
    holds(scenarioArb({ replay: false, abortAt: true, maxSteps: 12, clean: true }), checkAbort, 100);
  });

  it('are not vacuous: the sequences abort, advance steps, promote, perturb status and the annotation', () => {
    const seen = { aborted: 0, advanced: 0, promoted: 0, statusPerturbed: 0, annotationPerturbed: 0, dueSteps: 0 };
    for (const sc of fc.sample(scenarioArb({ replay: true }), { seed: SEED, numRuns: 100 })) {
      const r = run(sc);
      const h = r.sim.history;
      const facts = walk(h);
      if (facts.some((f) => f.aborted !== undefined)) seen.aborted++;
      if (h.some((t) => resultsWith(t, 'RolloutStep').length > 1 || (t.rollout?.step as number) > 1)) seen.advanced++;
      if (h.some((t, i) => i >= r.first && t.rollout?.phase === 'Promoted')) seen.promoted++;
      if (h.some((t) => !same(t.statusBefore, t.writtenStatus))) seen.statusPerturbed++;
      if (h.some((t) => t.perturbations.some((p) => p.includes('annotation')))) seen.annotationPerturbed++;
      if (facts.some((f) => f.due !== undefined)) seen.dueSteps++;
    }
    expect(seen.aborted).toBeGreaterThanOrEqual(20);
    expect(seen.advanced).toBeGreaterThanOrEqual(20);
    expect(seen.promoted).toBeGreaterThanOrEqual(10);
    expect(seen.statusPerturbed).toBeGreaterThanOrEqual(40);
    expect(seen.annotationPerturbed).toBeGreaterThanOrEqual(20);
    expect(seen.dueSteps).toBeGreaterThanOrEqual(40);
  });
});

// ---------------------------------------------------------------------------
// Issue 10, defect 1, as examples: "Abort, then abort: false without retry.
// With status {} — or an Aborted status plus any unknown key (e.g.
// observedGeneration: 7) — and the live Alias on 41 with no routing, the
// function starts the rollout again."

describe('issue 10, defect 1: an aborted rollout does not start again without a retry', () => {
  const START = '2026-11-26T10:00:00Z';
  const abortedRollout = {
    phase: 'Aborted',
    target: 'version:42',
    targetVersion: '42',
    totalSteps: 2,
    step: 1,
    weight: 0,
    stepStartedAt: '2026-11-26T09:50:00.000Z',
    stableVersion: '41',
    abortReason: 'aborted by spec.rollout.abort',
    resumeToken: '',
    promoteToken: '',
    retryToken: '',
  };

  function afterAbort(status: Json): RolloutSim {
    // abort: true was set, the rollout aborted, then abort went back to false with no retry.
    const spec = progressiveSpec({ target: '42', functionName: 'orders-api', preset: 'Canary10Percent5Minutes', rollout: { abort: false } });
    return new RolloutSim({ spec, start: START, name: 'orders', alias: { primary: '41' }, status, driver: handlerDriver });
  }

  function expectHeldOn41(s: RolloutSim): void {
    for (let i = 0; i < 3; i++) {
      const t = i === 0 ? s.tick() : s.advance(HOUR).tick();
      expect(t.outcome.fatal).toBeUndefined();
      expect(t.rendered).toEqual({ primary: '41' });
    }
    // An explicit retry is what starts it again.
    s.rollout.retry = 'after-the-fix';
    expect(s.advance(S).tick().rendered).toEqual({ primary: '41', secondary: { version: '42', percent: 10 } });
    expect(s.violations).toEqual([]);
  }

  it('with status {}: the live Alias on 41 is held with a Warning, no traffic goes to 42 until retry changes', () => {
    const s = afterAbort({});
    const first = s.tick();
    expect(first.rendered).toEqual({ primary: '41' });
    expect(first.outcome.results.filter((r) => r.severity === 'Warning')).not.toEqual([]);
    expectHeldOn41(s);
  });

  it('with an Aborted status plus an unknown key (observedGeneration: 7): stays aborted, no traffic goes to 42 until retry changes', () => {
    const s = afterAbort({ stableVersion: '41', rollout: { ...abortedRollout, observedGeneration: 7 } });
    expect(s.tick().rollout).toMatchObject({ phase: 'Aborted', stableVersion: '41' });
    expectHeldOn41(s);
  });

  it('unknown keys in status.rollout are kept, not fatal', () => {
    const s = afterAbort({ stableVersion: '41', rollout: { ...abortedRollout, observedGeneration: 7 } });
    const t = s.tick();
    expect(t.outcome.fatal).toBeUndefined();
    expect(t.rollout).toMatchObject({ observedGeneration: 7 });
  });
});
