// Resolver mode: a later pipeline step for compositions that already render
// ACK Aliases (with patch-and-transform, go-templating, KCL...). It resolves
// version references inside those Aliases and leaves everything else alone:
//
//   spec.functionVersionRef: {from: {name, namespace?}}          -> spec.functionVersion
//   spec.routingConfig.additionalVersionWeightRefs:
//     [{versionRef: {from: {name, namespace?}}, weight: 0.1}]   -> spec.routingConfig.additionalVersionWeights
//
// weight is a fraction (0.0-1.0), the unit of the map it replaces, written
// exactly as given; 0 means no traffic. The same safety gate as the
// LambdaCanary mode applies: an unresolved reference never drops or regresses
// a live Alias, and an Alias that exists is live, whatever its spec says.
//
// keepFunctionVersionRef renders spec.functionVersionRef alone, without
// spec.functionVersion. ACK's generated reference code refuses a reference and
// the field it fills set together: lambda-controller
// pkg/resource/alias/references.go validateReferenceFields (commit 7efec75,
// the newest on main) returns ResourceReferenceAndIDNotSupportedFor for
// functionRef next to functionName, and a functionVersionRef generated from
// generator.yaml would follow the same pattern. ACK also clears the resolved
// value before it writes the spec back (runtime pkg/runtime/reconciler.go
// patchResourceMetadataAndSpec -> ClearResolvedReferences), and AliasStatus
// has no version field (apis/v1alpha1/alias.go): the live version of such an
// Alias is known only by resolving the reference it holds. No ACK commit up to
// 7efec75 (v1.14.2) has an Alias functionVersionRef at all.
import { z } from 'zod';
import { KIND_ALIAS, KIND_VERSION, aliasSynced } from './ack.js';
import { describeIssues } from '../api/errors.js';
import { canonical, get, getRecord, getString, isRecord, metaName, metaNamespace, type KubeObject } from './k8s.js';
import type { DesiredComposed, Plan, PlanCondition, PlanResult } from './plan-contract.js';
import { CONDITION_TRAFFIC_ROUTED, CONDITION_VERSIONS_RESOLVED, TTL_PENDING_SECONDS, TTL_STEADY_SECONDS, fatalPlan, targetNamespace } from './plan-contract.js';
import { VersionLookup, type SelectorResolution } from './version-lookup.js';
import { LITERAL_VERSION, resourceReferenceSchema } from '../api/schema.js';
import {
  aliasRouting,
  describeTraffic,
  gate,
  heldWeights,
  observedTraffic,
  type AliasRouting,
  type GateOutcome,
  type Traffic,
  type TrafficIntent,
} from './traffic.js';
import { fractionToPercent } from './weights.js';

export interface ResolverInput {
  composite: KubeObject | undefined;
  desired: Readonly<Record<string, KubeObject>>;
  observed: Readonly<Record<string, KubeObject>>;
  required: Readonly<Record<string, KubeObject[]>>;
  keepFunctionVersionRef: boolean;
}

// A weight is a fraction in the unit of the map it replaces, so it needs no
// conversion and is written exactly: rounding it to a percent's two decimals
// would be a silently different Alias, and AWS takes any fraction. 0 is "no
// traffic", for compositions that cannot remove the entry (patch-and-transform).
const weightRefSchema = z.strictObject({
  versionRef: resourceReferenceSchema,
  weight: z.number().min(0, 'must be at least 0 (0 routes no traffic)').lt(1, 'must be below 1 (point functionVersionRef at the version to move all traffic)'),
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

const WEIGHTS_FIELD = 'spec.routingConfig.additionalVersionWeights';

export function isAliasWithRefs(obj: KubeObject): boolean {
  if (obj.kind !== KIND_ALIAS || !(getString(obj, 'apiVersion') ?? '').startsWith('lambda.services.k8s.aws/')) return false;
  return get(obj, 'spec', 'functionVersionRef') !== undefined || get(obj, 'spec', 'routingConfig', 'additionalVersionWeightRefs') !== undefined;
}

/** Why AWS would refuse a literal weights entry on its own, naming the field; undefined if it would not. */
function literalEntryProblem(version: string, fraction: number): string | undefined {
  const field = `${WEIGHTS_FIELD}[${JSON.stringify(version)}]`;
  if (version === '$LATEST') return `${field}: Lambda refuses weighted routing to $LATEST; publish a version and use its number`;
  if (!/^[1-9][0-9]*$/.test(version)) return `${field}: must be a published version number without leading zeros, such as "6" (Lambda refuses any other key)`;
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    return `${field}: must be a fraction between 0 and 1 (0.1 is 10% of the alias traffic), as Lambda requires; got ${fraction}`;
  }
  return undefined;
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
    const invalid = (message: string) => fatalPlan('InvalidAlias', `invalid references in ${where}: ${message}`);
    const parsed = aliasRefsSchema.safeParse(obj.spec);
    if (!parsed.success) return invalid(describeIssues('spec', parsed.error));
    const refs = parsed.data;
    if ((refs.functionVersion !== undefined) === (refs.functionVersionRef !== undefined)) {
      return invalid('set exactly one of spec.functionVersion or spec.functionVersionRef');
    }
    const literalWeights = Object.entries(refs.routingConfig?.additionalVersionWeights ?? {});
    const weightRefs = refs.routingConfig?.additionalVersionWeightRefs ?? [];
    if (literalWeights.length + weightRefs.length > 1) {
      return invalid('spec.routingConfig may route to at most one additional version in all (additionalVersionWeights plus additionalVersionWeightRefs)');
    }
    const literal = literalWeights[0];
    const literalProblem = literal !== undefined ? literalEntryProblem(...literal) : undefined;
    if (literalProblem !== undefined) return invalid(literalProblem);
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
    const weightRef = weightRefs[0];
    // At weight 0 the Version gets no traffic, so it is neither looked up nor waited for.
    if (weightRef !== undefined && weightRef.weight > 0) {
      const canary = lookup.resolve({ versionRef: weightRef.versionRef });
      resolutions.push(canary);
      intent.canary = { selector: canary, percent: fractionToPercent(weightRef.weight), fraction: weightRef.weight };
    }
    // A literal entry is written as the earlier step wrote it; what AWS would
    // refuse is Fatal, including routing to the alias's own version, which is
    // known once the stable resolves.
    if (literal !== undefined && stable.resolution.kind === 'resolved') {
      const [version] = literal;
      const field = `${WEIGHTS_FIELD}[${JSON.stringify(version)}]`;
      const by = refs.functionVersionRef !== undefined ? `spec.functionVersionRef (${stable.display})` : 'spec.functionVersion';
      if (stable.resolution.version === version) {
        return invalid(
          `${field}: is version ${version}, the version ${by} resolves to; Lambda refuses routing to the alias's own version. Name another version`,
        );
      }
      if (stable.resolution.version === '$LATEST') return invalid(`${field}: ${by} is $LATEST, and Lambda refuses weighted routing from $LATEST`);
    }

    // An observed Alias exists, so it is live, whatever its spec says: it is
    // never left out of desired state (Crossplane would delete it).
    const observedAlias = input.observed[resourceName]?.kind === KIND_ALIAS ? input.observed[resourceName] : undefined;
    const liveRead = readLiveVersion(observedAlias, lookup);
    Object.assign(requirements, lookup.requirements);
    const readable = liveRead.alias;
    const live = observedTraffic(readable);

    let outcome: GateOutcome = gate(intent);
    let routing: AliasRouting = { kind: 'none' };
    let rendered: Traffic | undefined;
    if (outcome.kind === 'route') {
      if (literal !== undefined) {
        const [version, fraction] = literal;
        routing = { kind: 'weights', weights: { [version]: fraction } };
        rendered =
          fraction > 0
            ? { primary: outcome.traffic.primary, secondary: { version, percent: fractionToPercent(fraction), fraction } }
            : { primary: outcome.traffic.primary };
      } else {
        // A split ends with a zero-weight entry (see traffic.ts aliasRouting); with no correct map, hold.
        routing = aliasRouting(outcome.traffic, readable);
        rendered = outcome.traffic;
        if (routing.kind === 'stuck') {
          outcome =
            liveRead.pending !== undefined
              ? {
                  kind: 'hold',
                  reason: 'Unresolved',
                  message: `the live Alias names its version only by spec.functionVersionRef (${liveRead.pending.display}), and that version is needed to end the split with a zero-weight entry: ${liveRead.pending.message}`,
                }
              : { kind: 'hold', reason: 'Refused', message: routing.message };
        }
      }
    }

    const aliasName = getString(obj, 'spec', 'name') ?? resourceName;
    let resource: KubeObject | undefined;
    if (outcome.kind === 'route') {
      // The reference alone only while it names exactly the version routed to.
      const useRef =
        input.keepFunctionVersionRef &&
        refs.functionVersionRef !== undefined &&
        stable.resolution.kind === 'resolved' &&
        stable.resolution.version === rendered!.primary;
      resource = resolvedAlias(obj, rendered!.primary, routing, useRef);
    } else {
      allRouted = false;
      const reason = outcome.reason === 'Refused' ? 'TrafficRefused' : 'VersionUnresolved';
      if (observedAlias !== undefined) {
        resource = heldAlias(obj, observedAlias);
        results.push({
          severity: 'Warning',
          reason,
          message:
            live !== undefined
              ? `keeping ${describeTraffic(aliasName, live)} in ${where} unchanged: ${outcome.message}`
              : `keeping ${where} as it is (its spec names no version this function can read now): ${outcome.message}`,
        });
      } else if (outcome.fallback !== undefined) {
        resource = resolvedAlias(
          obj,
          outcome.fallback.primary,
          aliasRouting(outcome.fallback, undefined),
          input.keepFunctionVersionRef && refs.functionVersionRef !== undefined,
        );
        results.push({ severity: 'Warning', reason, message: `creating ${where} with all traffic on version ${outcome.fallback.primary}: ${outcome.message}` });
      } else {
        results.push({ severity: 'Warning', reason, message: `not creating ${where} yet: ${outcome.message}` });
      }
    }
    if (resource === undefined) continue; // Not live yet, so leaving it out deletes nothing.
    desired[resourceName] = {
      resource,
      // Ready once ACK reports the Alias synced with exactly the version fields
      // rendered (an exact weight is equal only to itself), and what it routes is known.
      ready: observedAlias !== undefined && aliasSynced(observedAlias) && live !== undefined && sameVersionFields(resource, observedAlias),
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
    // Only an Alias that is not live (nothing observed) is ever left out.
    removed: Object.keys(input.desired).filter((n) => isAliasWithRefs(input.desired[n]!) && desired[n] === undefined && input.observed[n]?.kind !== KIND_ALIAS),
  };
}

/**
 * The observed Alias with its live version filled in where its spec names it
 * only by reference, and that reference's resolution if it is not resolved.
 * An Alias ACK holds with functionVersionRef alone has no spec.functionVersion
 * (ACK clears the resolved value before writing the spec back) and no version
 * in its status, so the Version its reference names is resolved like any
 * other. Nothing is guessed: while that Version is not resolved, the live
 * version stays unknown.
 */
function readLiveVersion(
  observed: KubeObject | undefined,
  lookup: VersionLookup,
): { alias: KubeObject | undefined; pending?: { display: string; message: string } } {
  if (observed === undefined || LITERAL_VERSION.test(getString(observed, 'spec', 'functionVersion') ?? '')) return { alias: observed };
  const ref = resourceReferenceSchema.safeParse(get(observed, 'spec', 'functionVersionRef'));
  if (!ref.success) return { alias: observed };
  const res = lookup.resolve({ versionRef: ref.data });
  if (res.resolution.kind !== 'resolved') return { alias: observed, pending: { display: res.display, message: res.resolution.message } };
  const alias = structuredClone(observed);
  (alias.spec as KubeObject).functionVersion = res.resolution.version;
  return { alias };
}

/** JSON with object keys sorted, so equal values compare equal whatever order they came in. */
/** Whether two Aliases have the same functionVersion, functionVersionRef and weights map, exactly. */
function sameVersionFields(a: KubeObject, b: KubeObject): boolean {
  const fields = (o: KubeObject) =>
    canonical([get(o, 'spec', 'functionVersion'), get(o, 'spec', 'functionVersionRef'), get(o, 'spec', 'routingConfig', 'additionalVersionWeights')]);
  return fields(a) === fields(b);
}

/**
 * The earlier step's Alias with references replaced by resolved versions.
 * With `useRef` (keepFunctionVersionRef) it keeps spec.functionVersionRef and
 * writes no functionVersion: ACK refuses the two together (see the top of
 * this file). Weight references always become literal weights: ACK has no
 * reference for the keys of additionalVersionWeights.
 */
function resolvedAlias(obj: KubeObject, primary: string, routing: AliasRouting, useRef: boolean): KubeObject {
  const out = structuredClone(obj);
  const spec = out.spec as KubeObject;
  if (useRef) {
    delete spec.functionVersion;
  } else {
    delete spec.functionVersionRef;
    spec.functionVersion = primary;
  }
  const r: KubeObject = isRecord(spec.routingConfig) ? spec.routingConfig : {};
  delete r.additionalVersionWeightRefs;
  if (routing.kind === 'weights') r.additionalVersionWeights = routing.weights;
  else delete r.additionalVersionWeights;
  if (Object.keys(r).length > 0) spec.routingConfig = r;
  else delete spec.routingConfig;
  return out;
}

/**
 * A hold: the earlier step's Alias with its version fields exactly as the
 * observed Alias has them. Crossplane applies what this step returns with
 * server-side apply, under one field manager per XR. The earlier step's object
 * is what that manager has applied all along, so it keeps owning the same
 * fields; the observed spec as a whole also holds what ACK late-initialised or
 * wrote back from AWS, and applying it would make our manager co-own those for
 * the length of the hold, and revert the earlier step's changes to unrelated
 * fields (a description), for no safety gain. The version fields
 * (functionVersion, functionVersionRef, the weights map) are copied from the
 * observed spec rather than rebuilt from the traffic read from it: the API
 * server already holds those values, so the apply changes none of them (not
 * 0.12345, not an empty functionVersion, not a reference whose Version has not
 * resolved), and a field the observed spec lacks stays out, so no
 * functionVersion is added next to a reference ACK resolves itself.
 */
function heldAlias(obj: KubeObject, observed: KubeObject): KubeObject {
  const out = structuredClone(obj);
  const spec = out.spec as KubeObject;
  const seen = getRecord(observed, 'spec') ?? {};
  // Only values an API server can hold under the CRD (a string, a reference
  // object); anything else is left out rather than applied.
  delete spec.functionVersion;
  delete spec.functionVersionRef;
  if (typeof seen.functionVersion === 'string') spec.functionVersion = seen.functionVersion;
  if (isRecord(seen.functionVersionRef)) spec.functionVersionRef = structuredClone(seen.functionVersionRef);
  const r: KubeObject = isRecord(spec.routingConfig) ? spec.routingConfig : {};
  delete r.additionalVersionWeightRefs;
  const weights = heldWeights(observed);
  if (weights !== undefined) r.additionalVersionWeights = weights;
  else delete r.additionalVersionWeights;
  if (Object.keys(r).length > 0) spec.routingConfig = r;
  else delete spec.routingConfig;
  return out;
}
