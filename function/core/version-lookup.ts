// Resolving version selectors (a literal, or a reference to an ACK Version)
// into Lambda version numbers, and asking Crossplane for the Versions this XR
// does not compose itself.
//
// Where a Version comes from:
// - one this XR publishes (spec.versions) is an observed composed resource;
// - any other is fetched as a required resource. A namespaced (Crossplane v2)
//   XR asks by name in the namespace. A cluster-scoped (v1) XR cannot: the v1
//   selector has no namespace, so a by-name lookup of a namespaced kind fails.
//   It lists Versions with an empty label selector (all namespaces) and picks
//   namespace/name itself, so a same-named Version of another team never wins.
import { ACK_LAMBDA_API_VERSION, KIND_VERSION, assessVersion, type VersionResolution } from './ack.js';
import { metaName, metaNamespace, getString, type KubeObject } from './k8s.js';
import type { ResourceReference, VersionSelector } from '../api/schema.js';

export interface RequirementSelector {
  apiVersion: string;
  kind: string;
  matchName?: string;
  matchLabels?: Record<string, string>;
  namespace?: string;
}

/** The requirement key under which cluster-scoped XRs list every Version. */
export const ALL_VERSIONS_REQUIREMENT = 'lambda-versions';

export function versionRequirementKey(namespace: string, name: string): string {
  return `lambda-version.${namespace}.${name}`;
}

export interface VersionRefTarget {
  namespace: string;
  name: string;
}

/** A selector's answer: what it names, and what that resolved to. */
export interface SelectorResolution {
  /** For messages: "version 5" or "ACK Version team-a/my-app-v6". */
  display: string;
  /** Set for references. */
  ref?: VersionRefTarget;
  resolution: VersionResolution;
}

export interface VersionLookupOptions {
  /** Namespace rendered objects go to; references default to it. */
  namespace: string;
  /** Whether the XR is namespaced (Crossplane v2): decides how to ask. */
  namespacedXR: boolean;
  /** Names of Versions the XR composes itself (spec.versions). */
  composedNames: ReadonlySet<string>;
  /** Observed composed resources, by composition resource name. */
  observed: Readonly<Record<string, KubeObject>>;
  /** Required/extra resources Crossplane sent, by requirement key. */
  required: Readonly<Record<string, KubeObject[]>>;
  /** Words messages use for who composes Versions, and how to fix a missing one. */
  mode?: 'LambdaCanary' | 'Resolver';
}

/** A literal version number as a selector resolves: nothing to look up. */
export function literalVersion(version: string): SelectorResolution {
  return { display: `version ${version}`, resolution: { kind: 'resolved', version } };
}

/**
 * Resolves selectors and records the requirements it needed. Requirements
 * depend only on the spec (and status), never on what came back, so they are
 * the same on every call and Crossplane's requirement loop settles.
 */
export class VersionLookup {
  readonly requirements: Record<string, RequirementSelector> = {};
  private readonly observedVersions = new Map<string, KubeObject>();

  constructor(private readonly opts: VersionLookupOptions) {
    for (const obj of Object.values(opts.observed)) {
      if (obj.kind === KIND_VERSION && typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('lambda.services.k8s.aws/')) {
        const name = metaName(obj);
        if (name !== undefined) this.observedVersions.set(`${metaNamespace(obj) ?? opts.namespace}/${name}`, obj);
      }
    }
  }

  target(ref: ResourceReference): VersionRefTarget {
    return { namespace: ref.from.namespace ?? this.opts.namespace, name: ref.from.name };
  }

  resolve(selector: VersionSelector): SelectorResolution {
    if (selector.version !== undefined) return literalVersion(selector.version);
    // The schema guarantees exactly one of version/versionRef.
    return this.resolveRef(this.target(selector.versionRef!));
  }

  resolveRef(ref: VersionRefTarget): SelectorResolution {
    const display = `${ref.namespace}/${ref.name}`;
    const key = `${ref.namespace}/${ref.name}`;
    const composedHere = ref.namespace === this.opts.namespace && this.opts.composedNames.has(ref.name);

    let found = this.observedVersions.get(key);
    if (!composedHere) {
      const fetched = this.fetchRequired(ref);
      if (fetched === 'pending') {
        if (found === undefined) {
          return {
            display,
            ref,
            resolution: { kind: 'pending', reason: 'LookupPending', message: `looking up ACK Version ${display}` },
          };
        }
      } else if (fetched !== undefined) {
        found = fetched;
      }
    }
    if (found === undefined) {
      const resolverMode = this.opts.mode === 'Resolver';
      return {
        display,
        ref,
        resolution: composedHere
          ? {
              kind: 'pending',
              reason: 'NotPublished',
              message: `ACK Version ${display} is being created by ${resolverMode ? 'an earlier pipeline step' : 'this LambdaCanary'}`,
            }
          : {
              kind: 'pending',
              reason: 'NotFound',
              message: resolverMode
                ? `ACK Version ${display} was not found; create it, compose it in an earlier pipeline step, or fix the reference`
                : `ACK Version ${display} was not found; create it, list it in spec.versions, or fix the reference`,
            },
      };
    }
    return { display, ref, resolution: assessVersion(found, display) };
  }

  /** The required Version, undefined when Crossplane found none, 'pending' before it answered. */
  private fetchRequired(ref: VersionRefTarget): KubeObject | undefined | 'pending' {
    if (this.opts.namespacedXR) {
      const key = versionRequirementKey(ref.namespace, ref.name);
      this.requirements[key] = {
        apiVersion: ACK_LAMBDA_API_VERSION,
        kind: KIND_VERSION,
        matchName: ref.name,
        namespace: ref.namespace,
      };
      const items = this.opts.required[key];
      if (items === undefined) return 'pending';
      return items.find((o) => isVersion(o) && metaName(o) === ref.name && (metaNamespace(o) ?? ref.namespace) === ref.namespace);
    }
    this.requirements[ALL_VERSIONS_REQUIREMENT] = {
      apiVersion: ACK_LAMBDA_API_VERSION,
      kind: KIND_VERSION,
      matchLabels: {},
    };
    const items = this.opts.required[ALL_VERSIONS_REQUIREMENT];
    if (items === undefined) return 'pending';
    // Only an exact namespace/name match counts: a list spans every namespace.
    return items.find((o) => isVersion(o) && metaName(o) === ref.name && metaNamespace(o) === ref.namespace);
  }
}

function isVersion(o: KubeObject): boolean {
  return o.kind === KIND_VERSION && (getString(o, 'apiVersion') ?? '').startsWith('lambda.services.k8s.aws/');
}
