// runFunction: the adapter between Crossplane's RunFunction messages and the
// planners. It never throws, never drops what earlier steps desired, and asks
// for required resources the way the calling Crossplane understands.
import { Capability, Ready, RunFunctionRequest, RunFunctionResponse, Severity, Status, Target } from '@crossplane-org/function-sdk-typescript';
import { describe, expect, it } from 'vitest';
import { runFunction } from '../function/handler.js';
import type { FatalReason } from '../function/core/plan-contract.js';
import type { KubeObject } from '../function/core/k8s.js';
import { ALL_VERSIONS_REQUIREMENT, versionRequirementKey } from '../function/core/version-lookup.js';
import { validateAck } from './support/ack-schema.js';
import {
  ACK,
  ALIAS_ARN,
  NOW,
  NS,
  ackVersion,
  claimXR,
  manualSpec,
  namespacedXR,
  observedAlias,
  ref,
  request,
  resolverInput,
  type RequestOpts,
} from './support/fixtures.js';

const now = () => NOW;

/** Earlier pipeline steps' desired state: a bucket and an XR status field. */
const earlierResources = (): Record<string, KubeObject> => ({
  bucket: { apiVersion: 's3.services.k8s.aws/v1alpha1', kind: 'Bucket', metadata: { name: 'artifacts' }, spec: { name: 'artifacts' } },
  'plain-alias': {
    apiVersion: ACK,
    kind: 'Alias',
    metadata: { name: 'other', namespace: NS },
    spec: { name: 'other', functionName: 'x', functionVersion: '1' },
  },
});
const earlierComposite = (): KubeObject => ({ status: { fromEarlierStep: 'yes' } });

function call(opts: RequestOpts): { req: RunFunctionRequest; before: RunFunctionRequest; rsp: RunFunctionResponse } {
  const req = request({ desired: earlierResources(), desiredComposite: earlierComposite(), ...opts });
  const before = structuredClone(req);
  let rsp: RunFunctionResponse | undefined;
  expect(() => (rsp = runFunction(req, { now }))).not.toThrow();
  // The request is not modified, and the response survives the wire.
  expect(req).toEqual(before);
  expect(() => RunFunctionResponse.encode(rsp!).finish()).not.toThrow();
  return { req, before, rsp: rsp! };
}

/** One Fatal result whose reason says what happened, and whose message says each of `says`. */
function expectFatal(rsp: RunFunctionResponse, before: RunFunctionRequest, reason: FatalReason, ...says: string[]): void {
  expect(rsp.results).toHaveLength(1);
  expect(rsp.results[0]!.severity).toBe(Severity.SEVERITY_FATAL);
  expect(rsp.results[0]!.reason).toBe(reason);
  for (const s of says) expect(rsp.results[0]!.message).toContain(s);
  // Earlier steps' desired state passes through untouched; nothing of ours is added.
  expect(rsp.desired).toEqual({ composite: before.desired?.composite, resources: before.desired?.resources });
  expect(rsp.requirements).toBeUndefined();
  expect(rsp.conditions).toEqual([]);
}

describe('bad input becomes one Fatal result, never an exception', () => {
  it('an invalid spec', () => {
    const { rsp, before } = call({ composite: namespacedXR(manualSpec({ canary: { version: '6', wieght: 10 } })) });
    expectFatal(rsp, before, 'InvalidSpec', 'spec.canary', 'wieght');
    expect(rsp.meta?.tag).toBe('tag-1');
  });

  it.each<[string, unknown, string]>([
    ['spec = 42', 42, 'spec'],
    ['spec = null', null, 'spec'],
    ['spec = a string', 'live', 'spec'],
    ['spec = []', [], 'spec'],
    ['function = 42', { ...manualSpec(), function: 42 }, 'spec.function'],
    ['canary weight = NaN', manualSpec({ canary: { version: '6', weight: Number.NaN } }), 'spec.canary.weight'],
  ])('garbage: %s', (_what, spec, says) => {
    const { rsp, before } = call({ composite: namespacedXR(spec) });
    expectFatal(rsp, before, 'InvalidSpec', says);
  });

  it('a missing observed composite', () => {
    const { rsp, before } = call({});
    expectFatal(rsp, before, 'NoComposite', 'no observed composite resource');
  });

  it('a cluster-scoped XR without a claim namespace', () => {
    const { rsp, before } = call({ composite: claimXR(manualSpec(), { claimNamespace: null }) });
    expectFatal(rsp, before, 'NoNamespace', 'crossplane.io/claim-namespace');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown mode', { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', mode: 'Resolve' }, 'input.mode'],
    ['a mode of the wrong type', { mode: 7 }, 'input.mode'],
    ['the wrong apiVersion', { apiVersion: 'lambdacanary.fn.crossplane.io/v1', kind: 'Input' }, 'input.apiVersion'],
    ['the wrong kind', { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Inputs' }, 'input.kind'],
    ['a typo in resolver options', { ...resolverInput(), resolver: { keepFunctionVersionRefs: true } }, 'input.resolver'],
    // Issue 10, decision A: the Input is ours alone; an unknown field is refused, naming it.
    ['a misspelt field', { ...resolverInput(), resolvr: { keepFunctionVersionRef: true } }, 'input.resolvr: unknown field; did you mean input.resolver?'],
    [
      'a field of ours in the wrong case',
      { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', Mode: 'Resolver' },
      'input.Mode: unknown field; did you mean input.mode?',
    ],
    [
      'a field that is not ours',
      { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', strategy: 'fast' },
      'input.strategy: unknown field; remove it',
    ],
  ])('input with %s', (_what, input, says) => {
    const { rsp, before } = call({ composite: namespacedXR(manualSpec()), input });
    expectFatal(rsp, before, 'InvalidInput', 'invalid function input', says);
  });

  it('an Input with metadata (as Kubernetes objects carry) is accepted', () => {
    const input = { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', metadata: { name: 'lambda-canary' }, mode: 'LambdaCanary' };
    const { rsp } = call({ composite: namespacedXR(manualSpec()), input });
    expect(rsp.results.filter((r) => r.severity === Severity.SEVERITY_FATAL)).toEqual([]);
  });

  it('an empty request', () => {
    const req = RunFunctionRequest.fromPartial({});
    let rsp: RunFunctionResponse | undefined;
    expect(() => (rsp = runFunction(req, { now }))).not.toThrow();
    expect(rsp!.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL, reason: 'NoComposite' });
  });

  it('resources without a body (as protobuf decodes empty messages) are ignored, not trusted', () => {
    const req = request({ composite: namespacedXR(canaryRefSpecWith()) });
    (req.observed!.resources as any).alias = { connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
    (req.requiredResources as any)[versionRequirementKey(NS, 'checkout-v6')] = { items: [{ connectionDetails: {} }, { resource: ackVersion('checkout-v6') }] };
    let rsp: RunFunctionResponse | undefined;
    expect(() => (rsp = runFunction(req, { now }))).not.toThrow();
    expect(rsp!.results.every((r) => r.severity !== Severity.SEVERITY_FATAL)).toBe(true);
    expect(aliasSpec(rsp!)).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
  });

  it('a bug while planning becomes a Fatal "internal error", with desired state untouched', () => {
    const composite = namespacedXR(manualSpec());
    Object.defineProperty(composite, 'metadata', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const req = request({ desired: earlierResources() });
    req.observed!.composite = { resource: composite, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
    let rsp: RunFunctionResponse | undefined;
    expect(() => (rsp = runFunction(req, { now }))).not.toThrow();
    expect(rsp!.results).toHaveLength(1);
    expect(rsp!.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL, reason: 'InternalError' });
    expect(rsp!.results[0]!.message).toContain('internal error');
    expect(rsp!.results[0]!.message).toContain('boom');
    expect(rsp!.desired?.resources).toEqual(request({ desired: earlierResources() }).desired?.resources);
  });
});

function canaryRefSpecWith(weight = 10): Record<string, unknown> {
  return manualSpec({ canary: { ...ref('checkout-v6'), weight } });
}

function aliasSpec(rsp: RunFunctionResponse): Record<string, unknown> | undefined {
  return rsp.desired?.resources['alias']?.resource?.spec;
}

describe('a normal call', () => {
  const required = { [versionRequirementKey(NS, 'checkout-v6')]: [ackVersion('checkout-v6')] };

  it('adds the Alias, keeps earlier resources, merges status, maps results and conditions', () => {
    const { rsp, before } = call({
      composite: namespacedXR(canaryRefSpecWith()),
      observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.1 } }) },
      required,
      tag: 'abc',
      capabilities: [Capability.CAPABILITY_REQUIRED_RESOURCES],
    });
    expect(rsp.meta).toEqual({ tag: 'abc', ttl: { seconds: 60, nanos: 0 } });
    // Earlier resources, exactly as they came.
    for (const [name, r] of Object.entries(before.desired!.resources)) expect(rsp.desired?.resources[name]).toEqual(r);
    const alias = rsp.desired?.resources['alias'];
    expect(alias?.ready).toBe(Ready.READY_TRUE);
    expect(validateAck(alias!.resource!)).toEqual([]);
    expect(aliasSpec(rsp)).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
    // Status merged over what earlier steps set.
    expect(rsp.desired?.composite?.resource).toEqual({
      status: {
        fromEarlierStep: 'yes',
        stable: { version: '5', weight: 90 },
        canary: { name: 'checkout-v6', version: '6', weight: 10 },
        stableVersion: '5',
        canaryVersion: '6',
        canaryWeight: 10,
        aliasARN: ALIAS_ARN,
        message: 'alias live: 90% to version 5, 10% to version 6',
      },
    });
    expect(rsp.conditions).toEqual([
      {
        type: 'VersionsResolved',
        status: Status.STATUS_CONDITION_TRUE,
        reason: 'Resolved',
        message: 'version 5, team-a/checkout-v6 is version 6',
        target: Target.TARGET_COMPOSITE_AND_CLAIM,
      },
      {
        type: 'TrafficRouted',
        status: Status.STATUS_CONDITION_TRUE,
        reason: 'Routed',
        message: 'alias live: 90% to version 5, 10% to version 6',
        target: Target.TARGET_COMPOSITE_AND_CLAIM,
      },
    ]);
    expect(rsp.results).toEqual([]);
  });

  it('maps Warning results and False conditions, and marks a not-yet-synced Alias not ready', () => {
    const { rsp } = call({
      composite: namespacedXR(manualSpec({ stable: ref('checkout-v5') })),
      observed: { alias: observedAlias({ functionVersion: '4', synced: 'False' }) },
      required: { [versionRequirementKey(NS, 'checkout-v5')]: [] },
    });
    expect(rsp.desired?.resources['alias']?.ready).toBe(Ready.READY_FALSE);
    expect(aliasSpec(rsp)?.functionVersion).toBe('4');
    expect(
      rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING && r.reason === 'VersionUnresolved' && r.target === Target.TARGET_COMPOSITE_AND_CLAIM),
    ).toBe(true);
    expect(rsp.conditions.find((c) => c.type === 'VersionsResolved')).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'NotFound' });
    expect(rsp.conditions.find((c) => c.type === 'TrafficRouted')).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Held' });
    expect(rsp.meta?.ttl?.seconds).toBe(15);
  });

  it('does not add an Alias while the stable version is unresolved and none exists', () => {
    const { rsp, before } = call({ composite: namespacedXR(manualSpec({ stable: ref('checkout-v5') })) });
    expect(rsp.desired?.resources).toEqual(before.desired?.resources);
  });
});

describe('requirements', () => {
  const composite = namespacedXR(canaryRefSpecWith());
  const selector = { apiVersion: ACK, kind: 'Version', matchName: 'checkout-v6', namespace: NS };
  const key = versionRequirementKey(NS, 'checkout-v6');

  it('Crossplane that advertises CAPABILITY_REQUIRED_RESOURCES gets requirements.resources', () => {
    const { rsp } = call({ composite, capabilities: [Capability.CAPABILITY_CAPABILITIES, Capability.CAPABILITY_REQUIRED_RESOURCES] });
    expect(rsp.requirements).toEqual({ resources: { [key]: selector }, extraResources: {}, schemas: {} });
  });

  it('older Crossplane gets the deprecated requirements.extraResources', () => {
    for (const capabilities of [[], [Capability.CAPABILITY_CAPABILITIES, Capability.CAPABILITY_CONDITIONS]]) {
      const { rsp } = call({ composite, capabilities });
      expect(rsp.requirements).toEqual({ extraResources: { [key]: selector }, resources: {}, schemas: {} });
    }
  });

  it('a cluster-scoped XR lists with an empty label selector', () => {
    const { rsp } = call({ composite: claimXR(canaryRefSpecWith()) });
    expect(rsp.requirements?.extraResources).toEqual({ [ALL_VERSIONS_REQUIREMENT]: { apiVersion: ACK, kind: 'Version', matchLabels: { labels: {} } } });
  });

  it('requirements are the same before and after Crossplane answers', () => {
    const first = call({ composite, capabilities: [Capability.CAPABILITY_REQUIRED_RESOURCES] }).rsp;
    const second = call({ composite, capabilities: [Capability.CAPABILITY_REQUIRED_RESOURCES], required: { [key]: [ackVersion('checkout-v6')] } }).rsp;
    expect(second.requirements).toEqual(first.requirements);
  });

  it('no requirements at all when nothing is referenced', () => {
    expect(call({ composite: namespacedXR(manualSpec()) }).rsp.requirements).toBeUndefined();
  });

  it('reads the answer from requiredResources (Crossplane v2)', () => {
    const { rsp } = call({ composite, required: { [key]: [ackVersion('checkout-v6')] } });
    expect(aliasSpec(rsp)?.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
  });

  it('reads the answer from extraResources (Crossplane v1)', () => {
    const { rsp } = call({ composite, extra: { [key]: [ackVersion('checkout-v6')] } });
    expect(aliasSpec(rsp)?.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
    const v1 = call({ composite: claimXR(canaryRefSpecWith()), extra: { [ALL_VERSIONS_REQUIREMENT]: [ackVersion('checkout-v6')] } }).rsp;
    expect(aliasSpec(v1)?.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
  });

  it('an empty answer means "looked, found nothing", not "not asked yet"', () => {
    const { rsp } = call({ composite, required: { [key]: [] } });
    expect(rsp.conditions.find((c) => c.type === 'VersionsResolved')?.reason).toBe('NotFound');
  });
});

describe('resolver mode through runFunction', () => {
  const withRefs = (): KubeObject => ({
    apiVersion: ACK,
    kind: 'Alias',
    metadata: { name: 'checkout-live', namespace: NS },
    spec: { name: 'live', functionName: 'checkout', functionVersionRef: { from: { name: 'checkout-v6' } } },
  });

  it('replaces the resolved Alias and passes everything else through deep-equal', () => {
    const desired = { ...earlierResources(), refs: withRefs() };
    const { rsp, before } = call({
      composite: namespacedXR({ anything: true }),
      input: resolverInput(),
      desired,
      required: { [versionRequirementKey(NS, 'checkout-v6')]: [ackVersion('checkout-v6')] },
    });
    expect(rsp.results.filter((r) => r.severity === Severity.SEVERITY_FATAL)).toEqual([]);
    expect(rsp.desired?.resources['refs']?.resource?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '6' });
    expect(rsp.desired?.resources['bucket']).toEqual(before.desired?.resources['bucket']);
    expect(rsp.desired?.resources['plain-alias']).toEqual(before.desired?.resources['plain-alias']);
    // Resolver mode writes no XR status.
    expect(rsp.desired?.composite).toEqual(before.desired?.composite);
  });

  it('keeps functionVersionRef alone with resolver.keepFunctionVersionRef (ACK refuses a reference next to its value)', () => {
    const { rsp } = call({
      composite: namespacedXR({}),
      input: resolverInput(true),
      desired: { refs: withRefs() },
      required: { [versionRequirementKey(NS, 'checkout-v6')]: [ackVersion('checkout-v6')] },
    });
    expect(rsp.desired?.resources['refs']?.resource?.spec).toEqual({
      name: 'live',
      functionName: 'checkout',
      functionVersionRef: { from: { name: 'checkout-v6' } },
    });
  });

  it('keeps a live Alias with no readable functionVersion in desired state while its reference is unresolved (issue 10, defect 2)', () => {
    const live = {
      ...observedAlias(),
      metadata: { name: 'checkout-live', namespace: NS },
      spec: { name: 'live', functionName: 'checkout', functionVersion: '' },
    };
    const { rsp } = call({
      composite: namespacedXR({}),
      input: resolverInput(),
      desired: { ...earlierResources(), refs: withRefs() },
      observed: { refs: live },
    });
    expect(rsp.desired?.resources['refs']?.resource?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '' });
    expect(rsp.desired?.resources['refs']?.ready).toBe(Ready.READY_FALSE);
  });

  it('leaves out an Alias that cannot resolve and does not exist yet, with a Warning', () => {
    const { rsp, before } = call({ composite: namespacedXR({}), input: resolverInput(), desired: { ...earlierResources(), refs: withRefs() } });
    expect(rsp.desired?.resources).not.toHaveProperty('refs');
    expect(rsp.desired?.resources['bucket']).toEqual(before.desired?.resources['bucket']);
    expect(rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING && r.message.includes('not creating desired resource refs'))).toBe(true);
    expect(rsp.requirements?.extraResources).toHaveProperty(versionRequirementKey(NS, 'checkout-v6'));
  });

  it('works without an observed composite', () => {
    const { rsp } = call({
      input: resolverInput(),
      desired: { refs: withRefs() },
      extra: { [ALL_VERSIONS_REQUIREMENT]: [ackVersion('checkout-v6')] },
    });
    expect(rsp.desired?.resources['refs']?.resource?.spec).toMatchObject({ functionVersion: '6' });
  });

  it('malformed references are Fatal and leave everything as it was', () => {
    const bad = withRefs();
    (bad.spec as Record<string, unknown>).functionVersionRef = { from: {} };
    const { rsp, before } = call({ composite: namespacedXR({}), input: resolverInput(), desired: { ...earlierResources(), refs: bad } });
    expectFatal(rsp, before, 'InvalidAlias', 'desired resource refs', 'spec.functionVersionRef.from.name');
  });
});

describe("an earlier step's resource under a name this function renders (issue 10, defect 10)", () => {
  it.each<[string, Record<string, KubeObject>]>([
    [
      'its Alias under "alias"',
      {
        alias: {
          apiVersion: ACK,
          kind: 'Alias',
          metadata: { name: 'theirs', namespace: NS },
          spec: { name: 'theirs', functionName: 'x', functionVersion: '1' },
        },
      },
    ],
    [
      'its ConfigMap under "version-checkout-v5"',
      { 'version-checkout-v5': { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: NS }, data: {} } },
    ],
  ])('%s: a Fatal naming both, and nothing of theirs replaced', (_what, earlier) => {
    const spec = manualSpec({ versions: [{ name: 'checkout-v5' }], stable: ref('checkout-v5') });
    const req = request({ composite: namespacedXR(spec), desired: earlier, observed: { 'version-checkout-v5': ackVersion('checkout-v5', { version: '5' }) } });
    const before = structuredClone(req);
    const rsp = runFunction(req, { now });
    expectFatal(rsp, before, 'ResourceNameConflict', 'earlier pipeline step', Object.keys(earlier)[0]!);
  });
});

describe('manual weight 100 with the stable missing, through runFunction (issue 10, decision)', () => {
  it('moves the alias wholly to the resolved canary', () => {
    const { rsp } = call({
      composite: namespacedXR(manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6'), weight: 100 } })),
      observed: { alias: observedAlias({ functionVersion: '5' }) },
      required: { [versionRequirementKey(NS, 'checkout-v5')]: [], [versionRequirementKey(NS, 'checkout-v6')]: [ackVersion('checkout-v6')] },
    });
    expect(rsp.results.filter((r) => r.severity === Severity.SEVERITY_FATAL)).toEqual([]);
    expect(aliasSpec(rsp)).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '6' });
    expect(validateAck(rsp.desired!.resources['alias']!.resource!)).toEqual([]);
  });
});
