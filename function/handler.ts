// The thin adapter between Crossplane's RunFunction protocol and the pure
// planners: request -> plan input; plan -> response. It never throws and never
// drops what earlier pipeline steps desired.
import {
  Capability,
  Ready,
  Severity,
  Status,
  Target,
  type RunFunctionRequest,
  type RunFunctionResponse,
  type ResourceSelector,
} from '@crossplane-org/function-sdk-typescript';
import type { Logger } from 'pino';
import { describeIssues } from './api/errors.js';
import { getString, isRecord, metaName, type KubeObject } from './core/k8s.js';
import { planLambdaCanary } from './core/canary-planner.js';
import { fatalPlan, type ConditionStatus, type Plan, type Severity as PlanSeverity } from './core/plan-contract.js';
import { planResolver } from './core/resolver-planner.js';
import { inputSchema } from './api/schema.js';
import { measurementKey, type MeasurementQuery, type Measurements } from './core/analysis/measurements.js';
import { DEFAULT_DEADLINE_MS, type Measurer } from './aws/cloudwatch.js';
import { awsCredentialsFrom } from './aws/credentials.js';

export interface HandlerOptions {
  /** The clock; injected so tests control time. */
  now?: () => Date;
  logger?: Logger;
  /**
   * Answers to hand the planner when a rollout's analysis asks for
   * measurements (Plan.measure) in runFunction, the synchronous entry: tests
   * and `crossplane render` runs. Unset: none, so the analysis sees
   * CloudWatch as unreadable and holds its step (it never advances unread).
   */
  measurements?: Measurements | ((queries: MeasurementQuery[]) => Measurements);
}

export interface MeasuredHandlerOptions extends Omit<HandlerOptions, 'measurements'> {
  /** Answers the queries (one shared CloudWatchMeasurer per process); unset: queries get an error result. */
  measurer?: Measurer;
  /** How long the measurements may take, in ms, well under Crossplane's per-call timeout (default 3000). */
  deadlineMs?: number;
}

const SEVERITY: Record<PlanSeverity, Severity> = {
  Fatal: Severity.SEVERITY_FATAL,
  Warning: Severity.SEVERITY_WARNING,
  Normal: Severity.SEVERITY_NORMAL,
};

const CONDITION_STATUS: Record<ConditionStatus, Status> = {
  True: Status.STATUS_CONDITION_TRUE,
  False: Status.STATUS_CONDITION_FALSE,
  Unknown: Status.STATUS_CONDITION_UNKNOWN,
};

/**
 * Runs one RunFunction call synchronously: a plan that asks for
 * measurements is planned again with opts.measurements (none by default).
 * Never throws: failures become Fatal results.
 */
export function runFunction(req: RunFunctionRequest, opts: HandlerOptions = {}): RunFunctionResponse {
  return guarded(req, opts, () => {
    const now = opts.now?.() ?? new Date();
    const first = plan(req, now, undefined);
    if (first.measure === undefined) return first;
    const m = opts.measurements;
    return plan(req, now, typeof m === 'function' ? m(first.measure) : (m ?? {}));
  });
}

/**
 * Runs one RunFunction call in two passes when a rollout's analysis needs
 * CloudWatch: the planner states its queries (Plan.measure), the measurer
 * answers them by the deadline (with the credentials the pipeline step
 * passed, else the SDK's default chain), and the planner decides with the
 * answers, like Crossplane's own requirements loop inside one call. A call
 * that needs none (a steady LambdaCanary) is planned once and calls nothing.
 * Never rejects.
 */
export async function runFunctionWithMeasurements(req: RunFunctionRequest, opts: MeasuredHandlerOptions = {}): Promise<RunFunctionResponse> {
  const { measurer, deadlineMs = DEFAULT_DEADLINE_MS, ...rest } = opts;
  const started = Date.now();
  const now = rest.now?.() ?? new Date();
  let first: Plan;
  try {
    first = plan(req, now, undefined);
  } catch (err) {
    return internalError(req, rest, err);
  }
  const queries = first.measure;
  if (queries === undefined) return guarded(req, rest, () => first);
  const measurements = await measure(req, queries, measurer, started + deadlineMs);
  return guarded(req, rest, () => plan(req, now, measurements));
}

async function measure(req: RunFunctionRequest, queries: readonly MeasurementQuery[], measurer: Measurer | undefined, deadline: number): Promise<Measurements> {
  const everyQuery = (message: string): Measurements => Object.fromEntries(queries.map((q) => [measurementKey(q), { kind: 'error', message } as const]));
  if (measurer === undefined) return everyQuery('measuring CloudWatch: this function was started without a measurer (a bug; please report it)');
  const creds = awsCredentialsFrom(req.credentials);
  if (creds.kind === 'invalid') return everyQuery(creds.message);
  try {
    return await measurer.measure([...queries], { deadline, ...(creds.kind === 'static' ? { credentials: creds.credentials } : {}) });
  } catch (err) {
    return everyQuery(`measuring CloudWatch failed unexpectedly (please report it): ${err instanceof Error ? err.message : String(err)}`);
  }
}

function guarded(req: RunFunctionRequest, opts: HandlerOptions, planned: () => Plan): RunFunctionResponse {
  try {
    return respond(req, planned());
  } catch (err) {
    return internalError(req, opts, err);
  }
}

/** A planner that threw: a bug, not bad input, reported without touching desired state. */
function internalError(req: RunFunctionRequest, opts: HandlerOptions, err: unknown): RunFunctionResponse {
  const message = err instanceof Error ? err.message : String(err);
  opts.logger?.error({ err, tag: req.meta?.tag }, 'planning failed');
  return respond(req, { ...fatalPlan('InternalError', `internal error while planning (please report it): ${message}`), ttlSeconds: 60 });
}

function plan(req: RunFunctionRequest, now: Date, measurements: Measurements | undefined): Plan {
  const parsedInput = inputSchema.safeParse(req.input ?? {});
  if (!parsedInput.success) {
    return { ...fatalPlan('InvalidInput', `invalid function input: ${describeIssues('input', parsedInput.error)}`), ttlSeconds: 60 };
  }
  const required = requiredResources(req);
  if (parsedInput.data.mode === 'Resolver') {
    return planResolver({
      desired: desiredResources(req),
      observed: observedResources(req),
      required,
      keepFunctionVersionRef: parsedInput.data.resolver?.keepFunctionVersionRef ?? false,
      composite: isRecord(req.observed?.composite?.resource) ? req.observed.composite.resource : undefined,
    });
  }
  const composite = req.observed?.composite?.resource;
  if (!isRecord(composite)) {
    return {
      ...fatalPlan('NoComposite', 'the request carries no observed composite resource; this function must run in a Composition pipeline'),
      ttlSeconds: 60,
    };
  }
  const planned = planLambdaCanary({ composite, observed: observedResources(req), required, now, ...(measurements !== undefined ? { measurements } : {}) });
  if (planned.fatal !== undefined) return planned;
  // An earlier step's composed resource under a name this function renders
  // would be replaced silently (and the earlier object deleted): refuse.
  const earlier = desiredResources(req);
  const clashes = Object.keys(planned.desired).filter((name) => name in earlier);
  if (clashes.length > 0) {
    const describe = (o: KubeObject | undefined) => `${getString(o, 'kind') ?? '?'} ${metaName(o) ?? '?'}`;
    const list = clashes.map((n) => `"${n}" (an earlier step's ${describe(earlier[n])}; this function's ${describe(planned.desired[n]?.resource)})`).join(', ');
    return {
      ...fatalPlan(
        'ResourceNameConflict',
        `composed resource names used by an earlier pipeline step and by this function: ${list}; rename the earlier step's resources (this function uses "alias" and "version-<name>")`,
      ),
      ttlSeconds: 60,
    };
  }
  return planned;
}

function observedResources(req: RunFunctionRequest): Record<string, KubeObject> {
  const out: Record<string, KubeObject> = {};
  for (const [name, r] of Object.entries(req.observed?.resources ?? {})) {
    if (isRecord(r?.resource)) out[name] = r.resource;
  }
  return out;
}

function desiredResources(req: RunFunctionRequest): Record<string, KubeObject> {
  const out: Record<string, KubeObject> = {};
  for (const [name, r] of Object.entries(req.desired?.resources ?? {})) {
    if (isRecord(r?.resource)) out[name] = r.resource;
  }
  return out;
}

/**
 * Required resources from both maps: Crossplane v2 fills required_resources,
 * v1.15-v1.20 only the deprecated extra_resources. A key present with no
 * items means "looked up, found nothing".
 */
function requiredResources(req: RunFunctionRequest): Record<string, KubeObject[]> {
  const out: Record<string, KubeObject[]> = {};
  for (const map of [req.extraResources, req.requiredResources]) {
    for (const [key, list] of Object.entries(map ?? {})) {
      out[key] = (list?.items ?? []).map((i) => i.resource).filter(isRecord);
    }
  }
  return out;
}

function respond(req: RunFunctionRequest, p: Plan): RunFunctionResponse {
  // Desired state from earlier pipeline steps passes through untouched.
  const desired = {
    composite: req.desired?.composite,
    resources: { ...(req.desired?.resources ?? {}) },
  };
  const rsp: RunFunctionResponse = {
    meta: { tag: req.meta?.tag ?? '', ttl: { seconds: p.ttlSeconds, nanos: 0 } },
    desired,
    results: [],
    context: req.context,
    requirements: undefined,
    conditions: [],
  };
  if (p.fatal !== undefined) {
    // A Fatal plan without a reason would be a bug of ours.
    const reason = p.fatalReason ?? 'InternalError';
    rsp.results.push({ severity: Severity.SEVERITY_FATAL, message: p.fatal, reason, target: Target.TARGET_COMPOSITE_AND_CLAIM });
    return rsp;
  }
  for (const name of p.removed ?? []) delete desired.resources[name];
  for (const [name, d] of Object.entries(p.desired)) {
    desired.resources[name] = { resource: d.resource, ready: d.ready ? Ready.READY_TRUE : Ready.READY_FALSE, connectionDetails: {} };
  }
  if (p.status !== undefined) {
    const prior = isRecord(desired.composite?.resource) ? desired.composite.resource : {};
    const priorStatus = isRecord(prior.status) ? prior.status : {};
    desired.composite = {
      resource: { ...prior, status: { ...priorStatus, ...p.status } },
      connectionDetails: desired.composite?.connectionDetails ?? {},
      ready: desired.composite?.ready ?? Ready.READY_UNSPECIFIED,
    };
  }
  for (const r of p.results) {
    rsp.results.push({
      severity: SEVERITY[r.severity],
      message: r.message,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      target: Target.TARGET_COMPOSITE_AND_CLAIM,
    });
  }
  for (const c of p.conditions) {
    rsp.conditions.push({
      type: c.type,
      status: CONDITION_STATUS[c.status],
      reason: c.reason,
      ...(c.message !== undefined ? { message: c.message } : {}),
      target: Target.TARGET_COMPOSITE_AND_CLAIM,
    });
  }
  if (Object.keys(p.requirements).length > 0) {
    // Crossplane v2.2+ says it understands requirements.resources; older
    // versions (v1.15-v2.1) all honour the deprecated extra_resources.
    const modern = (req.meta?.capabilities ?? []).includes(Capability.CAPABILITY_REQUIRED_RESOURCES);
    const selectors: Record<string, ResourceSelector> = {};
    for (const [key, s] of Object.entries(p.requirements)) {
      selectors[key] = {
        apiVersion: s.apiVersion,
        kind: s.kind,
        ...(s.matchName !== undefined ? { matchName: s.matchName } : { matchLabels: { labels: s.matchLabels ?? {} } }),
        ...(s.namespace !== undefined ? { namespace: s.namespace } : {}),
      };
    }
    rsp.requirements = modern ? { extraResources: {}, resources: selectors, schemas: {} } : { extraResources: selectors, resources: {}, schemas: {} };
  }
  return rsp;
}
