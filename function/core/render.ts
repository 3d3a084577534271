// The ACK objects this function renders. Only fields we own are set: Crossplane
// applies desired state with server-side apply, so anything left out here is
// left to ACK (status, late-initialised spec fields).
import { ACK_LAMBDA_API_VERSION, KIND_ALIAS, KIND_VERSION, REGION_ANNOTATION } from './ack.js';
import { getRecord, getString, metaName, type KubeObject } from './k8s.js';
import type { LambdaCanarySpec } from '../api/schema.js';
import type { Traffic } from './traffic.js';

type FunctionSelector = LambdaCanarySpec['function'];

function functionFields(fn: FunctionSelector): KubeObject {
  if (fn.name !== undefined) return { functionName: fn.name };
  const from: KubeObject = { name: fn.ref!.from.name };
  if (fn.ref!.from.namespace !== undefined) from.namespace = fn.ref!.from.namespace;
  return { functionRef: { from } };
}

function metadata(name: string, namespace: string, region: string | undefined, annotations: Record<string, string> = {}): KubeObject {
  const meta: KubeObject = { name, namespace };
  const all = { ...annotations, ...(region !== undefined ? { [REGION_ANNOTATION]: region } : {}) };
  if (Object.keys(all).length > 0) meta.annotations = all;
  return meta;
}

export function renderVersion(
  version: NonNullable<LambdaCanarySpec['versions']>[number],
  fn: FunctionSelector,
  namespace: string,
  region: string | undefined,
): KubeObject {
  const spec: KubeObject = { ...functionFields(fn) };
  if (version.codeSHA256 !== undefined) spec.codeSHA256 = version.codeSHA256;
  if (version.description !== undefined) spec.description = version.description;
  return { apiVersion: ACK_LAMBDA_API_VERSION, kind: KIND_VERSION, metadata: metadata(version.name, namespace, region), spec };
}

/** An observed ACK object re-rendered from what was last applied (its spec as written back), so Crossplane does not delete it. */
function retain(observed: KubeObject, kind: string, namespace: string, annotations?: Record<string, string>): KubeObject {
  const region = getString(observed, 'metadata', 'annotations', REGION_ANNOTATION);
  return {
    apiVersion: getString(observed, 'apiVersion') ?? ACK_LAMBDA_API_VERSION,
    kind,
    metadata: metadata(metaName(observed) ?? '', getString(observed, 'metadata', 'namespace') ?? namespace, region, annotations),
    spec: structuredClone(getRecord(observed, 'spec') ?? {}),
  };
}

/** A composed Version that left spec.versions but still carries traffic. */
export function retainVersion(observed: KubeObject, namespace: string): KubeObject {
  return retain(observed, KIND_VERSION, namespace);
}

/** An observed Alias exactly as it is, for when the function cannot read what it routes but must not let Crossplane delete it. */
export function retainAlias(observed: KubeObject, namespace: string, annotations?: Record<string, string>): KubeObject {
  return retain(observed, KIND_ALIAS, namespace, annotations);
}

export interface AliasRender {
  objectName: string;
  namespace: string;
  region: string | undefined;
  alias: LambdaCanarySpec['alias'];
  fn: FunctionSelector;
  traffic: Traffic;
  /**
   * spec.routingConfig.additionalVersionWeights exactly as to render (the
   * split, a zero-weight entry, {} or a held map: see traffic.ts
   * aliasRouting); undefined leaves routingConfig out.
   */
  weights: Record<string, unknown> | undefined;
  /** Annotations of our own (the rollout's memory). */
  annotations?: Record<string, string>;
}

export function renderAlias(r: AliasRender): KubeObject {
  const spec: KubeObject = { name: r.alias.name, ...functionFields(r.fn), functionVersion: r.traffic.primary };
  if (r.alias.description !== undefined) spec.description = r.alias.description;
  if (r.weights !== undefined) spec.routingConfig = { additionalVersionWeights: r.weights };
  return { apiVersion: ACK_LAMBDA_API_VERSION, kind: KIND_ALIAS, metadata: metadata(r.objectName, r.namespace, r.region, r.annotations), spec };
}
