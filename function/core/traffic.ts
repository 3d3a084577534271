// Traffic: which Lambda versions an Alias sends requests to, and the safety
// gate that turns what the user asked for into what is safe to render.
//
// The gate's rules (README "Safety rules"):
// - never drop or regress a live Alias while a reference is unresolved: hold
//   what the observed Alias does, and say why;
// - create a new Alias only once its stable version resolves;
// - never route weighted traffic to an unresolved Version, to $LATEST, or to
//   the stable version itself, nor between Versions whose execution role or
//   dead-letter config differ (AWS rejects that).
import { isRecord, get, getString, type KubeObject } from './k8s.js';
import type { ResolvedVersion } from './ack.js';
import type { SelectorResolution } from './version-lookup.js';
import { fractionToPercent, percentToBasisPoints, percentToFraction } from './weights.js';

export interface Traffic {
  /** spec.functionVersion: the version that gets the rest of the traffic. */
  primary: string;
  /**
   * The one additional version and its share (additionalVersionWeights).
   * `fraction`, where set, is the exact weight to write: resolver mode passes
   * an earlier step's weights through as they are (0.12345 is not a whole
   * hundredth of a percent, and rounding it would be a silently different
   * Alias). `percent` is then only for messages and status.
   */
  secondary?: { version: string; percent: number; fraction?: number };
}

/** The weight written for the additional version: the exact fraction where known, else the percent's. */
function secondaryFraction(secondary: NonNullable<Traffic['secondary']>): number {
  return secondary.fraction ?? percentToFraction(secondary.percent);
}

export function trafficEquals(a: Traffic | undefined, b: Traffic | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.primary !== b.primary) return false;
  if (a.secondary === undefined || b.secondary === undefined) return a.secondary === b.secondary;
  if (a.secondary.version !== b.secondary.version) return false;
  // An exact weight is equal only to itself (0.12345 is not 0.1235).
  if (a.secondary.fraction !== undefined || b.secondary.fraction !== undefined) return secondaryFraction(a.secondary) === secondaryFraction(b.secondary);
  return percentToBasisPoints(a.secondary.percent) === percentToBasisPoints(b.secondary.percent);
}

/** Percent of traffic a given version gets under this traffic. */
export function percentOn(traffic: Traffic | undefined, version: string | undefined): number {
  if (traffic === undefined || version === undefined) return 0;
  if (traffic.secondary?.version === version) return traffic.secondary.percent;
  if (traffic.primary === version) return (10000 - percentToBasisPoints(traffic.secondary?.percent ?? 0)) / 100;
  return 0;
}

/** All versions the traffic touches. */
export function trafficVersions(traffic: Traffic | undefined): string[] {
  if (traffic === undefined) return [];
  return traffic.secondary ? [traffic.primary, traffic.secondary.version] : [traffic.primary];
}

/**
 * What an observed Alias routes, from the spec we last applied to it. Only
 * routing AWS can have accepted counts as a split: exactly one entry, a
 * version number other than functionVersion (itself a number, not $LATEST),
 * a share strictly between 0 and 1 (at the precision rendered). Anything
 * else (several entries, a weight of 1.5, NaN or 1e-9, a "$LATEST" key,
 * routing from $LATEST) was never applied, so it is not held
 * or re-rendered as traffic; aliasVersions() still counts every version it
 * names, so no Version it mentions is deleted.
 */
export function observedTraffic(alias: KubeObject | undefined): Traffic | undefined {
  if (alias === undefined) return undefined;
  const primary = getString(alias, 'spec', 'functionVersion');
  if (primary === undefined || primary === '') return undefined;
  const weights = get(alias, 'spec', 'routingConfig', 'additionalVersionWeights');
  if (isRecord(weights)) {
    const routed = Object.entries(weights).filter(([, fraction]) => typeof fraction === 'number' && fraction > 0);
    if (routed.length === 1) {
      const [version, fraction] = routed[0]! as [string, number];
      const percent = fractionToPercent(fraction);
      const bp = percentToBasisPoints(percent);
      if (/^[0-9]+$/.test(version) && /^[0-9]+$/.test(primary) && version !== primary && bp > 0 && bp < 10000) {
        return { primary, secondary: { version, percent } };
      }
    }
  }
  return { primary };
}

/**
 * Every version an observed Alias's spec names: functionVersion and every key
 * of its weights map, whatever the weight. A zero-weight entry (the one that
 * ends a split, see aliasRouting) still references the version in AWS, and
 * Lambda refuses to delete a version an alias references.
 */
export function aliasVersions(alias: KubeObject | undefined): string[] {
  if (alias === undefined) return [];
  const out: string[] = [];
  const primary = getString(alias, 'spec', 'functionVersion');
  if (primary !== undefined && primary !== '') out.push(primary);
  const weights = get(alias, 'spec', 'routingConfig', 'additionalVersionWeights');
  if (isRecord(weights)) for (const version of Object.keys(weights)) out.push(version);
  return out;
}

/** The observed weights map's entries, or undefined when the spec has no map. */
function observedWeights(alias: KubeObject | undefined): Record<string, unknown> | undefined {
  const weights = get(alias, 'spec', 'routingConfig', 'additionalVersionWeights');
  return isRecord(weights) ? weights : undefined;
}

/** Numeric version strings in numeric order (no precision loss for long ones). */
function byVersionNumber(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}

export type AliasRouting =
  /** Write this weights map (a split, a zero-weight entry, or {} for a map that never had a key). */
  | { kind: 'weights'; weights: Record<string, number>; zeroWeight?: string }
  /** Leave routingConfig out: the Alias never had a weights map. */
  | { kind: 'none' }
  /** No correct map exists for this traffic: hold the live Alias and say why. */
  | { kind: 'stuck'; message: string };

/**
 * The weights map to render for `traffic` on an Alias whose spec is
 * `observed`. Crossplane applies composed resources with server-side apply,
 * and ACK v1.14.1's Alias CRD does not let the weights map be null: once our
 * field manager has owned a key, applying {} (or no routingConfig) stores
 * null and the API server rejects the object, and leaving routingConfig out
 * lets ACK keep the old split in AWS. So a split ends with exactly one
 * zero-weight entry {R: 0}, R a version number other than the new primary:
 * 1. a key of the observed map (keeps an existing zero-weight entry stable;
 *    on abort it is the canary);
 * 2. else the observed functionVersion (on promotion: the old stable);
 * 3. else, if the observed map has no version-number key, {} again (it was
 *    accepted before, so SSA never made us own a key); otherwise (the map
 *    names only the new primary) there is no correct map: stuck.
 * Never a zero-weight entry from $LATEST (AWS refuses routing on $LATEST).
 */
export function aliasRouting(traffic: Traffic, observed: KubeObject | undefined): AliasRouting {
  const split = routingWeights(traffic);
  if (split !== undefined) return { kind: 'weights', weights: split };
  const weights = observedWeights(observed);
  if (weights === undefined) return { kind: 'none' };
  // Only version numbers count: this function never writes another key, so
  // server-side apply never made it the owner of one (and AWS has none).
  const keys = Object.keys(weights).filter((k) => /^[0-9]+$/.test(k));
  if (keys.length === 0) return { kind: 'weights', weights: {} };
  const field = 'spec.routingConfig.additionalVersionWeights';
  if (traffic.primary === '$LATEST') {
    return {
      kind: 'stuck',
      message:
        `cannot move the alias to $LATEST: its ${field} has had an entry, and under server-side apply with ACK v1.14.1's Alias CRD ` +
        'that map can never be emptied again (an empty map is stored as null, which the CRD rejects); a split can only end with a zero-weight entry, ' +
        'and Lambda refuses any routing on $LATEST. Publish a version and point the alias at its number',
    };
  }
  const numeric = (v: string | undefined): v is string => v !== undefined && /^[0-9]+$/.test(v);
  const fromMap = keys.filter((k) => k !== traffic.primary).sort(byVersionNumber);
  const observedPrimary = getString(observed, 'spec', 'functionVersion');
  const residue = fromMap[0] ?? (numeric(observedPrimary) && observedPrimary !== traffic.primary ? observedPrimary : undefined);
  if (residue !== undefined) return { kind: 'weights', weights: { [residue]: 0 }, zeroWeight: residue };
  return {
    kind: 'stuck',
    message:
      `cannot move the alias to version ${traffic.primary}: its ${field} names ${keys.map((k) => JSON.stringify(k)).join(', ')} and no other version number, ` +
      `and under server-side apply with ACK v1.14.1's Alias CRD that map can never be emptied (an empty map is stored as null, which the CRD rejects); ` +
      `a split ends only with a zero-weight entry for a version other than ${traffic.primary}, and the Alias names none. ` +
      `Add one by hand (kubectl patch alias --type=merge -p '{"spec":{"routingConfig":{"additionalVersionWeights":{"<published version>":0}}}}') and the function takes it over`,
  };
}

/**
 * The observed weights map as it is: what a hold renders when no correct map
 * exists (see aliasRouting "stuck"). Re-applying what the API server holds
 * changes nothing; {} instead would be stored as null and rejected. Only
 * entries this function could have written (a version number, a finite
 * number) are kept: no API server holds the others, or we never owned them.
 */
export function heldWeights(observed: KubeObject | undefined): Record<string, number> | undefined {
  const weights = observedWeights(observed);
  if (weights === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const [k, w] of Object.entries(weights)) {
    if (/^[0-9]+$/.test(k) && typeof w === 'number' && Number.isFinite(w)) out[k] = w;
  }
  return out;
}

/** The Alias routingConfig for a traffic split; undefined means "no routing". */
export function routingWeights(traffic: Traffic): Record<string, number> | undefined {
  if (traffic.secondary === undefined) return undefined;
  return { [traffic.secondary.version]: secondaryFraction(traffic.secondary) };
}

export interface TrafficIntent {
  stable: SelectorResolution;
  /**
   * The canary and its percent. Weight 0 means no canary traffic. `fraction`,
   * where set, is the exact weight (resolver mode), and decides on its own
   * whether there is any canary traffic: 0.00004 is some, not none.
   */
  canary?: { selector: SelectorResolution; percent: number; fraction?: number };
}

export type GateOutcome =
  /** Render exactly this traffic. */
  | { kind: 'route'; traffic: Traffic }
  /** Keep the observed Alias as it is (or create nothing), and say why. */
  | { kind: 'hold'; reason: 'Unresolved' | 'Refused' | 'Held'; message: string; fallback?: Traffic };

/**
 * Decides the traffic to render for an intent. `fallback` on a hold is the
 * safe traffic for an Alias that does not exist yet (all on a resolved stable).
 */
export function gate(intent: TrafficIntent): GateOutcome {
  const canary = intent.canary;
  const none = canary === undefined || (canary.fraction !== undefined ? canary.fraction <= 0 : percentToBasisPoints(canary.percent) === 0);
  const all = canary !== undefined && (canary.fraction !== undefined ? canary.fraction >= 1 : percentToBasisPoints(canary.percent) >= 10000);
  const c = canary?.selector.resolution;
  // All traffic to a resolved canary needs nothing of the stable (issue 10,
  // decision): no request goes to it, so a stable that is missing does not
  // stop a promotion by weight 100. Checked before the stable on purpose.
  if (all && c?.kind === 'resolved') return { kind: 'route', traffic: { primary: c.version } };

  const stable = intent.stable.resolution;
  if (stable.kind !== 'resolved') {
    return { kind: 'hold', reason: 'Unresolved', message: `stable: ${stable.message}` };
  }
  const onStable: Traffic = { primary: stable.version };
  if (canary === undefined || none) return { kind: 'route', traffic: onStable };

  if (c === undefined || c.kind !== 'resolved') {
    return { kind: 'hold', reason: 'Unresolved', message: `canary: ${c?.message ?? 'unknown'}`, fallback: onStable };
  }

  const refusal = refuseSplit(stable, c, intent.stable.display, canary.selector.display);
  if (refusal !== undefined) return { kind: 'hold', reason: 'Refused', message: refusal, fallback: onStable };
  const secondary: NonNullable<Traffic['secondary']> = { version: c.version, percent: canary.percent };
  if (canary.fraction !== undefined) secondary.fraction = canary.fraction;
  return { kind: 'route', traffic: { primary: stable.version, secondary } };
}

/** Why AWS (or sense) forbids splitting traffic between these two, if it does. */
export function refuseSplit(stable: ResolvedVersion, canary: ResolvedVersion, stableName: string, canaryName: string): string | undefined {
  if (stable.version === '$LATEST' || canary.version === '$LATEST') {
    return 'Lambda cannot route weighted traffic to or from $LATEST; publish a version and reference it';
  }
  if (stable.version === canary.version) {
    return `canary ${canaryName} resolves to version ${canary.version}, the stable version itself; point the canary at a different version`;
  }
  // Only Versions read from ACK status carry their configuration; literals do not.
  if (stable.config === undefined || canary.config === undefined) return undefined;
  const stableRole = stable.config.role ?? '(none)';
  const canaryRole = canary.config.role ?? '(none)';
  if (stableRole !== canaryRole) {
    return `cannot split traffic between versions with different execution roles: stable ${stableName} (version ${stable.version}) has role ${stableRole}, canary ${canaryName} (version ${canary.version}) has role ${canaryRole}; AWS requires the same role`;
  }
  const stableDlq = stable.config.deadLetterTarget ?? '(none)';
  const canaryDlq = canary.config.deadLetterTarget ?? '(none)';
  if (stableDlq !== canaryDlq) {
    return `cannot split traffic between versions with different dead-letter configs: stable ${stableName} (version ${stable.version}) has ${stableDlq}, canary ${canaryName} (version ${canary.version}) has ${canaryDlq}; AWS requires the same dead-letter config`;
  }
  return undefined;
}

export function describeTraffic(aliasName: string, t: Traffic): string {
  if (t.secondary === undefined) return `alias ${aliasName}: 100% to version ${t.primary}`;
  if (t.secondary.fraction !== undefined) {
    // An exact weight is shown exactly (12 significant digits hide float noise: 0.12345 -> 12.345%).
    const share = (f: number) => String(Number((f * 100).toPrecision(12)));
    const f = t.secondary.fraction;
    return `alias ${aliasName}: ${share(1 - f)}% to version ${t.primary}, ${share(f)}% to version ${t.secondary.version}`;
  }
  return `alias ${aliasName}: ${percentOn(t, t.primary)}% to version ${t.primary}, ${t.secondary.percent}% to version ${t.secondary.version}`;
}
