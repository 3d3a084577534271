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
import type { MeasurementQuery, Measurements } from './core/analysis/measurements.js';
import { fatalPlan, type ConditionStatus, type Plan, type Severity as PlanSeverity } from './core/plan-contract.js';
import { planResolver } from './core/resolver-planner.js';
import { inputSchema } from './api/schema.js';

export interface HandlerOptions {
  /** The clock; injected so tests control time. */
  now?: () => Date;
  logger?: Logger;
  /**
   * Runs the CloudWatch measurements a rollout's analysis asks for
   * (Plan.measure) and returns the answers by measurementKey. Without it,
   * or when it fails, the analysis sees CloudWatch as unreadable and holds
   * the step (it never advances on an unread measurement).
   */
  measure?: (queries: MeasurementQuery[], req: RunFunctionRequest) => Promise<Measurements>;
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
 * Runs one RunFunction call without CloudWatch: a plan that asks for
 * measurements is planned again with none (the analysis holds its step).
 * Never throws: failures become Fatal results.
 */
export function runFunction(req: RunFunctionRequest, opts: HandlerOptions = {}): RunFunctionResponse {
  return guarded(req, opts, () => {
    const now = opts.now?.() ?? new Date();
    const first = plan(req, now);
    return first.measure !== undefined ? plan(req, now, {}) : first;
  });
}

/**
 * Runs one RunFunction call, measuring what a rollout's analysis asks for
 * with opts.measure between two passes of the planner (like Crossplane's own
 * requirements loop, but inside one call). Never throws.
 */
export async function runFunctionMeasured(req: RunFunctionRequest, opts: HandlerOptions = {}): Promise<RunFunctionResponse> {
  const now = opts.now?.() ?? new Date();
  let first: Plan;
  try {
    first = plan(req, now);
  } catch (err) {
    return guarded(req, opts, () => {
      throw err;
    });
  }
  if (first.measure === undefined || opts.measure === undefined) return guarded(req, opts, () => (first.measure !== undefined ? plan(req, now, {}) : first));
  let measurements: Measurements;
  try {
    measurements = await opts.measure(first.measure, req);
  } catch (err) {
    // The measurer reports failures per query; a throw is a bug there. The analysis sees nothing measured.
    opts.logger?.error({ err, tag: req.meta?.tag }, 'measuring failed');
    measurements = {};
  }
  return guarded(req, opts, () => plan(req, now, measurements));
}

function guarded(req: RunFunctionRequest, opts: HandlerOptions, planned: () => Plan): RunFunctionResponse {
  try {
    return respond(req, planned());
  } catch (err) {
    // A bug, not bad input: report it without touching desired state.
    const message = err instanceof Error ? err.message : String(err);
    opts.logger?.error({ err, tag: req.meta?.tag }, 'planning failed');
    return respond(req, { ...fatalPlan('InternalError', `internal error while planning (please report it): ${message}`), ttlSeconds: 60 });
  }
}

function plan(req: RunFunctionRequest, now: Date, measurements?: Measurements): Plan {
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
