// The LambdaCanary planner (pure): (XR, observed resources, required resources, clock) in;
// desired resources, XR status, conditions, results and requirements out.
// No I/O, no globals, no throwing for bad input: handler.ts adapts it to gRPC.
import { KIND_ALIAS, KIND_VERSION, aliasSynced } from './ack.js';
import { describeIssues } from '../api/errors.js';
import { CLAIM_NAME_LABEL, CLAIM_NAMESPACE_LABEL, get, getString, label, metaName, metaNamespace, type KubeObject } from './k8s.js';
import { ALIAS_RESOURCE_NAME, VERSION_RESOURCE_PREFIX, aliasObjectName, versionResourceName } from '../api/names.js';
import { renderAlias, renderVersion, retainAlias, retainVersion } from './render.js';
import { VersionLookup, type SelectorResolution } from './version-lookup.js';
import {
  CONDITION_ANALYSIS_PASSING,
  CONDITION_TRAFFIC_ROUTED,
  CONDITION_VERSIONS_RESOLVED,
  TTL_PENDING_SECONDS,
  TTL_STEADY_SECONDS,
  fatalPlan,
  targetNamespace,
  type DesiredComposed,
  type Plan,
  type PlanCondition,
  type PlanInput,
  type PlanResult,
} from './plan-contract.js';
import { encodeMemory, ROLLOUT_MEMORY_ANNOTATION } from './rollout/memory.js';
import { planRollout, type RolloutPlan } from './rollout/plan.js';
import type { RolloutState } from './rollout/state.js';
import { lambdaCanarySpecSchema, type LambdaCanarySpec, type LambdaCanaryStatus } from '../api/schema.js';
import {
  aliasRouting,
  aliasVersions,
  describeTraffic,
  gate,
  heldWeights,
  type GateOutcome,
  observedTraffic,
  percentOn,
  trafficEquals,
  trafficVersions,
  type Traffic,
  type TrafficIntent,
} from './traffic.js';

export function planLambdaCanary(input: PlanInput): Plan {
  const { composite, observed } = input;
  const parsed = lambdaCanarySpecSchema.safeParse(composite.spec ?? {});
  if (!parsed.success) {
    return fatalPlan('InvalidSpec', `invalid LambdaCanary ${metaName(composite) ?? ''}: ${describeIssues('spec', parsed.error)}`);
  }
  const spec = parsed.data;
  const namespace = targetNamespace(composite);
  if (namespace === undefined) {
    return fatalPlan(
      'NoNamespace',
      `cannot choose a namespace for the Alias and Versions of ${metaName(composite) ?? 'this XR'}: it is cluster-scoped and has no ${CLAIM_NAMESPACE_LABEL} label. ` +
        'Create it through its namespaced claim (Crossplane v1), or use the namespaced LambdaCanary (Crossplane v2).',
    );
  }
  // The XRD only bounds its length; Lambda (and so ACK) refuses anything else,
  // which would surface only as a Terminal Alias. Say so here, naming the field.
  if (spec.function.name !== undefined && !LAMBDA_FUNCTION_NAME.test(spec.function.name)) {
    return fatalPlan(
      'InvalidSpec',
      `invalid LambdaCanary ${metaName(composite) ?? ''}: spec.function.name: ${JSON.stringify(spec.function.name.slice(0, 80))} is not a Lambda function name or ARN; ` +
        'use letters, digits, "-" and "_" (for example orders-api), or an ARN such as arn:aws:lambda:us-east-1:123456789012:function:orders-api',
    );
  }
  const staticProblem = staticTrafficProblem(spec);
  if (staticProblem !== undefined) return fatalPlan('InvalidSpec', `invalid LambdaCanary ${metaName(composite) ?? ''}: ${staticProblem}`);

  const composedNames = new Set((spec.versions ?? []).map((v) => v.name));
  const lookup = new VersionLookup({
    namespace,
    namespacedXR: metaNamespace(composite) !== undefined && metaNamespace(composite) !== '',
    composedNames,
    observed,
    required: input.required,
  });

  const observedAlias = observed[ALIAS_RESOURCE_NAME]?.kind === KIND_ALIAS ? observed[ALIAS_RESOURCE_NAME] : undefined;
  const live = observedTraffic(observedAlias);
  const results: PlanResult[] = [];
  const conditions: PlanCondition[] = [];

  // 1. What the user asks for: manual stable/canary, or the rollout's current step.
  let intent: TrafficIntent;
  let rolloutPlan: RolloutPlan | undefined;
  let ttlSeconds = TTL_STEADY_SECONDS;
  const resolutions: SelectorResolution[] = [];
  if (spec.rollout !== undefined) {
    const r = planRollout({
      spec,
      rollout: spec.rollout,
      lookup,
      live,
      observedAlias,
      status: composite.status,
      now: input.now,
      ...(input.measurements !== undefined ? { measurements: input.measurements } : {}),
    });
    // The analysis needs CloudWatch first: the handler measures and plans again.
    if (r.measure !== undefined)
      return { desired: {}, conditions: [], results: [], requirements: lookup.requirements, ttlSeconds: TTL_PENDING_SECONDS, measure: r.measure };
    rolloutPlan = r;
    intent = r.intent;
    ttlSeconds = r.ttlSeconds;
    results.push(...r.results);
    resolutions.push(...r.resolutions);
  } else {
    const stable = lookup.resolve(spec.stable!);
    resolutions.push(stable);
    intent = { stable };
    if (spec.canary !== undefined) {
      const canary = lookup.resolve(spec.canary);
      resolutions.push(canary);
      intent.canary = { selector: canary, percent: spec.canary.weight };
    }
  }

  // 2. The safety gate: what is safe to render. Then the weights map: a split
  // ends with a zero-weight entry (server-side apply cannot empty the map);
  // when no correct map exists for the traffic, the live Alias is held.
  // A rollout that must hold (its state is lost) holds the live Alias exactly, whatever the gate would allow.
  let outcome: GateOutcome = rolloutPlan?.hold !== undefined ? { kind: 'hold', reason: 'Held', message: rolloutPlan.hold } : gate(intent);
  if (outcome.kind === 'route') {
    const routing = aliasRouting(outcome.traffic, observedAlias);
    if (routing.kind === 'stuck') outcome = { kind: 'hold', reason: 'Refused', message: routing.message };
  }
  let rendered: Traffic | undefined;
  if (outcome.kind === 'route') {
    rendered = outcome.traffic;
  } else if (live !== undefined) {
    rendered = live;
    // A held rollout has said why in its own Warning (RolloutHeld).
    if (outcome.reason !== 'Held')
      results.push({
        severity: 'Warning',
        reason: outcome.reason === 'Refused' ? 'TrafficRefused' : 'VersionUnresolved',
        message: `keeping ${describeTraffic(spec.alias.name, live)} unchanged: ${outcome.message}`,
      });
  } else if (outcome.fallback !== undefined) {
    rendered = outcome.fallback;
    results.push({
      severity: 'Warning',
      reason: outcome.reason === 'Refused' ? 'TrafficRefused' : 'VersionUnresolved',
      message: `creating alias ${spec.alias.name} with all traffic on stable version ${outcome.fallback.primary}; no canary traffic: ${outcome.message}`,
    });
  } else if (retainable(observedAlias)) {
    // The Alias exists but its spec names no version this function can read
    // (an empty functionVersion; one a newer ACK made from a ref alone): it is
    // live all the same, and leaving it out would make Crossplane delete it.
    results.push({
      severity: 'Warning',
      reason: outcome.reason === 'Refused' ? 'TrafficRefused' : 'VersionUnresolved',
      message: `keeping alias ${spec.alias.name} as it is (its spec.functionVersion names no version): ${outcome.message}`,
    });
  } else {
    results.push({
      severity: 'Warning',
      reason: 'VersionUnresolved',
      message: `not creating alias ${spec.alias.name} yet: ${outcome.message}`,
    });
  }

  const routing = rendered !== undefined ? aliasRouting(rendered, observedAlias) : undefined;
  // No correct map (a hold of an Alias whose map is already wrong): keep the map as it is.
  // A hold of the live Alias also keeps its map as it is: `live` reads the
  // weight rounded to the percent's two decimals, and rendering that back
  // would rewrite 0.12345 as 0.1235 (issue 10, defect 13).
  const heldLive = outcome.kind === 'hold' && live !== undefined;
  const weights = heldLive || routing?.kind === 'stuck' ? heldWeights(observedAlias) : routing?.kind === 'weights' ? routing.weights : undefined;
  const zeroWeight = routing?.kind === 'weights' ? routing.zeroWeight : undefined;

  // 3. Desired composed resources.
  const region = spec.region;
  const desired: Record<string, DesiredComposed> = {};
  const resolvedByName = new Map<string, SelectorResolution>();
  for (const r of resolutions) if (r.ref !== undefined && r.ref.namespace === namespace) resolvedByName.set(r.ref.name, r);
  for (const v of spec.versions ?? []) {
    const res = resolvedByName.get(v.name) ?? lookup.resolveRef({ namespace, name: v.name });
    desired[versionResourceName(v.name)] = {
      resource: renderVersion(v, spec.function, namespace, region),
      ready: res.resolution.kind === 'resolved',
    };
  }
  // Every version the observed Alias names, even in routing AWS never accepted
  // or at weight 0, counts as in use, and so does the zero-weight entry rendered.
  const carrying = new Set([...trafficVersions(live), ...trafficVersions(rendered)]);
  const inUse = new Set([...aliasVersions(observedAlias), ...carrying, ...(zeroWeight !== undefined ? [zeroWeight] : [])]);
  // Only ACK Versions count (another kind under a version-* key is not ours
  // to re-render as one). A Version whose observed status lost its number may
  // be the one behind a number the Alias names that no other Version's status
  // accounts for: kept too, until ACK reports its number again.
  const isAckVersion = (o: KubeObject) => o.kind === KIND_VERSION && (getString(o, 'apiVersion') ?? '').startsWith('lambda.services.k8s.aws/');
  const numbered = new Set(
    Object.values(observed)
      .filter(isAckVersion)
      .map((o) => getString(o, 'status', 'version')),
  );
  const unaccounted = [...inUse].filter((n) => /^[0-9]+$/.test(n) && !numbered.has(n));
  for (const [resourceName, obj] of Object.entries(observed)) {
    if (!resourceName.startsWith(VERSION_RESOURCE_PREFIX) || desired[resourceName] !== undefined || !isAckVersion(obj)) continue;
    const number = getString(obj, 'status', 'version');
    if (number === undefined && unaccounted.length > 0) {
      desired[resourceName] = { resource: retainVersion(obj, namespace), ready: false };
      results.push({
        severity: 'Warning',
        reason: 'VersionRetained',
        message: `keeping ACK Version ${metaName(obj) ?? resourceName} although it left spec.versions: its status has no version number, and alias ${spec.alias.name} names version ${unaccounted.join(', ')} that no Version's status accounts for`,
      });
    } else if (number !== undefined && inUse.has(number)) {
      desired[resourceName] = { resource: retainVersion(obj, namespace), ready: true };
      const why = carrying.has(number)
        ? 'still routes traffic to it'
        : number === zeroWeight
          ? 'names it at weight 0 in spec.routingConfig.additionalVersionWeights, the entry that ends a split under server-side apply, and Lambda ' +
            "refuses to delete a version an alias references; it is released when the next rollout's first step replaces that entry"
          : 'still names it in its spec (no traffic) until ACK applies the new routing; it is released once the Alias no longer names it';
      results.push({
        severity: 'Warning',
        reason: 'VersionRetained',
        message: `keeping ACK Version ${metaName(obj) ?? resourceName} (version ${number}) although it left spec.versions: alias ${spec.alias.name} ${why}`,
      });
    }
  }
  // The Alias carries the state it is rendered from, with its traffic: the
  // rollout's durable memory (rollout/memory.ts), handed back as observed state.
  const memory = {
    [ROLLOUT_MEMORY_ANNOTATION]: encodeMemory({
      ...(rendered !== undefined ? { traffic: rendered } : {}),
      ...(rolloutPlan ? { rollout: rolloutPlan.state } : {}),
    }),
  };
  if (rendered !== undefined) {
    const owner = label(composite, CLAIM_NAME_LABEL) ?? metaName(composite) ?? 'lambda-canary';
    const alias = renderAlias({
      objectName: aliasObjectName(owner, spec.alias.name),
      namespace,
      region,
      alias: spec.alias,
      fn: spec.function,
      traffic: rendered,
      weights,
      annotations: memory,
    });
    desired[ALIAS_RESOURCE_NAME] = {
      resource: alias,
      ready: observedAlias !== undefined && aliasSynced(observedAlias) && trafficEquals(live, rendered),
    };
  } else if (retainable(observedAlias) && outcome.kind === 'hold') {
    desired[ALIAS_RESOURCE_NAME] = { resource: retainAlias(observedAlias, namespace, memory), ready: false };
  }

  // 4. What users see.
  const unresolved = resolutions.filter((r) => r.resolution.kind !== 'resolved');
  if (unresolved.length === 0) {
    conditions.push({ type: CONDITION_VERSIONS_RESOLVED, status: 'True', reason: 'Resolved', message: resolutionSummary(resolutions) });
  } else {
    const failed = unresolved.find((r) => r.resolution.kind === 'failed');
    const worst = failed ?? unresolved[0]!;
    conditions.push({
      type: CONDITION_VERSIONS_RESOLVED,
      status: 'False',
      reason: worst.resolution.kind === 'failed' ? 'VersionFailed' : worst.resolution.kind === 'pending' ? worst.resolution.reason : 'Pending',
      message: unresolved.map((r) => (r.resolution.kind === 'resolved' ? '' : r.resolution.message)).join('; '),
    });
    for (const r of unresolved) {
      if (r.resolution.kind === 'failed') results.push({ severity: 'Warning', reason: 'VersionFailed', message: r.resolution.message });
    }
    ttlSeconds = Math.min(ttlSeconds, TTL_PENDING_SECONDS);
  }

  const analysisCondition = analysisPassing(spec, rolloutPlan?.state);
  if (analysisCondition !== undefined) conditions.push(analysisCondition);

  const synced = desired[ALIAS_RESOURCE_NAME]?.ready === true;
  if (outcome.kind === 'route' && rendered !== undefined) {
    conditions.push({
      type: CONDITION_TRAFFIC_ROUTED,
      status: synced ? 'True' : 'False',
      reason: synced ? 'Routed' : 'Syncing',
      message: synced ? describeTraffic(spec.alias.name, rendered) : `waiting for ACK to sync ${describeTraffic(spec.alias.name, rendered)}`,
    });
    if (!synced) ttlSeconds = Math.min(ttlSeconds, TTL_PENDING_SECONDS);
    if (!trafficEquals(live, rendered)) {
      results.push({ severity: 'Normal', reason: 'TrafficChanged', message: `routing ${describeTraffic(spec.alias.name, rendered)}` });
    }
    if (zeroWeight !== undefined && !sameWeights(observedAlias, weights)) {
      results.push({ severity: 'Normal', reason: 'ZeroWeightEntry', message: zeroWeightMessage(spec.alias.name, zeroWeight) });
    }
  } else {
    conditions.push({
      type: CONDITION_TRAFFIC_ROUTED,
      status: 'False',
      reason: outcome.kind === 'hold' && outcome.reason === 'Refused' ? 'Refused' : rendered !== undefined ? 'Held' : 'Waiting',
      message: outcome.kind === 'hold' ? outcome.message : 'alias not rendered',
    });
  }

  const status = buildStatus(intent, rendered, observedAlias);
  if (rolloutPlan !== undefined) status.rollout = rolloutPlan.status;
  status.message = summary(spec, outcome, rendered, rolloutPlan?.state);

  return { desired, status, conditions, results, requirements: lookup.requirements, ttlSeconds };
}

/** The AnalysisPassing condition of a rollout with spec.rollout.analysis: what its last measurement said. */
function analysisPassing(spec: LambdaCanarySpec, state: RolloutState | undefined): PlanCondition | undefined {
  if (spec.rollout?.analysis === undefined || state === undefined) return undefined;
  const a = state.analysis;
  const message = a?.message;
  const base = { type: CONDITION_ANALYSIS_PASSING };
  // Promotion needs every step's analysis to have passed (the last step's record is reset on entering it).
  if (state.phase === 'Promoted') return { ...base, status: 'True', reason: 'Promoted', message: 'every step of the rollout passed its analysis' };
  switch (a?.result) {
    case 'Passing':
      return { ...base, status: 'True', reason: 'Passing', message: message ?? `last measured ${a.lastMeasuredAt ?? ''}` };
    case 'Skipped':
      return { ...base, status: 'True', reason: 'Skipped', message: 'analysis skipped for this rollout (spec.rollout.analysis.skip)' };
    case 'Failing':
      return { ...base, status: 'False', reason: state.phase === 'Aborted' ? 'Aborted' : 'Failing', message: message ?? '' };
    case 'Unreadable':
      return { ...base, status: 'False', reason: 'Unreadable', message: message ?? '' };
    case 'Waiting':
      return { ...base, status: 'Unknown', reason: 'Waiting', message: message ?? '' };
    default:
      return { ...base, status: 'Unknown', reason: 'NotMeasured', message: 'no measurement in this step yet' };
  }
}

/** Why an Alias carries {R: 0} after a split ended (README "How a split ends"). */
export function zeroWeightMessage(aliasName: string, version: string): string {
  return (
    `alias ${aliasName} keeps version ${version} at weight 0 in spec.routingConfig.additionalVersionWeights: under server-side apply ` +
    `the map cannot be emptied (ACK v1.14.1's CRD rejects the null it becomes), so a split ends this way; version ${version} gets no traffic ` +
    `and is kept until the next rollout's first step replaces the entry`
  );
}

/**
 * An observed Alias that can be re-rendered as it is: one the API server
 * stored under ACK v1.14.1's CRD has a string functionVersion (possibly "").
 */
function retainable(alias: KubeObject | undefined): alias is KubeObject {
  return alias !== undefined && typeof get(alias, 'spec', 'functionVersion') === 'string';
}

function sameWeights(observedAlias: KubeObject | undefined, weights: Record<string, unknown> | undefined): boolean {
  return JSON.stringify(get(observedAlias, 'spec', 'routingConfig', 'additionalVersionWeights')) === JSON.stringify(weights);
}

/** Lambda's FunctionName pattern, as the ACK CRDs document it (AWS enforces it). */
export const LAMBDA_FUNCTION_NAME =
  /^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$/;

/** Spec errors only visible across fields, reported as Fatal like schema errors. */
function staticTrafficProblem(spec: LambdaCanarySpec): string | undefined {
  const a = spec.rollout?.analysis;
  if (a !== undefined && spec.function.name === undefined) {
    const uses = (['errorRate', 'throttleRate', 'duration', 'minInvocations'] as const).filter((k) => a[k] !== undefined);
    if (uses.length > 0) {
      return (
        `spec.rollout.analysis.${uses[0]}: Lambda's per-version metrics are keyed by the function's name, and spec.function.ref does not give it here; ` +
        'set spec.function.name, or use analysis.alarms and analysis.metrics'
      );
    }
  }
  const w = spec.canary?.weight ?? 0;
  if (w > 0 && w < 100) {
    if (spec.canary?.version === '$LATEST') {
      return 'spec.canary.version: $LATEST cannot receive weighted traffic; publish a version and use its number or a versionRef';
    }
    if (spec.stable?.version === '$LATEST') {
      return 'spec.stable.version: an alias on $LATEST cannot route weighted traffic; publish a version and use its number or a versionRef';
    }
    if (spec.stable?.version !== undefined && spec.stable.version === spec.canary?.version) {
      return `spec.canary.version: is the stable version ${spec.stable.version}; point the canary at a different version`;
    }
  }
  if (spec.rollout?.target.version === '$LATEST') {
    return 'spec.rollout.target.version: a rollout cannot shift weighted traffic to $LATEST; publish a version and use its number or a versionRef';
  }
  return undefined;
}

function resolutionSummary(resolutions: SelectorResolution[]): string {
  const parts = resolutions
    .map((r) => (r.resolution.kind === 'resolved' ? (r.ref ? `${r.display} is version ${r.resolution.version}` : r.display) : ''))
    .filter((s) => s !== '');
  return [...new Set(parts)].join(', ');
}

function buildStatus(intent: TrafficIntent, rendered: Traffic | undefined, observedAlias: KubeObject | undefined): LambdaCanaryStatus {
  const status: LambdaCanaryStatus = {};
  const entry = (sel: SelectorResolution) => {
    const version = sel.resolution.kind === 'resolved' ? sel.resolution.version : undefined;
    return {
      ...(sel.ref !== undefined ? { name: sel.ref.name } : {}),
      ...(version !== undefined ? { version } : {}),
      weight: percentOn(rendered, version),
    };
  };
  status.stable = entry(intent.stable);
  if (status.stable.version !== undefined) status.stableVersion = status.stable.version;
  if (intent.canary !== undefined) {
    status.canary = entry(intent.canary.selector);
    if (status.canary.version !== undefined) status.canaryVersion = status.canary.version;
    status.canaryWeight = status.canary.weight ?? 0;
  } else {
    status.canaryWeight = 0;
  }
  const arn = getString(observedAlias, 'status', 'ackResourceMetadata', 'arn');
  if (arn !== undefined) status.aliasARN = arn;
  return status;
}

function summary(spec: LambdaCanarySpec, outcome: ReturnType<typeof gate>, rendered: Traffic | undefined, rollout: LambdaCanaryStatus['rollout']): string {
  const traffic = rendered !== undefined ? describeTraffic(spec.alias.name, rendered) : `alias ${spec.alias.name} not created yet`;
  const phase = rollout?.phase !== undefined ? `${rollout.phase}: ` : '';
  return outcome.kind === 'hold' ? `${phase}${traffic} (held: ${outcome.message})` : `${phase}${traffic}`;
}
