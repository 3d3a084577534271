// A reconcile-loop simulator for progressive rollouts. It plays Crossplane and
// the ACK Lambda controller around the function, with a fake clock:
//
//   - it keeps one LambdaCanary XR (spec + status), the observed composed
//     resources (the Alias and the ACK Versions the XR publishes) and a
//     "cluster" of other ACK Versions served as required resources;
//   - each tick calls the function once (through the pure planner, the gRPC
//     handler, or any transport: see Driver), after first satisfying the
//     function's requirements the way Crossplane does (call again until the
//     requirements settle; only the last response is applied);
//   - it then applies the response like Crossplane + ACK would: XR status :=
//     returned status; observed Alias spec, metadata.annotations and
//     metadata.labels := the desired Alias's (the API server stores what
//     server-side apply sends, so an annotation the function writes comes
//     back as observed state), reporting ACK.ResourceSynced True (optionally
//     only after a delay, or never while held); observed Versions published
//     as their model says; composed resources no longer desired are deleted;
//   - between ticks a test may perturb what the next call sees, the way a
//     cluster can: lose XR status or replace it with an older snapshot, a
//     forged one, or an older response's (a write that lands late); strip or
//     corrupt an annotation of the observed Alias; drop ACK.ResourceSynced;
//     delete or re-publish a Version. Each perturbation is logged on the next
//     tick, next to the status the function last wrote (its true status);
//   - it checks the core safety rules on every applied response, from facts of
//     its own (not the planner's): a live Alias is never dropped, and traffic
//     only ever goes to versions that are literal in the spec, live now or
//     ever before, recorded as stable in the status the function last wrote
//     (not in a perturbed one), or published by ACK.
//
// Nothing here asserts rollout semantics; tests do, from the tick records.
import { Capability, Ready, RunFunctionRequest, Severity, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { runFunction } from '../../function/handler.js';
import type { MeasurementQuery, Measurements } from '../../function/core/analysis/measurements.js';
import { isRecord } from '../../function/core/k8s.js';
import { planLambdaCanary } from '../../function/core/canary-planner.js';
import type { RequirementSelector } from '../../function/core/version-lookup.js';
import { observedTraffic, percentOn, type Traffic } from '../../function/core/traffic.js';

export type Json = Record<string, unknown>;
export type KubeObject = Record<string, unknown>;

export const ACK_API = 'lambda.services.k8s.aws/v1alpha1';
export const XR_API = 'canary.lambda.fn.crossplane.io/v1alpha1';
export const ALIAS = 'alias';
const SYNCED = 'ACK.ResourceSynced';
const TERMINAL = 'ACK.Terminal';

// ---------------------------------------------------------------------------
// What one call of the function produced, independent of the transport.

export type ResultSeverity = 'Normal' | 'Warning' | 'Fatal';

export interface Outcome {
  fatal?: string;
  desired: Record<string, { resource: KubeObject; ready: boolean }>;
  /** The desired XR status (what Crossplane writes back). */
  status: Json | undefined;
  results: { severity: ResultSeverity; reason?: string; message: string }[];
  conditions: { type: string; status: string; reason: string; message?: string }[];
  ttlSeconds: number;
  requirements: Record<string, RequirementSelector>;
}

/** What the function sees on one call. */
export interface CallState {
  composite: KubeObject;
  observed: Record<string, KubeObject>;
  required: Record<string, KubeObject[]>;
  now: Date;
  tag: string;
  /** Earlier pipeline steps' desired composed resources (only a driver through runFunction sees them). */
  desired?: Record<string, KubeObject>;
  /** Plays CloudWatch for a rollout's analysis: the answers to the queries a first pass asked for. */
  cloudwatch?: (queries: MeasurementQuery[], now: Date) => Measurements;
}

export type Driver = (state: CallState) => Outcome | Promise<Outcome>;

/** Calls the pure planner directly. */
export const planDriver: Driver = (s) => {
  const input = { composite: s.composite, observed: s.observed, required: s.required, now: s.now };
  const first = planLambdaCanary(input);
  // The handler's two passes: measure what the analysis asks for, plan again with the answers.
  const p = first.measure !== undefined ? planLambdaCanary({ ...input, measurements: s.cloudwatch?.(first.measure, s.now) ?? {} }) : first;
  return {
    ...(p.fatal !== undefined ? { fatal: p.fatal } : {}),
    desired: Object.fromEntries(Object.entries(p.desired).map(([k, d]) => [k, { resource: d.resource, ready: d.ready }])),
    status: p.status,
    results: p.results.map((r) => ({ severity: r.severity, message: r.message, ...(r.reason !== undefined ? { reason: r.reason } : {}) })),
    conditions: p.conditions.map((c) => ({ ...c })),
    ttlSeconds: p.ttlSeconds,
    requirements: p.requirements,
  };
};

/** The RunFunctionRequest Crossplane would send for this state. */
export function buildRequest(s: CallState): RunFunctionRequest {
  return RunFunctionRequest.fromPartial({
    meta: { tag: s.tag, capabilities: [Capability.CAPABILITY_CAPABILITIES, Capability.CAPABILITY_REQUIRED_RESOURCES] },
    input: { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', mode: 'LambdaCanary' },
    observed: {
      composite: { resource: s.composite },
      resources: Object.fromEntries(Object.entries(s.observed).map(([k, r]) => [k, { resource: r }])),
    },
    desired: { resources: Object.fromEntries(Object.entries(s.desired ?? {}).map(([k, r]) => [k, { resource: r }])) },
    requiredResources: Object.fromEntries(Object.entries(s.required).map(([k, items]) => [k, { items: items.map((resource) => ({ resource })) }])),
  });
}

const SEVERITY_NAMES: Partial<Record<Severity, ResultSeverity>> = {
  [Severity.SEVERITY_FATAL]: 'Fatal',
  [Severity.SEVERITY_WARNING]: 'Warning',
  [Severity.SEVERITY_NORMAL]: 'Normal',
};
const CONDITION_STATUS = ['Unspecified', 'Unknown', 'True', 'False'];

/** Reads a RunFunctionResponse back into an Outcome. */
export function outcomeOf(rsp: RunFunctionResponse): Outcome {
  const results = (rsp.results ?? []).map((r) => ({
    severity: SEVERITY_NAMES[r.severity] ?? 'Normal',
    message: r.message,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  }));
  const fatal = results.find((r) => r.severity === 'Fatal');
  const desired: Outcome['desired'] = {};
  for (const [k, r] of Object.entries(rsp.desired?.resources ?? {})) {
    if (r?.resource !== undefined) desired[k] = { resource: r.resource, ready: r.ready === Ready.READY_TRUE };
  }
  const requirements: Record<string, RequirementSelector> = {};
  for (const map of [rsp.requirements?.extraResources, rsp.requirements?.resources]) {
    for (const [k, sel] of Object.entries(map ?? {})) {
      if (sel === undefined) continue;
      requirements[k] = {
        apiVersion: sel.apiVersion,
        kind: sel.kind,
        ...(sel.matchName !== undefined ? { matchName: sel.matchName } : {}),
        ...(sel.matchLabels !== undefined ? { matchLabels: sel.matchLabels.labels } : {}),
        ...(sel.namespace !== undefined ? { namespace: sel.namespace } : {}),
      };
    }
  }
  const status = rsp.desired?.composite?.resource?.['status'];
  return {
    ...(fatal !== undefined ? { fatal: fatal.message } : {}),
    desired,
    status: isRecord(status) ? status : undefined,
    results,
    conditions: (rsp.conditions ?? []).map((c) => ({
      type: c.type,
      status: CONDITION_STATUS[c.status] ?? 'Unknown',
      reason: c.reason,
      ...(c.message !== undefined ? { message: c.message } : {}),
    })),
    ttlSeconds: Number(rsp.meta?.ttl?.seconds ?? 0),
    requirements,
  };
}

/** Calls runFunction (the RunFunction handler) in process with the sim's clock. */
export const handlerDriver: Driver = (s) =>
  outcomeOf(
    runFunction(buildRequest(s), {
      now: () => s.now,
      ...(s.cloudwatch !== undefined ? { measurements: (q: MeasurementQuery[]) => s.cloudwatch!(q, s.now) } : {}),
    }),
  );

/**
 * Any transport: `call` sends the request (over gRPC, say) and `setNow` points
 * the server's injected clock at the simulated time first.
 */
export function rpcDriver(call: (req: RunFunctionRequest) => Promise<RunFunctionResponse>, setNow: (now: Date) => void): Driver {
  return async (s) => {
    setNow(s.now);
    return outcomeOf(await call(buildRequest(s)));
  };
}

// ---------------------------------------------------------------------------
// ACK models.

/** How ACK treats one ACK Version. */
export interface VersionModel {
  /** The Lambda version number ACK publishes. */
  version: string;
  /** Ticks after creation before ACK reports it published; 0 = published when first observed. */
  publishAfter?: number;
  /** status.state once published; Active by default. */
  state?: 'Active' | 'Pending' | 'Inactive' | 'Failed';
  /** Set to an ACK.Terminal message: ACK gave up on it. */
  terminal?: string;
  /** ACK.ResourceSynced; true by default once published. */
  synced?: boolean;
  /** status.role (execution role). */
  role?: string;
  /** Namespace, for Versions in the cluster store; the XR's by default. */
  namespace?: string;
  /** Force: false = never published (stuck publishing), true = published. Default: by publishAfter (composed), true (cluster). */
  published?: boolean;
  /** A composed Version that exists before the simulation starts. */
  exists?: boolean;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function condition(type: string, status: boolean, message?: string): Json {
  return {
    type,
    status: status ? 'True' : 'False',
    reason: status ? '' : 'Pending',
    ...(message !== undefined ? { message } : {}),
    lastTransitionTime: '2026-01-01T00:00:00Z',
  };
}

/** The observed or desired Alias's weights map. */
function get(alias: KubeObject | undefined, _field: 'routingConfig'): Json | undefined {
  const spec = alias?.spec as Json | undefined;
  const rc = isRecord(spec) ? spec.routingConfig : undefined;
  const w = isRecord(rc) ? rc.additionalVersionWeights : undefined;
  return isRecord(w) ? w : undefined;
}

/** Keys of an Alias's weights map; undefined when it has none. */
function weightKeys(alias: KubeObject | undefined): string[] | undefined {
  const w = get(alias, 'routingConfig');
  return w === undefined ? undefined : Object.keys(w);
}

/** An ACK Version as the API server would return it. */
export function versionObject(name: string, namespace: string, model: VersionModel, published: boolean, spec: Json = {}): KubeObject {
  const status: Json = { conditions: [] as Json[] };
  const conditions = status.conditions as Json[];
  if (model.terminal !== undefined) {
    conditions.push(condition(TERMINAL, true, model.terminal), condition(SYNCED, false, model.terminal));
  } else if (published) {
    status.version = model.version;
    status.state = model.state ?? 'Active';
    if (model.role !== undefined) status.role = model.role;
    status.ackResourceMetadata = {
      arn: `arn:aws:lambda:us-east-1:123456789012:function:fn:${model.version}`,
      ownerAccountID: '123456789012',
      region: 'us-east-1',
    };
    conditions.push(condition(SYNCED, model.synced ?? true));
  } else {
    conditions.push(condition(SYNCED, false, 'publishing'));
  }
  return { apiVersion: ACK_API, kind: 'Version', metadata: { name, namespace }, spec, status };
}

/** The annotation the rollout state machine keeps its durable copy of the rollout state in, on the rendered Alias (JSON). */
export const ROLLOUT_STATE_ANNOTATION = 'lambdacanary.fn.crossplane.io/rollout-state';

/** What of an applied object's metadata the API server stores and returns: its annotations and labels. */
export interface AppliedMetadata {
  annotations?: unknown;
  labels?: unknown;
}

/**
 * An observed ACK Alias with this spec, and the annotations and labels that
 * were applied with it (kept as the API server keeps them).
 */
export function aliasObject(name: string, namespace: string, spec: Json, synced: boolean, applied: AppliedMetadata = {}): KubeObject {
  return {
    apiVersion: ACK_API,
    kind: 'Alias',
    metadata: {
      name,
      namespace,
      generation: 1,
      ...(applied.annotations !== undefined ? { annotations: clone(applied.annotations) } : {}),
      ...(applied.labels !== undefined ? { labels: clone(applied.labels) } : {}),
    },
    spec: clone(spec),
    status: {
      ackResourceMetadata: {
        arn: `arn:aws:lambda:us-east-1:123456789012:function:fn:${String(spec.name ?? 'live')}`,
        ownerAccountID: '123456789012',
        region: 'us-east-1',
      },
      conditions: [condition(SYNCED, synced, synced ? undefined : 'waiting for AWS')],
    },
  };
}

/** The Alias spec this function would render for `traffic`. */
export function aliasSpec(functionName: string, aliasName: string, traffic: Traffic): Json {
  const spec: Json = { name: aliasName, functionName, functionVersion: traffic.primary };
  if (traffic.secondary !== undefined) {
    spec.routingConfig = { additionalVersionWeights: { [traffic.secondary.version]: Math.round(traffic.secondary.percent * 100) / 10000 } };
  }
  return spec;
}

// ---------------------------------------------------------------------------
// Spec builders.

export type TargetSpec = string | { ref: string; namespace?: string };

export function selector(t: TargetSpec): Json {
  return typeof t === 'string' ? { version: t } : { versionRef: { from: { name: t.ref, ...(t.namespace !== undefined ? { namespace: t.namespace } : {}) } } };
}

export interface ProgressiveSpecOptions {
  target: TargetSpec;
  preset?: string;
  steps?: Json[];
  functionName?: string;
  alias?: string;
  versions?: Json[];
  rollout?: Json;
}

/** A progressive-mode LambdaCanary spec. */
export function progressiveSpec(o: ProgressiveSpecOptions): Json {
  return {
    function: { name: o.functionName ?? 'checkout' },
    alias: { name: o.alias ?? 'live' },
    rollout: {
      target: selector(o.target),
      strategy: o.steps !== undefined ? { steps: o.steps } : { preset: o.preset ?? 'Canary10Percent5Minutes' },
      ...(o.rollout ?? {}),
    },
    ...(o.versions !== undefined ? { versions: o.versions } : {}),
  };
}

// ---------------------------------------------------------------------------
// The simulator.

export interface SimOptions {
  spec: Json;
  status?: Json;
  name?: string;
  /** The XR's namespace (Crossplane v2); rendered objects go there. */
  namespace?: string;
  /** Simulated time of the first tick. */
  start?: Date | string;
  /** An Alias that exists already, routing this traffic (synced). */
  alias?: Traffic;
  /** metadata.annotations of that Alias. */
  aliasAnnotations?: Record<string, unknown>;
  /** Earlier pipeline steps' desired composed resources, sent on every call (through runFunction). */
  priorDesired?: Record<string, KubeObject>;
  /** Models of the ACK Versions the XR publishes (spec.versions), by name. */
  versions?: Record<string, VersionModel>;
  /** ACK Versions elsewhere in the cluster, by name; served as required resources. */
  cluster?: Record<string, VersionModel>;
  /** Ticks an Alias change stays unsynced in ACK; 0 = synced when next observed. */
  aliasSyncDelay?: number;
  driver?: Driver;
}

export interface Tick {
  /** 1-based call number. */
  n: number;
  at: Date;
  /** Milliseconds since the simulation started. */
  elapsedMs: number;
  /** What the observed Alias routed when the call was made. */
  liveBefore: Traffic | undefined;
  aliasSyncedBefore: boolean;
  /** The XR status the call saw. */
  statusBefore: Json | undefined;
  /**
   * The XR status the function last wrote (the last applied response's, else
   * the initial one): what the call would have seen without perturbations.
   */
  writtenStatus: Json | undefined;
  /** The XR spec at the call. */
  spec: Json;
  /** The observed composed resources the call saw. */
  observedBefore: Record<string, KubeObject>;
  /** The required resources the call saw (after the requirement loop). */
  requiredBefore: Record<string, KubeObject[]>;
  /** When the observed Alias's traffic last changed before the call (undefined: no Alias yet). */
  liveSince: Date | undefined;
  /** Perturbations applied since the previous tick, in order (see RolloutSim's perturbation methods). */
  perturbations: string[];
  outcome: Outcome;
  /** The desired Alias, if the response has one. */
  alias: KubeObject | undefined;
  /** The traffic the desired Alias routes. */
  rendered: Traffic | undefined;
  /** status.rollout of the response. */
  rollout: Json | undefined;
  /** Safety rule violations found in this response. */
  violations: string[];
}

export class RolloutSim {
  readonly namespace: string;
  readonly name: string;
  readonly start: Date;
  now: Date;
  composite: KubeObject;
  observed: Record<string, KubeObject> = {};
  required: Record<string, KubeObject[]> = {};
  /** Models of the Versions the XR composes, by ACK Version name. */
  readonly versionModels: Record<string, VersionModel>;
  /** ACK Versions elsewhere in the cluster, by name. */
  readonly cluster: Record<string, VersionModel>;
  readonly history: Tick[] = [];
  aliasSyncDelay: number;
  /** While true, ACK never reports the Alias synced (AWS unreachable, say). */
  aliasSyncHeld = false;
  driver: Driver;
  /** Earlier pipeline steps' desired composed resources, sent on every call. */
  priorDesired: Record<string, KubeObject>;
  /** The XR status the function last wrote (perturbations do not change it). */
  writtenStatus: Json | undefined;
  /** When the observed Alias's traffic last changed. */
  liveSince: Date | undefined;

  private calls = 0;
  /** Plays CloudWatch for rollout analysis (tests set it); unset, every measurement is unreadable. */
  cloudwatch: ((queries: MeasurementQuery[], now: Date) => Measurements) | undefined;
  private aliasUnsyncedFor = 0;
  private versionCreatedAt = new Map<string, number>();
  private knownRequirements: Record<string, RequirementSelector> = {};
  private pendingPerturbations: string[] = [];
  /** Every version the observed Alias ever routed traffic to. */
  private everLive = new Set<string>();

  constructor(opts: SimOptions) {
    this.namespace = opts.namespace ?? 'team-a';
    this.name = opts.name ?? 'checkout';
    this.start = new Date(opts.start ?? '2026-03-01T12:00:00Z');
    this.now = new Date(this.start);
    this.composite = {
      apiVersion: XR_API,
      kind: 'LambdaCanary',
      metadata: { name: this.name, namespace: this.namespace, uid: '5f0c3a3e-0000-4000-8000-000000000001' },
      spec: clone(opts.spec),
      ...(opts.status !== undefined ? { status: clone(opts.status) } : {}),
    };
    this.versionModels = clone(opts.versions ?? {});
    this.cluster = clone(opts.cluster ?? {});
    this.aliasSyncDelay = opts.aliasSyncDelay ?? 0;
    this.driver = opts.driver ?? planDriver;
    this.priorDesired = clone(opts.priorDesired ?? {});
    this.writtenStatus = opts.status !== undefined ? clone(opts.status) : undefined;
    if (opts.alias !== undefined) {
      const spec = this.spec;
      const fn = isRecord(spec.function) && typeof spec.function.name === 'string' ? spec.function.name : 'checkout';
      const aliasName = isRecord(spec.alias) && typeof spec.alias.name === 'string' ? spec.alias.name : 'live';
      this.observed[ALIAS] = aliasObject(`${this.name}-${aliasName}`, this.namespace, aliasSpec(fn, aliasName, opts.alias), true, {
        ...(opts.aliasAnnotations !== undefined ? { annotations: opts.aliasAnnotations } : {}),
      });
      this.liveSince = new Date(this.now);
      for (const v of [opts.alias.primary, opts.alias.secondary?.version]) if (v !== undefined) this.everLive.add(v);
    }
    // Versions the XR publishes that exist already are observed from the start.
    for (const [name, model] of Object.entries(this.versionModels)) {
      if (model.exists === true) {
        this.versionCreatedAt.set(name, -1_000_000);
        this.observed[`version-${name}`] = versionObject(name, this.namespace, model, this.published(name, model));
      }
    }
  }

  // --- the XR ---------------------------------------------------------------

  get spec(): Json {
    return this.composite.spec as Json;
  }

  /** spec.rollout, for tests to change (target, paused, abort, promote, ...). */
  get rollout(): Json {
    return this.spec.rollout as Json;
  }

  get status(): Json | undefined {
    return isRecord(this.composite.status) ? this.composite.status : undefined;
  }

  get rolloutStatus(): Json | undefined {
    const r = this.status?.rollout;
    return isRecord(r) ? r : undefined;
  }

  /** Changes the spec in place, as a kubectl edit would. */
  edit(change: (spec: Json) => void): this {
    change(this.spec);
    return this;
  }

  setTarget(t: TargetSpec): this {
    this.rollout.target = selector(t);
    return this;
  }

  /** Loses the XR status (a restore from backup, a re-created XR, a pruned field). */
  wipeStatus(): this {
    delete this.composite.status;
    return this.perturbed('status deleted');
  }

  // --- perturbations between ticks (logged on the next tick) -------------------

  /**
   * Replaces the XR status with anything: {} (lost), a forged object (wrong
   * types, huge numbers, unknown keys), or undefined to delete it.
   */
  setStatus(status: unknown, why = 'status replaced'): this {
    if (status === undefined) delete this.composite.status;
    else this.composite.status = clone(status);
    return this.perturbed(`${why}: ${brief(status)}`);
  }

  /** Changes status.rollout in place (a forged field, an unknown key); creates it if missing. */
  editRolloutStatus(change: (rollout: Json) => void, why = 'status.rollout edited'): this {
    const status = isRecord(this.composite.status) ? this.composite.status : (this.composite.status = {});
    const rollout = isRecord(status.rollout) ? status.rollout : (status.rollout = {});
    change(rollout);
    return this.perturbed(`${why}: ${brief(rollout)}`);
  }

  /** The XR status as the call `ticksAgo` ticks back saw it (1 = the last tick); undefined before the first. */
  statusSeen(ticksAgo: number): Json | undefined {
    const t = this.history[this.history.length - ticksAgo];
    return t?.statusBefore !== undefined ? clone(t.statusBefore) : undefined;
  }

  /** Stale status: the XR status as it was `ticksAgo` ticks back (a restore from an older backup). */
  staleStatus(ticksAgo: number): this {
    const i = Math.max(0, this.history.length - ticksAgo);
    const t = this.history[i];
    if (t === undefined) return this;
    if (t.statusBefore === undefined) delete this.composite.status;
    else this.composite.status = clone(t.statusBefore);
    return this.perturbed(`stale status from tick ${t.n}: ${brief(t.statusBefore)}`);
  }

  /**
   * Reordered writes: the response of the tick `ticksAgo` back (1 = the last
   * one, already applied) is applied again after the newer ones, as a write
   * that lands late would be: its status only, or the whole response (status
   * and the desired Alias, spec and metadata).
   */
  reorder(ticksAgo: number, what: 'status' | 'response' = 'status'): this {
    const t = [...this.history].reverse().filter((x) => x.outcome.fatal === undefined)[ticksAgo - 1];
    if (t === undefined) return this;
    if (t.outcome.status !== undefined) this.composite.status = clone(t.outcome.status);
    if (what === 'response' && t.alias !== undefined) this.observeAlias(t.alias);
    return this.perturbed(`reordered: the ${what} of tick ${t.n} applied again after newer ones`);
  }

  /** Sets (a string or any value: a corrupted one) or strips (undefined) an annotation of the observed Alias. */
  setAliasAnnotation(key: string, value: unknown): this {
    const alias = this.observed[ALIAS];
    if (alias === undefined) return this;
    const meta = alias.metadata as Json;
    const annotations: Json = isRecord(meta.annotations) ? { ...meta.annotations } : {};
    if (value === undefined) delete annotations[key];
    else annotations[key] = clone(value);
    meta.annotations = annotations;
    return this.perturbed(value === undefined ? `annotation ${key} stripped from the Alias` : `annotation ${key} on the Alias set to ${brief(value)}`);
  }

  /** Strips the rollout's memory from the live Alias (an annotation removed by hand, an Alias re-created by another tool). */
  forgetMemory(): this {
    return this.setAliasAnnotation(ROLLOUT_STATE_ANNOTATION, undefined);
  }

  /** The observed Alias's annotation `key`, if any. */
  aliasAnnotation(key: string): unknown {
    const meta = this.observed[ALIAS]?.metadata;
    return isRecord(meta) && isRecord(meta.annotations) ? meta.annotations[key] : undefined;
  }

  /**
   * Drops the ACK.ResourceSynced condition of the observed Alias ('alias') or of
   * a composed Version (by name), until the next apply re-observes it.
   */
  dropSynced(what: string): this {
    const obj = what === ALIAS ? this.observed[ALIAS] : this.observed[`version-${what}`];
    const status = isRecord(obj?.status) ? obj.status : undefined;
    if (status === undefined || !Array.isArray(status.conditions)) return this;
    status.conditions = (status.conditions as unknown[]).filter((c) => !(isRecord(c) && c.type === SYNCED));
    return this.perturbed(`ACK.ResourceSynced dropped from ${what}`);
  }

  /**
   * Deletes a Version object: a composed one vanishes from observed state
   * (Crossplane creates it again while it is desired, and ACK publishes it as
   * `republishAs` if given, a new Lambda version); a cluster one is gone.
   */
  deleteVersion(name: string, republishAs?: string): this {
    if (this.versionModels[name] !== undefined) {
      delete this.observed[`version-${name}`];
      this.versionCreatedAt.delete(name);
      if (republishAs !== undefined) this.versionModels[name].version = republishAs;
    } else if (this.cluster[name] !== undefined) {
      delete this.cluster[name];
    } else {
      throw new Error(`no Version model ${name}`);
    }
    return this.perturbed(`Version ${name} deleted${republishAs !== undefined ? `, to be published again as ${republishAs}` : ''}`);
  }

  /** ACK re-publishes a Version: the same object now reports another Lambda version. */
  republish(name: string, version: string): this {
    this.setVersion(name, { version });
    return this.perturbed(`Version ${name} re-published as ${version}`);
  }

  /**
   * Calls the function on the current state, with the XR status replaced
   * (undefined: deleted), and applies nothing: what it would render.
   */
  probe(overrides: { status?: unknown } = {}): { outcome: Outcome; rendered: Traffic | undefined } {
    const known = clone(this.knownRequirements);
    const state = (): CallState => {
      const s = this.callState();
      if ('status' in overrides) {
        if (overrides.status === undefined) delete s.composite.status;
        else s.composite.status = clone(overrides.status);
      }
      return s;
    };
    let outcome: Outcome | undefined;
    for (let i = 0; i < 5; i++) {
      const o = this.driver(state());
      if (o instanceof Promise) throw new Error('probe needs a synchronous driver');
      outcome = o;
      if (!this.settleRequirements(o.requirements)) break;
    }
    this.knownRequirements = known;
    return { outcome: outcome!, rendered: observedTraffic(outcome!.desired[ALIAS]?.resource) };
  }

  /** What the next call would be sent, as Crossplane would send it. */
  nextRequest(): { req: RunFunctionRequest; now: Date } {
    const s = this.callState();
    return { req: buildRequest(s), now: s.now };
  }

  private perturbed(what: string): this {
    this.pendingPerturbations.push(what);
    return this;
  }

  // --- the cluster ----------------------------------------------------------

  get liveAlias(): KubeObject | undefined {
    return this.observed[ALIAS];
  }

  get live(): Traffic | undefined {
    return observedTraffic(this.observed[ALIAS]);
  }

  get aliasSynced(): boolean {
    return aliasIsSynced(this.observed[ALIAS]);
  }

  /** Changes how ACK treats a Version (composed or in the cluster). */
  setVersion(name: string, change: Partial<VersionModel>): this {
    const model = this.versionModels[name] ?? this.cluster[name];
    if (model === undefined) throw new Error(`no Version model ${name}`);
    Object.assign(model, change);
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete (model as unknown as Json)[k];
    const key = `version-${name}`;
    if (this.observed[key] !== undefined && this.versionModels[name] !== undefined) {
      this.observed[key] = versionObject(name, this.namespace, model, this.published(name, model), (this.observed[key].spec as Json) ?? {});
    }
    return this;
  }

  // --- time -------------------------------------------------------------------

  get elapsedMs(): number {
    return this.now.getTime() - this.start.getTime();
  }

  advance(ms: number): this {
    this.now = new Date(this.now.getTime() + ms);
    return this;
  }

  /** Waits for the last response's TTL, as Crossplane does. */
  advanceByTtl(): this {
    const last = this.history.at(-1);
    return this.advance((last?.outcome.ttlSeconds ?? 60) * 1000);
  }

  // --- ticks ------------------------------------------------------------------

  /** One reconcile with a synchronous driver. */
  tick(): Tick {
    const outcome = this.reconcileSync();
    return this.apply(outcome);
  }

  /** One reconcile with any driver. */
  async tickAsync(): Promise<Tick> {
    let outcome: Outcome | undefined;
    for (let i = 0; i < 5; i++) {
      outcome = await this.driver(this.callState());
      if (!this.settleRequirements(outcome.requirements)) break;
    }
    return this.apply(outcome!);
  }

  /** Waits the TTL, then reconciles: Crossplane's loop without watches. */
  next(): Tick {
    return this.advanceByTtl().tick();
  }

  async nextAsync(): Promise<Tick> {
    return this.advanceByTtl().tickAsync();
  }

  /** Follows TTLs until `done` holds for a tick; throws after maxTicks. */
  runUntil(done: (t: Tick) => boolean, maxTicks = 200): Tick[] {
    const out: Tick[] = [];
    for (let i = 0; i < maxTicks; i++) {
      const t = out.length === 0 && this.history.length === 0 ? this.tick() : this.next();
      out.push(t);
      if (done(t)) return out;
    }
    throw new Error(`runUntil: not done after ${maxTicks} ticks; last rollout status ${JSON.stringify(out.at(-1)?.rollout)}`);
  }

  async runUntilAsync(done: (t: Tick) => boolean, maxTicks = 200): Promise<Tick[]> {
    const out: Tick[] = [];
    for (let i = 0; i < maxTicks; i++) {
      const t = out.length === 0 && this.history.length === 0 ? await this.tickAsync() : await this.nextAsync();
      out.push(t);
      if (done(t)) return out;
    }
    throw new Error(`runUntilAsync: not done after ${maxTicks} ticks; last rollout status ${JSON.stringify(out.at(-1)?.rollout)}`);
  }

  /** Every safety violation so far. */
  get violations(): string[] {
    return this.history.flatMap((t) => t.violations.map((v) => `tick ${t.n} (+${t.elapsedMs / 1000}s): ${v}`));
  }

  private reconcileSync(): Outcome {
    let outcome: Outcome | undefined;
    for (let i = 0; i < 5; i++) {
      const o = this.driver(this.callState());
      if (o instanceof Promise) throw new Error('this driver is asynchronous; use tickAsync()');
      outcome = o;
      if (!this.settleRequirements(o.requirements)) break;
    }
    return outcome!;
  }

  private callState(): CallState {
    this.refreshRequired();
    this.calls++;
    return {
      composite: clone(this.composite),
      observed: clone(this.observed),
      required: clone(this.required),
      now: new Date(this.now),
      tag: `${this.name}-${this.calls}`,
      ...(Object.keys(this.priorDesired).length > 0 ? { desired: clone(this.priorDesired) } : {}),
      ...(this.cloudwatch !== undefined ? { cloudwatch: this.cloudwatch } : {}),
    };
  }

  /** Records new requirements; true when they changed (Crossplane calls again). */
  private settleRequirements(reqs: Record<string, RequirementSelector>): boolean {
    const changed = JSON.stringify(sortKeys(reqs)) !== JSON.stringify(sortKeys(this.knownRequirements));
    this.knownRequirements = clone(reqs);
    return changed;
  }

  /** Fetches what the known requirements select, fresh, as Crossplane does per reconcile. */
  private refreshRequired(): void {
    const all: KubeObject[] = [];
    for (const [name, model] of Object.entries(this.cluster)) {
      all.push(versionObject(name, model.namespace ?? this.namespace, model, model.terminal === undefined && model.published !== false));
    }
    for (const [key, obj] of Object.entries(this.observed)) if (key.startsWith('version-')) all.push(obj);
    this.required = {};
    for (const [key, sel] of Object.entries(this.knownRequirements)) {
      this.required[key] = all.filter((o) => {
        if (o.apiVersion !== sel.apiVersion || o.kind !== sel.kind) return false;
        const meta = o.metadata as Json;
        if (sel.namespace !== undefined && meta.namespace !== sel.namespace) return false;
        if (sel.matchName !== undefined && meta.name !== sel.matchName) return false;
        return true;
      });
    }
  }

  /** A desired resource that is an earlier pipeline step's, passed through as it was sent (not this function's). */
  private isPriorStep(key: string, resource: KubeObject): boolean {
    const prior = this.priorDesired[key];
    return prior !== undefined && this.versionModels[String(isRecord(resource.metadata) ? resource.metadata.name : '')] === undefined
      ? JSON.stringify(sortKeys(prior)) === JSON.stringify(sortKeys(resource))
      : false;
  }

  private published(name: string, model: VersionModel): boolean {
    if (model.terminal !== undefined) return false;
    if (model.published !== undefined) return model.published;
    const created = this.versionCreatedAt.get(name);
    if (created === undefined) return false;
    // publishAfter = how many calls see it unpublished after it was created.
    return this.history.length - created - 1 >= (model.publishAfter ?? 0);
  }

  private specVersionNames(): string[] {
    const v = this.spec.versions;
    return Array.isArray(v) ? v.flatMap((e) => (isRecord(e) && typeof e.name === 'string' ? [e.name] : [])) : [];
  }

  /** Versions the simulator itself knows may carry traffic, for the safety check. */
  private routable(liveBefore: Traffic | undefined, writtenStatus: Json | undefined): Set<string> {
    const ok = new Set<string>();
    const spec = this.spec;
    for (const sel of [spec.stable, spec.canary, isRecord(spec.rollout) ? spec.rollout.target : undefined]) {
      if (isRecord(sel) && typeof sel.version === 'string') ok.add(sel.version);
    }
    for (const v of liveBefore ? [liveBefore.primary, liveBefore.secondary?.version] : []) if (v !== undefined) ok.add(v);
    // The stable version the function itself recorded (not whatever a perturbed status says), and every version that was ever live.
    const stable = isRecord(writtenStatus?.rollout) ? writtenStatus.rollout.stableVersion : undefined;
    if (typeof stable === 'string') ok.add(stable);
    for (const v of this.everLive) ok.add(v);
    const versions = [
      ...Object.entries(this.observed)
        .filter(([k]) => k.startsWith('version-'))
        .map(([, o]) => o),
      ...Object.values(this.required).flat(),
    ];
    for (const o of versions) if (ackPublished(o)) ok.add((o.status as Json).version as string);
    return ok;
  }

  /** The API server stores what was applied to the Alias (spec, annotations, labels); ACK syncs it later. */
  private observeAlias(desiredAlias: KubeObject): void {
    const before = this.observed[ALIAS];
    const liveBefore = observedTraffic(before);
    const changed = before === undefined || JSON.stringify(sortKeys(before.spec)) !== JSON.stringify(sortKeys(desiredAlias.spec));
    if (changed) this.aliasUnsyncedFor = this.aliasSyncDelay;
    else if (this.aliasUnsyncedFor > 0) this.aliasUnsyncedFor--;
    const meta = isRecord(desiredAlias.metadata) ? desiredAlias.metadata : {};
    this.observed[ALIAS] = aliasObject(
      String(meta.name),
      String(meta.namespace),
      isRecord(desiredAlias.spec) ? desiredAlias.spec : {},
      !this.aliasSyncHeld && this.aliasUnsyncedFor === 0,
      { annotations: meta.annotations, labels: meta.labels },
    );
    const live = observedTraffic(this.observed[ALIAS]);
    if (JSON.stringify(live) !== JSON.stringify(liveBefore)) this.liveSince = new Date(this.now);
    for (const v of live !== undefined ? [live.primary, live.secondary?.version] : []) if (v !== undefined) this.everLive.add(v);
  }

  private apply(outcome: Outcome): Tick {
    const liveBefore = this.live;
    const liveSince = this.liveSince !== undefined ? new Date(this.liveSince) : undefined;
    const aliasSyncedBefore = this.aliasSynced;
    const statusBefore = this.status !== undefined ? clone(this.status) : undefined;
    const writtenStatus = this.writtenStatus !== undefined ? clone(this.writtenStatus) : undefined;
    const specBefore = clone(this.spec);
    const observedBefore = clone(this.observed);
    const requiredBefore = clone(this.required);
    const perturbations = this.pendingPerturbations.splice(0);
    const aliasExisted = this.observed[ALIAS] !== undefined;
    const desiredAlias = outcome.desired[ALIAS]?.resource;
    const rendered = observedTraffic(desiredAlias);
    const violations: string[] = [];

    // Safety, judged before anything is applied.
    if (outcome.fatal === undefined) {
      if (aliasExisted && desiredAlias === undefined) violations.push('dropped the live Alias from desired state (Crossplane would delete it)');
      if (desiredAlias !== undefined && rendered === undefined) violations.push('desired Alias routes nothing (no functionVersion)');
      if (rendered !== undefined) {
        const ok = this.routable(liveBefore, writtenStatus);
        for (const v of [rendered.primary, rendered.secondary?.version]) {
          if (v !== undefined && !ok.has(v)) violations.push(`routes traffic to version ${v}, which is neither literal, live, stable, nor published by ACK`);
        }
        if (rendered.secondary !== undefined && (rendered.secondary.version === '$LATEST' || rendered.primary === '$LATEST')) {
          violations.push('routes weighted traffic to or from $LATEST');
        }
        if (rendered.secondary !== undefined && rendered.secondary.version === rendered.primary) violations.push('splits traffic between a version and itself');
        if (rendered.secondary !== undefined && !(rendered.secondary.percent > 0 && rendered.secondary.percent < 100)) {
          violations.push(`weighted routing of ${rendered.secondary.percent}%`);
        }
      }
    }

    // Server-side apply with ACK v1.14.1's Alias CRD (README "How a split ends"):
    // once the weights map has had a key, a desired Alias with an empty map is
    // stored as null and rejected, and one without routingConfig leaves the
    // split in AWS. The rejected apply changes nothing.
    let rejected = false;
    if (outcome.fatal === undefined && aliasExisted && desiredAlias !== undefined) {
      const before = weightKeys(this.observed[ALIAS]);
      const after = weightKeys(desiredAlias);
      if (before !== undefined && before.length > 0 && (after === undefined || after.length === 0)) {
        violations.push(
          after === undefined
            ? `leaves routingConfig out of an Alias whose weights map has ${JSON.stringify(before)}: ACK would keep the split in AWS`
            : 'renders an empty weights map after it had a key: server-side apply stores null and the ACK CRD rejects the Alias',
        );
        rejected = after !== undefined;
      }
      const primary = (desiredAlias.spec as Json | undefined)?.functionVersion;
      const weights = get(desiredAlias, 'routingConfig');
      if (weights !== undefined) {
        for (const [k, w] of Object.entries(weights)) {
          if (k === primary || k === '$LATEST' || primary === '$LATEST') violations.push(`weights map key ${k} with functionVersion ${String(primary)}`);
          if (!(typeof w === 'number' && w >= 0 && w < 1)) violations.push(`weight ${String(w)} for version ${k}`);
        }
        if (Object.keys(weights).length > 1) violations.push(`weights map with ${Object.keys(weights).length} keys`);
      }
      // Lambda refuses to delete a version an alias references (at any weight).
      const named = new Set([...(before ?? []), String((this.observed[ALIAS]!.spec as Json).functionVersion)]);
      for (const [key, obj] of Object.entries(this.observed)) {
        const n = isRecord(obj.status) ? obj.status.version : undefined;
        if (key.startsWith('version-') && typeof n === 'string' && named.has(n) && outcome.desired[key] === undefined) {
          violations.push(`drops composed Version ${key} (version ${n}), which the Alias still names`);
        }
      }
    }

    // Crossplane applies nothing from a Fatal response.
    if (outcome.fatal === undefined) {
      if (outcome.status !== undefined) {
        this.composite.status = clone(outcome.status);
        this.writtenStatus = clone(outcome.status);
      }
      // The Alias: the API server holds the desired spec and metadata at once; ACK syncs it later.
      if (desiredAlias !== undefined && !rejected) this.observeAlias(desiredAlias);
      // Versions: created when first desired, published as their model says.
      for (const [key, d] of Object.entries(outcome.desired)) {
        if (!key.startsWith('version-') || this.isPriorStep(key, d.resource)) continue;
        const name = String((d.resource.metadata as Json).name);
        if (!this.versionCreatedAt.has(name)) this.versionCreatedAt.set(name, this.history.length);
      }
      // Composed resources that are no longer desired are garbage collected.
      for (const key of Object.keys(this.observed)) if (outcome.desired[key] === undefined) delete this.observed[key];
    }

    const tick: Tick = {
      n: this.history.length + 1,
      at: new Date(this.now),
      elapsedMs: this.elapsedMs,
      liveBefore,
      aliasSyncedBefore,
      statusBefore,
      writtenStatus,
      spec: specBefore,
      observedBefore,
      requiredBefore,
      liveSince,
      perturbations,
      outcome,
      alias: desiredAlias,
      rendered,
      rollout: isRecord(outcome.status?.rollout) ? clone(outcome.status.rollout) : undefined,
      violations,
    };
    this.history.push(tick);

    // Observe Versions after the call, so "published after N ticks" counts calls.
    if (outcome.fatal === undefined) {
      for (const [key, d] of Object.entries(outcome.desired)) {
        // An earlier step's composed resource, passed through: observed as applied (nothing reports a status).
        if (key !== ALIAS && this.isPriorStep(key, d.resource)) {
          this.observed[key] = clone(d.resource);
          continue;
        }
        if (!key.startsWith('version-')) continue;
        const name = String((d.resource.metadata as Json).name);
        const model = this.versionModels[name];
        if (model === undefined) throw new Error(`the XR publishes ACK Version ${name}, but the simulation has no model for it`);
        this.observed[key] = versionObject(name, this.namespace, model, this.published(name, model), d.resource.spec as Json);
      }
    }
    return tick;
  }
}

// ---------------------------------------------------------------------------
// Independent facts, for the safety checks and for tests.

/** A short rendering of a value for logs (JSON, with non-finite numbers spelled out, cut at 160 characters). */
export function brief(v: unknown): string {
  let text: string;
  try {
    text =
      JSON.stringify(v, (_k, x: unknown) =>
        typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'string' && x.length > 60 ? `${x.slice(0, 20)}…(${x.length} chars)` : x,
      ) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

function findCond(obj: KubeObject | undefined, type: string): Json | undefined {
  const list = isRecord(obj?.status) ? (obj.status as Json).conditions : undefined;
  return Array.isArray(list) ? (list.find((c) => isRecord(c) && c.type === type) as Json | undefined) : undefined;
}

export function aliasIsSynced(alias: KubeObject | undefined): boolean {
  return findCond(alias, SYNCED)?.status === 'True';
}

/** Whether ACK has published this Version: a number, synced, not Terminal, Active if stated. */
export function ackPublished(v: KubeObject): boolean {
  const s = isRecord(v.status) ? v.status : {};
  if (findCond(v, TERMINAL)?.status === 'True') return false;
  if (typeof s.version !== 'string' || !/^[0-9]+$/.test(s.version)) return false;
  if (findCond(v, SYNCED)?.status !== 'True') return false;
  return s.state === undefined || s.state === 'Active';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isRecord(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortKeys(v[k])]),
  );
}

/** Percent of the rendered traffic on `version` (0 when no Alias is rendered). */
export function weightOn(t: Traffic | undefined, version: string): number {
  return percentOn(t, version);
}

/** Results of a tick with this reason. */
export function resultsWith(t: Tick, reason: string): Outcome['results'] {
  return t.outcome.results.filter((r) => r.reason === reason);
}
