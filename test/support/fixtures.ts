// Builders for the objects the planner reads: LambdaCanary XRs (namespaced
// Crossplane v2, and cluster-scoped Crossplane v1 with a claim), ACK Versions
// with the status ACK writes, and observed ACK Aliases. Every builder returns a
// fresh object, so a test may mutate what it gets.
import { RunFunctionRequest, type Capability } from '@crossplane-org/function-sdk-typescript';
import type { KubeObject } from '../../function/core/k8s.js';
import type { PlanInput } from '../../function/core/plan-contract.js';
import { versionRequirementKey } from '../../function/core/version-lookup.js';

export const ACK = 'lambda.services.k8s.aws/v1alpha1';
export const NS = 'team-a';
export const OTHER_NS = 'team-b';
export const XR_NAME = 'checkout-live';
export const NOW = new Date('2026-01-01T00:00:00Z');
export const ROLE = 'arn:aws:iam::123456789012:role/checkout';
export const DLQ = 'arn:aws:sqs:eu-west-1:123456789012:checkout-dlq';
export const ALIAS_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:checkout:live';

type Spec = Record<string, unknown>;

/** A manual-mode spec: stable version 5 of function checkout, alias live. */
export function manualSpec(extra: Spec = {}): Spec {
  return { function: { name: 'checkout' }, alias: { name: 'live' }, stable: { version: '5' }, ...extra };
}

/** A versionRef selector in the shape of the API. */
export function ref(name: string, namespace?: string): { versionRef: { from: { name: string; namespace?: string } } } {
  return { versionRef: { from: namespace === undefined ? { name } : { name, namespace } } };
}

/** A namespaced (Crossplane v2) LambdaCanary. */
export function namespacedXR(spec: unknown, opts: { name?: string; namespace?: string; status?: unknown } = {}): KubeObject {
  return {
    apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
    kind: 'LambdaCanary',
    metadata: { name: opts.name ?? XR_NAME, namespace: opts.namespace ?? NS, uid: 'uid-xr' },
    spec: structuredClone(spec),
    ...(opts.status !== undefined ? { status: structuredClone(opts.status) } : {}),
  };
}

/** A cluster-scoped (Crossplane v1) XLambdaCanary made for a claim in `claimNamespace`. */
export function claimXR(spec: unknown, opts: { name?: string; claimName?: string; claimNamespace?: string | null; status?: unknown } = {}): KubeObject {
  const labels: Record<string, string> = { 'crossplane.io/composite': opts.name ?? `${XR_NAME}-x7k2p` };
  if (opts.claimNamespace !== null) {
    labels['crossplane.io/claim-name'] = opts.claimName ?? XR_NAME;
    labels['crossplane.io/claim-namespace'] = opts.claimNamespace ?? NS;
  }
  return {
    apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
    kind: 'XLambdaCanary',
    metadata: { name: opts.name ?? `${XR_NAME}-x7k2p`, labels, uid: 'uid-xr' },
    spec: structuredClone(spec),
    ...(opts.status !== undefined ? { status: structuredClone(opts.status) } : {}),
  };
}

export interface VersionOpts {
  namespace?: string;
  /** status.version; null leaves it out (not published yet). */
  version?: string | null;
  /** status.state; null leaves it out. Default Active. */
  state?: string | null;
  stateReason?: string;
  /** status.role; null leaves it out. */
  role?: string | null;
  /** status.deadLetterConfig.targetARN; null leaves deadLetterConfig out. */
  dlq?: string | null;
  /** ACK.ResourceSynced status; null leaves the condition out. */
  synced?: 'True' | 'False' | 'Unknown' | null;
  syncedMessage?: string;
  /** Message of an ACK.Terminal=True condition; unset = no Terminal condition. */
  terminal?: string;
  functionName?: string;
}

/** An ACK Version with the status ACK writes once it published (by default: version 6, synced, Active). */
export function ackVersion(name: string, opts: VersionOpts = {}): KubeObject {
  const status: Record<string, unknown> = {
    ackResourceMetadata: {
      arn: `arn:aws:lambda:eu-west-1:123456789012:function:checkout:${opts.version ?? '6'}`,
      ownerAccountID: '123456789012',
      region: 'eu-west-1',
    },
  };
  const version = opts.version === undefined ? '6' : opts.version;
  if (version !== null) status.version = version;
  const state = opts.state === undefined ? 'Active' : opts.state;
  if (state !== null) status.state = state;
  if (opts.stateReason !== undefined) status.stateReason = opts.stateReason;
  const role = opts.role === undefined ? ROLE : opts.role;
  if (role !== null) status.role = role;
  const dlq = opts.dlq === undefined ? DLQ : opts.dlq;
  if (dlq !== null) status.deadLetterConfig = { targetARN: dlq };
  const conditions: Record<string, unknown>[] = [];
  const synced = opts.synced === undefined ? 'True' : opts.synced;
  if (synced !== null) {
    conditions.push({
      type: 'ACK.ResourceSynced',
      status: synced,
      lastTransitionTime: '2025-12-31T23:00:00Z',
      ...(opts.syncedMessage !== undefined ? { message: opts.syncedMessage } : {}),
    });
  }
  if (opts.terminal !== undefined) {
    conditions.push({ type: 'ACK.Terminal', status: 'True', reason: 'InvalidParameterValueException', message: opts.terminal });
  }
  status.conditions = conditions;
  return {
    apiVersion: ACK,
    kind: 'Version',
    metadata: { name, namespace: opts.namespace ?? NS },
    spec: { functionName: opts.functionName ?? 'checkout' },
    status,
  };
}

export interface AliasOpts {
  name?: string;
  namespace?: string;
  aliasName?: string;
  functionVersion?: string;
  /** spec.routingConfig.additionalVersionWeights; undefined leaves routingConfig out. */
  weights?: Record<string, number>;
  /** ACK.ResourceSynced status; null leaves the condition out. */
  synced?: 'True' | 'False' | null;
  /** status.ackResourceMetadata.arn; null leaves it out. */
  arn?: string | null;
}

/** An observed ACK Alias, as this function applied it and ACK reported back. */
export function observedAlias(opts: AliasOpts = {}): KubeObject {
  const spec: Record<string, unknown> = {
    name: opts.aliasName ?? 'live',
    functionName: 'checkout',
    functionVersion: opts.functionVersion ?? '5',
  };
  if (opts.weights !== undefined) spec.routingConfig = { additionalVersionWeights: { ...opts.weights } };
  const synced = opts.synced === undefined ? 'True' : opts.synced;
  const arn = opts.arn === undefined ? ALIAS_ARN : opts.arn;
  return {
    apiVersion: ACK,
    kind: 'Alias',
    metadata: { name: opts.name ?? `${XR_NAME}-live`, namespace: opts.namespace ?? NS },
    spec,
    status: {
      ackResourceMetadata: { ...(arn !== null ? { arn } : {}), ownerAccountID: '123456789012', region: 'eu-west-1' },
      conditions: synced === null ? [] : [{ type: 'ACK.ResourceSynced', status: synced }],
    },
  };
}

/** A plan input with defaults: no observed, nothing required, the fixed clock. */
export function planInput(composite: KubeObject, extra: Partial<Omit<PlanInput, 'composite'>> = {}): PlanInput {
  return { composite, observed: extra.observed ?? {}, required: extra.required ?? {}, now: extra.now ?? NOW };
}

/** Wraps objects as the protobuf Resource messages of a request. */
function resources(objs: Record<string, KubeObject>) {
  return Object.fromEntries(Object.entries(objs).map(([k, v]) => [k, { resource: v }]));
}

function lists(objs: Record<string, KubeObject[]>) {
  return Object.fromEntries(Object.entries(objs).map(([k, v]) => [k, { items: v.map((resource) => ({ resource })) }]));
}

export interface RequestOpts {
  composite?: KubeObject;
  observed?: Record<string, KubeObject>;
  /** Desired composed resources from earlier pipeline steps. */
  desired?: Record<string, KubeObject>;
  desiredComposite?: KubeObject;
  required?: Record<string, KubeObject[]>;
  extra?: Record<string, KubeObject[]>;
  capabilities?: Capability[];
  input?: Record<string, unknown>;
  tag?: string;
}

/** A RunFunctionRequest as Crossplane sends it. */
export function request(opts: RequestOpts = {}): RunFunctionRequest {
  return RunFunctionRequest.fromPartial({
    meta: { tag: opts.tag ?? 'tag-1', capabilities: opts.capabilities ?? [] },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    observed: {
      ...(opts.composite !== undefined ? { composite: { resource: opts.composite } } : {}),
      resources: resources(opts.observed ?? {}),
    },
    desired: {
      ...(opts.desiredComposite !== undefined ? { composite: { resource: opts.desiredComposite } } : {}),
      resources: resources(opts.desired ?? {}),
    },
    requiredResources: lists(opts.required ?? {}),
    extraResources: lists(opts.extra ?? {}),
  });
}

/** The Input of resolver mode. */
export function resolverInput(keepFunctionVersionRef?: boolean): Record<string, unknown> {
  return {
    apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1',
    kind: 'Input',
    mode: 'Resolver',
    ...(keepFunctionVersionRef !== undefined ? { resolver: { keepFunctionVersionRef } } : {}),
  };
}

/** Required resources as Crossplane sends them to a namespaced XR: each Version under its by-name key. */
export function byName(...versions: KubeObject[]): Record<string, KubeObject[]> {
  const out: Record<string, KubeObject[]> = {};
  for (const v of versions) {
    const meta = v.metadata as { name: string; namespace: string };
    (out[versionRequirementKey(meta.namespace, meta.name)] ??= []).push(v);
  }
  return out;
}
