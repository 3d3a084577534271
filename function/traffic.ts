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
import type { SelectorResolution } from './resolve.js';
import { fractionToPercent, percentToBasisPoints, percentToFraction } from './weights.js';

export interface Traffic {
  /** spec.functionVersion: the version that gets the rest of the traffic. */
  primary: string;
  /** The one additional version and its share (additionalVersionWeights). */
  secondary?: { version: string; percent: number };
}

export function trafficEquals(a: Traffic | undefined, b: Traffic | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.primary !== b.primary) return false;
  if (a.secondary === undefined || b.secondary === undefined) return a.secondary === b.secondary;
  return a.secondary.version === b.secondary.version && percentToBasisPoints(a.secondary.percent) === percentToBasisPoints(b.secondary.percent);
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

/** Every version an observed Alias's spec names: functionVersion and each positively weighted key. */
export function aliasVersions(alias: KubeObject | undefined): string[] {
  if (alias === undefined) return [];
  const out: string[] = [];
  const primary = getString(alias, 'spec', 'functionVersion');
  if (primary !== undefined && primary !== '') out.push(primary);
  const weights = get(alias, 'spec', 'routingConfig', 'additionalVersionWeights');
  if (isRecord(weights)) {
    for (const [version, fraction] of Object.entries(weights)) if (typeof fraction === 'number' && fraction > 0) out.push(version);
  }
  return out;
}

/**
 * Whether the observed Alias spec carries a weights map at all (even empty).
 * Once an Alias has had routing, "no routing" stays written as an empty map:
 * dropping it as soon as we see {} in the spec could race ACK, which may not
 * have sent the empty routing to AWS yet, and AWS would keep the old split.
 */
export function hasRoutingConfig(alias: KubeObject | undefined): boolean {
  return isRecord(get(alias, 'spec', 'routingConfig', 'additionalVersionWeights'));
}

/** The Alias routingConfig for a traffic split; undefined means "no routing". */
export function routingWeights(traffic: Traffic): Record<string, number> | undefined {
  if (traffic.secondary === undefined) return undefined;
  return { [traffic.secondary.version]: percentToFraction(traffic.secondary.percent) };
}

export interface TrafficIntent {
  stable: SelectorResolution;
  /** The canary and its percent. Weight 0 means no canary traffic. */
  canary?: { selector: SelectorResolution; percent: number };
}

export type GateOutcome =
  /** Render exactly this traffic. */
  | { kind: 'route'; traffic: Traffic }
  /** Keep the observed Alias as it is (or create nothing), and say why. */
  | { kind: 'hold'; reason: 'Unresolved' | 'Refused'; message: string; fallback?: Traffic };

/**
 * Decides the traffic to render for an intent. `fallback` on a hold is the
 * safe traffic for an Alias that does not exist yet (all on a resolved stable).
 */
export function gate(intent: TrafficIntent): GateOutcome {
  const stable = intent.stable.resolution;
  if (stable.kind !== 'resolved') {
    return { kind: 'hold', reason: 'Unresolved', message: `stable: ${stable.message}` };
  }
  const onStable: Traffic = { primary: stable.version };
  const canary = intent.canary;
  if (canary === undefined || percentToBasisPoints(canary.percent) === 0) return { kind: 'route', traffic: onStable };

  const c = canary.selector.resolution;
  if (c.kind !== 'resolved') {
    return { kind: 'hold', reason: 'Unresolved', message: `canary: ${c.message}`, fallback: onStable };
  }
  if (percentToBasisPoints(canary.percent) >= 10000) return { kind: 'route', traffic: { primary: c.version } };

  const refusal = refuseSplit(stable, c, intent.stable.display, canary.selector.display);
  if (refusal !== undefined) return { kind: 'hold', reason: 'Refused', message: refusal, fallback: onStable };
  return { kind: 'route', traffic: { primary: stable.version, secondary: { version: c.version, percent: canary.percent } } };
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
  return `alias ${aliasName}: ${percentOn(t, t.primary)}% to version ${t.primary}, ${t.secondary.percent}% to version ${t.secondary.version}`;
}
