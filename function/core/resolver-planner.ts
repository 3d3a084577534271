// Resolver mode: a later pipeline step for compositions that already render
// ACK Aliases (with patch-and-transform, go-templating, KCL...). It resolves
// version references inside those Aliases and leaves everything else alone:
//
//   spec.functionVersionRef: {from: {name, namespace?}}          -> spec.functionVersion
//   spec.routingConfig.additionalVersionWeightRefs:
//     [{versionRef: {from: {name, namespace?}}, weight: 0.1}]   -> spec.routingConfig.additionalVersionWeights
//
// weight is a fraction (0.0-1.0), the unit of the map it replaces. The same
// safety gate as the LambdaCanary mode applies: an unresolved reference never
// drops or regresses a live Alias.
import { z } from 'zod';
import { KIND_ALIAS, KIND_VERSION, aliasSynced } from './ack.js';
import { describeIssues } from '../api/errors.js';
import { get, getString, isRecord, metaName, metaNamespace, type KubeObject } from './k8s.js';
import type { DesiredComposed, Plan, PlanCondition, PlanResult } from './plan-contract.js';
import { CONDITION_TRAFFIC_ROUTED, CONDITION_VERSIONS_RESOLVED, TTL_PENDING_SECONDS, TTL_STEADY_SECONDS, fatalPlan, targetNamespace } from './plan-contract.js';
import { VersionLookup, type SelectorResolution } from './version-lookup.js';
import { LITERAL_VERSION, resourceReferenceSchema } from '../api/schema.js';
import { aliasRouting, describeTraffic, gate, heldWeights, observedTraffic, trafficEquals, type Traffic, type TrafficIntent } from './traffic.js';
import { fractionToPercent } from './weights.js';

export interface ResolverInput {
  composite: KubeObject | undefined;
  desired: Readonly<Record<string, KubeObject>>;
  observed: Readonly<Record<string, KubeObject>>;
  required: Readonly<Record<string, KubeObject[]>>;
  keepFunctionVersionRef: boolean;
}

const weightRefSchema = z.strictObject({
  versionRef: resourceReferenceSchema,
  weight: z
    .number()
    .gt(0, 'must be above 0 (leave the entry out for no routing)')
    .lt(1, 'must be below 1 (point functionVersionRef at the version to move all traffic)')
    .refine((w) => Math.abs(w * 10000 - Math.round(w * 10000)) < 1e-6, 'must have at most four decimals (0.0001 = 0.01%)'),
});

/** The reference fields of one Alias, validated. */
const aliasRefsSchema = z.object({
  functionVersion: z.string().regex(LITERAL_VERSION, 'must be a version number or $LATEST').optional(),
  functionVersionRef: resourceReferenceSchema.optional(),
  routingConfig: z
    .looseObject({
      additionalVersionWeights: z.record(z.string(), z.number()).optional(),
      additionalVersionWeightRefs: z.array(weightRefSchema).max(1, 'an alias routes to at most one additional version').optional(),
    })
    .optional(),
});

export function isAliasWithRefs(obj: KubeObject): boolean {
  if (obj.kind !== KIND_ALIAS || !(getString(obj, 'apiVersion') ?? '').startsWith('lambda.services.k8s.aws/')) return false;
  return get(obj, 'spec', 'functionVersionRef') !== undefined || get(obj, 'spec', 'routingConfig', 'additionalVersionWeightRefs') !== undefined;
}

export function planResolver(input: ResolverInput): Plan {
  const results: PlanResult[] = [];
  const conditions: PlanCondition[] = [];
  const desired: Record<string, DesiredComposed> = {};
  const resolutions: SelectorResolution[] = [];
  const composite = input.composite ?? {};
  const xrNamespace = targetNamespace(composite);
  const namespacedXR = (metaNamespace(composite) ?? '') !== '';

  // Versions the pipeline composes itself are read from observed resources:
  // only ACK Versions (by API group), by namespace, so a same-named Version of
  // another group or namespace is still fetched and waited for.
  const composedByNamespace = new Map<string, Set<string>>();
  for (const obj of Object.values(input.desired)) {
    const name = metaName(obj);
    const ns = metaNamespace(obj) ?? xrNamespace;
    if (obj.kind !== KIND_VERSION || !(getString(obj, 'apiVersion') ?? '').startsWith('lambda.services.k8s.aws/') || name === undefined || ns === undefined)
      continue;
    if (!composedByNamespace.has(ns)) composedByNamespace.set(ns, new Set());
    composedByNamespace.get(ns)!.add(name);
  }

  const requirements: Plan['requirements'] = {};
  let allRouted = true;
  let anyAlias = false;
  for (const [resourceName, obj] of Object.entries(input.desired)) {
    if (!isAliasWithRefs(obj)) continue;
    anyAlias = true;
    const where = `desired resource ${resourceName} (Alias ${metaName(obj) ?? '?'})`;
    const parsed = aliasRefsSchema.safeParse(obj.spec);
    if (!parsed.success) return fatalPlan('InvalidAlias', `invalid references in ${where}: ${describeIssues('spec', parsed.error)}`);
    const refs = parsed.data;
    if ((refs.functionVersion !== undefined) === (refs.functionVersionRef !== undefined)) {
      return fatalPlan('InvalidAlias', `invalid references in ${where}: set exactly one of spec.functionVersion or spec.functionVersionRef`);
    }
    const literalWeights = Object.entries(refs.routingConfig?.additionalVersionWeights ?? {});
    const weightRefs = refs.routingConfig?.additionalVersionWeightRefs ?? [];
    if (literalWeights.length + weightRefs.length > 1) {
      return fatalPlan(
        'InvalidAlias',
        `invalid references in ${where}: spec.routingConfig may route to at most one additional version in all (additionalVersionWeights plus additionalVersionWeightRefs)`,
      );
    }
    const namespace = metaNamespace(obj) ?? xrNamespace;
    if (namespace === undefined) {
      return fatalPlan(
        'NoNamespace',
        `cannot resolve ${where}: it has no metadata.namespace and the XR has no namespace or claim namespace; set metadata.namespace on the Alias`,
      );
    }

    const composedNames = composedByNamespace.get(namespace) ?? new Set<string>();
    const lookup = new VersionLookup({ namespace, namespacedXR, composedNames, observed: input.observed, required: input.required, mode: 'Resolver' });
    const stable =
      refs.functionVersionRef !== undefined ? lookup.resolve({ versionRef: refs.functionVersionRef }) : lookup.resolve({ version: refs.functionVersion! });
    const intent: TrafficIntent = { stable };
    resolutions.push(stable);
    if (weightRefs.length === 1) {
      const canary = lookup.resolve({ versionRef: weightRefs[0]!.versionRef });
      resolutions.push(canary);
      intent.canary = { selector: canary, percent: fractionToPercent(weightRefs[0]!.weight) };
    } else if (literalWeights.length === 1) {
      const [version, fraction] = literalWeights[0]!;
      if (!/^[0-9]+$/.test(version) || !(fraction > 0 && fraction < 1)) {
        return fatalPlan(
          'InvalidAlias',
          `invalid references in ${where}: spec.routingConfig.additionalVersionWeights must map a version number to a fraction between 0 and 1`,
        );
      }
      intent.canary = { selector: lookup.resolve({ version }), percent: fractionToPercent(fraction) };
    }
    Object.assign(requirements, lookup.requirements);

    const observedAlias = input.observed[resourceName]?.kind === KIND_ALIAS ? input.observed[resourceName] : undefined;
    const live = observedTraffic(observedAlias);
    let outcome = gate(intent);
    // A split ends with a zero-weight entry (see traffic.ts aliasRouting); with no correct map, hold.
    if (outcome.kind === 'route') {
      const routing = aliasRouting(outcome.traffic, observedAlias);
      if (routing.kind === 'stuck') outcome = { kind: 'hold', reason: 'Refused', message: routing.message };
    }
    let rendered: Traffic | undefined;
    if (outcome.kind === 'route') rendered = outcome.traffic;
    else if (live !== undefined) rendered = live;
    else rendered = outcome.fallback;
    const aliasName = getString(obj, 'spec', 'name') ?? resourceName;
    if (outcome.kind === 'hold') {
      allRouted = false;
      results.push({
        severity: 'Warning',
        reason: outcome.reason === 'Refused' ? 'TrafficRefused' : 'VersionUnresolved',
        message:
          rendered === undefined
            ? `not creating ${where} yet: ${outcome.message}`
            : live !== undefined
              ? `keeping ${describeTraffic(aliasName, live)} in ${where} unchanged: ${outcome.message}`
              : `creating ${where} with all traffic on version ${rendered.primary}: ${outcome.message}`,
      });
    }
    if (rendered === undefined) continue; // Not live yet, so leaving it out deletes nothing.
    desired[resourceName] = {
      resource: resolvedAlias(obj, rendered, input.keepFunctionVersionRef, observedAlias),
      ready: observedAlias !== undefined && aliasSynced(observedAlias) && trafficEquals(live, rendered),
    };
    if (!desired[resourceName].ready) allRouted = false;
  }

  const unresolved = resolutions.filter((r) => r.resolution.kind !== 'resolved');
  if (anyAlias) {
    conditions.push(
      unresolved.length === 0
        ? { type: CONDITION_VERSIONS_RESOLVED, status: 'True', reason: 'Resolved' }
        : {
            type: CONDITION_VERSIONS_RESOLVED,
            status: 'False',
            reason: unresolved.some((r) => r.resolution.kind === 'failed') ? 'VersionFailed' : 'Pending',
            message: unresolved.map((r) => (r.resolution.kind === 'resolved' ? '' : r.resolution.message)).join('; '),
          },
      { type: CONDITION_TRAFFIC_ROUTED, status: allRouted ? 'True' : 'False', reason: allRouted ? 'Routed' : 'NotYetRouted' },
    );
  }
  return {
    desired,
    conditions,
    results,
    requirements,
    ttlSeconds: unresolved.length > 0 || !allRouted ? TTL_PENDING_SECONDS : TTL_STEADY_SECONDS,
    removed: Object.keys(input.desired).filter((n) => isAliasWithRefs(input.desired[n]!) && desired[n] === undefined),
  };
}

/** The earlier step's Alias with references replaced by resolved versions. */
function resolvedAlias(obj: KubeObject, traffic: Traffic, keepRef: boolean, observedAlias: KubeObject | undefined): KubeObject {
  const out = structuredClone(obj);
  const spec = out.spec as KubeObject;
  if (!keepRef) delete spec.functionVersionRef;
  spec.functionVersion = traffic.primary;
  const routing: KubeObject = isRecord(spec.routingConfig) ? spec.routingConfig : {};
  delete routing.additionalVersionWeightRefs;
  const r = aliasRouting(traffic, observedAlias);
  if (r.kind === 'weights') routing.additionalVersionWeights = r.weights;
  else if (r.kind === 'stuck')
    routing.additionalVersionWeights = heldWeights(observedAlias); // A hold: the map as it is.
  else delete routing.additionalVersionWeights;
  if (Object.keys(routing).length > 0) spec.routingConfig = routing;
  else delete spec.routingConfig;
  return out;
}
