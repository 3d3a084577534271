// Unknown fields at the top of a LambdaCanary spec and of the function's Input.
//
// Inside our own objects (spec.canary, spec.rollout, ...) every unknown field is
// an error: zod strictObjects, nobody else writes there. The top of spec is
// shared: Crossplane writes its machinery there, and a platform team that
// publishes our fields under its own XRD may add fields of its own. So there
// only a *near miss* of one of our fields is an error (a typo such as `canery`
// would otherwise be ignored, and the XR would silently do something else);
// anything else belongs to someone else and passes. The Input is ours alone:
// every unknown field is an error.
import type { z } from 'zod';

/**
 * Fields Crossplane itself writes into (or reads from) an XR's spec; never
 * reported. From Crossplane's XR CRD generation (internal/xcrd/schemas.go,
 * CompositeResourceSpecProps): v2.2.1 nests them under `crossplane` for
 * modern XRs and keeps them at the top for legacy cluster-scoped ones;
 * v1.14-v1.20 keep them at the top (environmentConfigRefs until v1.17,
 * publishConnectionDetailsTo until v1.20). The claim-only fields
 * (compositeDeletePolicy, resourceRef) are not propagated to the XR, but a
 * claim's spec is, so they are listed too.
 */
export const CROSSPLANE_SPEC_FIELDS: ReadonlySet<string> = new Set([
  // Crossplane v2, modern (namespaced or cluster-scoped) XRs.
  'crossplane',
  // Crossplane v1 XRs and v2 legacy cluster-scoped XRs.
  'compositionRef',
  'compositionSelector',
  'compositionRevisionRef',
  'compositionRevisionSelector',
  'compositionUpdatePolicy',
  'resourceRefs',
  'claimRef',
  'writeConnectionSecretToRef',
  'publishConnectionDetailsTo',
  'environmentConfigRefs',
  // Claim-only; never propagated to the XR, listed in case a claim's spec is read.
  'compositeDeletePolicy',
  'resourceRef',
]);

/** Kubernetes object fields an Input may carry besides ours. */
export const INPUT_OBJECT_FIELDS: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'metadata']);

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and
 * transpositions of two adjacent characters each cost 1, so the usual typos
 * (`regoin`, `stabel`) are one edit away.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The field of ours `field` is probably a typo of, if any: equal ignoring
 * case, or at most 2 edits away (1 for names of 5 characters or fewer, so a
 * platform team's `stage` or `state` is not taken for `stable`). The closest
 * wins; ties go to the earlier of `ours`.
 */
export function nearMiss(field: string, ours: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of ours) {
    if (name === field) return undefined;
    const distance = field.toLowerCase() === name.toLowerCase() ? 0 : editDistance(field, name);
    const allowed = Math.min(field.length, name.length) <= 5 ? 1 : 2;
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/**
 * superRefine params for the refinements below: run them on any object, also
 * when a field already failed. zod skips refinements after such a failure by
 * default, and a misspelt required field (`alais`) is exactly the case where
 * the suggestion matters.
 */
export const ON_ANY_OBJECT = {
  when: (payload: { value: unknown }): boolean => typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

/** The params of an unknown-field issue, which describeIssues (errors.ts) words. */
export interface UnknownFieldParams {
  unknownField: true;
  /** Our field the unknown one is probably a typo of. */
  suggestion?: string;
}

/**
 * A superRefine for the top of a LambdaCanary spec: a near miss of one of
 * `ours` is an issue naming the field and ours; Crossplane's fields and any
 * other field pass (they are the platform team's, see the README).
 */
export function rejectNearMisses(ours: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const field of Object.keys(value)) {
      if (ours.includes(field) || CROSSPLANE_SPEC_FIELDS.has(field)) continue;
      const suggestion = nearMiss(field, ours);
      if (suggestion === undefined) continue;
      ctx.addIssue({ code: 'custom', path: [field], message: `unknown field; did you mean ${suggestion}?`, params: { unknownField: true, suggestion } });
    }
  };
}

/**
 * A superRefine for the function's Input: every field that is neither ours
 * nor a Kubernetes object field is an issue, with a suggestion when it is a
 * near miss of ours.
 */
export function rejectUnknownFields(ours: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const field of Object.keys(value)) {
      if (ours.includes(field) || INPUT_OBJECT_FIELDS.has(field)) continue;
      const suggestion = nearMiss(field, ours);
      const params: UnknownFieldParams = suggestion === undefined ? { unknownField: true } : { unknownField: true, suggestion };
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: suggestion === undefined ? 'unknown field; remove it' : `unknown field; did you mean ${suggestion}?`,
        params,
      });
    }
  };
}
