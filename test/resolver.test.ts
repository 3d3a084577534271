// Resolver mode: resolving version references inside ACK Aliases that earlier
// pipeline steps rendered, with the same safety gate as LambdaCanary mode.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../function/core/k8s.js';
import type { Plan } from '../function/core/plan-contract.js';
import { ALL_VERSIONS_REQUIREMENT, versionRequirementKey } from '../function/core/version-lookup.js';
import { isAliasWithRefs, planResolver, type ResolverInput } from '../function/core/resolver-planner.js';
import { validateAck } from './support/ack-schema.js';
import { ACK, NS, OTHER_NS, ackVersion, claimXR, namespacedXR, observedAlias, byName } from './support/fixtures.js';

const fromRef = (name: string, namespace?: string) => ({ from: namespace === undefined ? { name } : { name, namespace } });

/** An Alias as an earlier pipeline step (patch-and-transform, KCL...) renders it. */
function stepAlias(spec: Record<string, unknown>, opts: { name?: string; namespace?: string | null } = {}): KubeObject {
  return {
    apiVersion: ACK,
    kind: 'Alias',
    metadata: {
      name: opts.name ?? 'checkout-live',
      ...(opts.namespace === null ? {} : { namespace: opts.namespace ?? NS }),
      labels: { team: 'payments' },
    },
    spec: { name: 'live', functionName: 'checkout', description: 'from an earlier step', ...spec },
  };
}

const v5 = () => ackVersion('checkout-v5', { version: '5' });
const v6 = () => ackVersion('checkout-v6', { version: '6' });

function resolve(extra: Partial<ResolverInput> & { desired: Record<string, KubeObject> }): Plan {
  const input: ResolverInput = {
    composite: namespacedXR({}),
    observed: {},
    required: {},
    keepFunctionVersionRef: false,
    ...extra,
  };
  const frozen = structuredClone(input);
  const plan = planResolver(input);
  expect(input, 'the planner must not modify its input').toEqual(frozen);
  return plan;
}

const specOf = (p: Plan, name = 'alias') => p.desired[name]?.resource.spec as Record<string, unknown> | undefined;
const warnings = (p: Plan) => p.results.filter((r) => r.severity === 'Warning');

describe('resolving references', () => {
  it('functionVersionRef -> functionVersion; the reference is removed', () => {
    const p = resolve({ desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }) }, required: byName(v5()) });
    expect(p.fatal).toBeUndefined();
    expect(p.desired['alias']?.resource).toEqual({
      ...stepAlias({}),
      spec: { name: 'live', functionName: 'checkout', description: 'from an earlier step', functionVersion: '5' },
    });
    expect(validateAck(p.desired['alias']!.resource)).toEqual([]);
    expect(p.removed).toEqual([]);
  });

  it('additionalVersionWeightRefs (fractions) -> additionalVersionWeights; the references are removed', () => {
    const p = resolve({
      desired: {
        alias: stepAlias({
          functionVersionRef: fromRef('checkout-v5'),
          routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.1 }] },
        }),
      },
      required: byName(v5(), v6()),
    });
    expect(specOf(p)).toEqual({
      name: 'live',
      functionName: 'checkout',
      description: 'from an earlier step',
      functionVersion: '5',
      routingConfig: { additionalVersionWeights: { '6': 0.1 } },
    });
    expect(validateAck(p.desired['alias']!.resource)).toEqual([]);
  });

  it.each([0.07, 0.3333, 0.0001, 0.9999])('weight %s is written exactly', (weight) => {
    const p = resolve({
      desired: { alias: stepAlias({ functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight }] } }) },
      required: byName(v6()),
    });
    expect((specOf(p)?.routingConfig as any).additionalVersionWeights).toEqual({ '6': weight });
    expect(String((specOf(p)?.routingConfig as any).additionalVersionWeights['6'])).toBe(String(weight));
  });

  it('a literal functionVersion with a weight reference keeps the literal', () => {
    const p = resolve({
      desired: {
        alias: stepAlias({ functionVersion: '4', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.25 }] } }),
      },
      required: byName(v6()),
    });
    expect(specOf(p)).toMatchObject({ functionVersion: '4', routingConfig: { additionalVersionWeights: { '6': 0.25 } } });
    expect(specOf(p)?.routingConfig).not.toHaveProperty('additionalVersionWeightRefs');
  });

  it('a functionVersionRef with literal weights resolves the reference and keeps the weights', () => {
    const p = resolve({
      desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '6': 0.2 } } }) },
      required: byName(v5()),
    });
    expect(specOf(p)).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.2 } } });
  });

  it('keeps other routingConfig fields and everything else of the Alias', () => {
    const alias = stepAlias({
      functionVersionRef: fromRef('checkout-v5'),
      provisionedConcurrencyConfig: { provisionedConcurrentExecutions: 2 },
      routingConfig: { somethingNew: true },
    });
    const p = resolve({ desired: { alias }, required: byName(v5()) });
    expect(p.desired['alias']?.resource.metadata).toEqual(alias.metadata);
    expect(specOf(p)).toMatchObject({ provisionedConcurrencyConfig: { provisionedConcurrentExecutions: 2 }, routingConfig: { somethingNew: true } });
  });

  it('resolves several Aliases independently', () => {
    const p = resolve({
      desired: {
        a: stepAlias({ functionVersionRef: fromRef('checkout-v5') }, { name: 'a' }),
        b: stepAlias({ functionVersionRef: fromRef('checkout-v6') }, { name: 'b' }),
      },
      required: byName(v5(), v6()),
    });
    expect(specOf(p, 'a')?.functionVersion).toBe('5');
    expect(specOf(p, 'b')?.functionVersion).toBe('6');
  });
});

describe('what resolver mode leaves alone', () => {
  const bucket = { apiVersion: 's3.services.k8s.aws/v1alpha1', kind: 'Bucket', metadata: { name: 'b' }, spec: { name: 'b' } };
  const version = { apiVersion: ACK, kind: 'Version', metadata: { name: 'checkout-v7', namespace: NS }, spec: { functionName: 'checkout' } };
  const plainAlias = stepAlias({ functionVersion: '3', routingConfig: { additionalVersionWeights: { '4': 0.5 } } });
  const otherGroupAlias = { ...stepAlias({ functionVersionRef: fromRef('checkout-v5') }), apiVersion: 'example.org/v1' };

  it('non-Alias resources and Aliases without references are not touched, removed or required', () => {
    const p = resolve({ desired: { bucket, version, plain: plainAlias, other: otherGroupAlias } });
    expect(p.fatal).toBeUndefined();
    expect(p.desired).toEqual({});
    expect(p.removed).toEqual([]);
    expect(p.requirements).toEqual({});
    expect(p.conditions).toEqual([]);
    expect(p.results).toEqual([]);
  });

  it('isAliasWithRefs', () => {
    expect(isAliasWithRefs(stepAlias({ functionVersionRef: fromRef('x') }))).toBe(true);
    expect(isAliasWithRefs(stepAlias({ functionVersion: '1', routingConfig: { additionalVersionWeightRefs: [] } }))).toBe(true);
    expect(isAliasWithRefs(plainAlias)).toBe(false);
    expect(isAliasWithRefs(otherGroupAlias)).toBe(false);
    expect(isAliasWithRefs(bucket)).toBe(false);
  });
});

describe('finding referenced Versions in resolver mode', () => {
  it('a namespaced XR asks by name in the Alias namespace, the same on every call', () => {
    const desired = {
      alias: stepAlias({
        functionVersionRef: fromRef('checkout-v5'),
        routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6', OTHER_NS), weight: 0.1 }] },
      }),
    };
    const want = {
      [versionRequirementKey(NS, 'checkout-v5')]: { apiVersion: ACK, kind: 'Version', matchName: 'checkout-v5', namespace: NS },
      [versionRequirementKey(OTHER_NS, 'checkout-v6')]: { apiVersion: ACK, kind: 'Version', matchName: 'checkout-v6', namespace: OTHER_NS },
    };
    expect(resolve({ desired }).requirements).toEqual(want);
    expect(resolve({ desired, required: byName(v5(), ackVersion('checkout-v6', { namespace: OTHER_NS })) }).requirements).toEqual(want);
  });

  it('a cluster-scoped XR lists Versions and takes only the exact namespace/name', () => {
    const desired = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }) };
    const composite = claimXR({});
    const first = resolve({ composite, desired });
    expect(first.requirements).toEqual({ [ALL_VERSIONS_REQUIREMENT]: { apiVersion: ACK, kind: 'Version', matchLabels: {} } });
    const theirs = ackVersion('checkout-v5', { namespace: OTHER_NS, version: '9' });
    const wrong = resolve({ composite, desired, required: { [ALL_VERSIONS_REQUIREMENT]: [theirs] } });
    expect(wrong.desired['alias']).toBeUndefined();
    expect(wrong.removed).toEqual(['alias']);
    const right = resolve({ composite, desired, required: { [ALL_VERSIONS_REQUIREMENT]: [theirs, v5()] } });
    expect(specOf(right)?.functionVersion).toBe('5');
  });

  it('a Version the pipeline composes itself is read from observed, with no requirement', () => {
    const desired = {
      'version-v5': { apiVersion: ACK, kind: 'Version', metadata: { name: 'checkout-v5', namespace: NS }, spec: { functionName: 'checkout' } },
      alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }),
    };
    const pending = resolve({ desired });
    expect(pending.requirements).toEqual({});
    expect(pending.removed).toEqual(['alias']);
    const p = resolve({ desired, observed: { 'version-v5': v5() } });
    expect(p.requirements).toEqual({});
    expect(specOf(p)?.functionVersion).toBe('5');
    expect(p.desired).not.toHaveProperty('version-v5');
  });

  it.each([
    ['another API group', { apiVersion: 'example.org/v1', kind: 'Version', metadata: { name: 'checkout-v5', namespace: NS } }],
    ['another namespace', { apiVersion: ACK, kind: 'Version', metadata: { name: 'checkout-v5', namespace: OTHER_NS }, spec: { functionName: 'checkout' } }],
  ])('a desired Version of %s with the same name is not taken for the composed one: the real Version is required (issue 10, defect 12)', (_what, other) => {
    const desired = { 'version-v5': other, alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }) };
    const p = resolve({ desired });
    expect(Object.keys(p.requirements)).not.toEqual([]);
    const resolved = resolve({ desired, required: byName(v5()) });
    expect(specOf(resolved)?.functionVersion).toBe('5');
  });

  it('an Alias with its own namespace resolves references there, not in the claim namespace', () => {
    const composite = claimXR({}, { claimNamespace: NS });
    const desired = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }, { namespace: OTHER_NS }) };
    const required = {
      [ALL_VERSIONS_REQUIREMENT]: [
        ackVersion('checkout-v5', { namespace: NS, version: '9' }),
        ackVersion('checkout-v5', { namespace: OTHER_NS, version: '5' }),
      ],
    };
    expect(specOf(resolve({ composite, desired, required }))?.functionVersion).toBe('5');
  });

  it('an Alias without a namespace goes to the XR namespace', () => {
    const p = resolve({ desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }, { namespace: null }) }, required: byName(v5()) });
    expect(specOf(p)?.functionVersion).toBe('5');
  });

  it('an Alias without a namespace and no XR namespace is Fatal, saying to set metadata.namespace', () => {
    const p = resolve({
      composite: claimXR({}, { claimNamespace: null }),
      desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }, { namespace: null }) },
    });
    expect(p.fatal).toContain('desired resource alias');
    expect(p.fatal).toContain('metadata.namespace');
    expect(p.fatalReason).toBe('NoNamespace');
  });
});

describe('the safety gate in resolver mode', () => {
  const refs = () =>
    stepAlias({
      functionVersionRef: fromRef('checkout-v5'),
      routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.5 }] },
    });

  it.each<[string, Record<string, KubeObject[]>]>([
    ['not found', { [versionRequirementKey(NS, 'checkout-v5')]: [], [versionRequirementKey(NS, 'checkout-v6')]: [] }],
    ['lookup pending', {}],
    ['not published', byName(ackVersion('checkout-v5', { version: null }), ackVersion('checkout-v6', { version: null }))],
    ['Terminal', byName(ackVersion('checkout-v5', { terminal: 'x' }), ackVersion('checkout-v6', { terminal: 'x' }))],
  ])('%s with an observed Alias: holds exactly what it routes, with a Warning', (_what, required) => {
    const p = resolve({ desired: { alias: refs() }, required, observed: { alias: observedAlias({ functionVersion: '4', weights: { '3': 0.2 } }) } });
    expect(specOf(p)?.functionVersion).toBe('4');
    expect(specOf(p)?.routingConfig).toEqual({ additionalVersionWeights: { '3': 0.2 } });
    expect(specOf(p)).not.toHaveProperty('functionVersionRef');
    expect(warnings(p).some((r) => r.message.includes('keeping alias live: 80% to version 4, 20% to version 3'))).toBe(true);
    expect(p.conditions.find((c) => c.type === 'VersionsResolved')).toMatchObject({
      status: 'False',
      reason: _what === 'Terminal' ? 'VersionFailed' : 'Pending',
    });
    expect(p.conditions.find((c) => c.type === 'TrafficRouted')?.status).toBe('False');
    expect(p.removed).toEqual([]);
    expect(validateAck(p.desired['alias']!.resource)).toEqual([]);
  });

  it('stable unresolved and no observed Alias: the Alias is left out (removed), with a Warning', () => {
    const p = resolve({ desired: { alias: refs(), bucket: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } } } });
    expect(p.desired).toEqual({});
    expect(p.removed).toEqual(['alias']);
    expect(warnings(p).some((r) => r.message.startsWith('not creating desired resource alias (Alias checkout-live) yet'))).toBe(true);
    expect(p.ttlSeconds).toBe(15);
  });

  it('canary unresolved and no observed Alias: created with all traffic on the resolved stable', () => {
    const p = resolve({ desired: { alias: refs() }, required: { ...byName(v5()), [versionRequirementKey(NS, 'checkout-v6')]: [] } });
    expect(specOf(p)).toEqual({ name: 'live', functionName: 'checkout', description: 'from an earlier step', functionVersion: '5' });
    expect(warnings(p).length).toBe(1);
    expect(p.removed).toEqual([]);
  });

  it('refuses a split between Versions with different roles, naming both', () => {
    const p = resolve({ desired: { alias: refs() }, required: byName(v5(), ackVersion('checkout-v6', { role: 'arn:aws:iam::1:role/other' })) });
    expect(specOf(p)).not.toHaveProperty('routingConfig');
    expect(warnings(p)[0]?.reason).toBe('TrafficRefused');
    expect(warnings(p)[0]?.message).toContain('arn:aws:iam::1:role/other');
  });

  it('refuses a split to the stable version itself', () => {
    const p = resolve({ desired: { alias: refs() }, required: byName(v5(), ackVersion('checkout-v6', { version: '5' })) });
    expect(specOf(p)).toEqual({ name: 'live', functionName: 'checkout', description: 'from an earlier step', functionVersion: '5' });
    expect(warnings(p)[0]?.reason).toBe('TrafficRefused');
  });

  describe('ending a split: the zero-weight entry (server-side apply cannot empty the map)', () => {
    const v6ref = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v6') }) };
    const v5ref = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5') }) };
    type Case = [string, Record<string, KubeObject>, { functionVersion: string; weights?: Record<string, number> }, string, unknown];
    it.each<Case>([
      [
        'the earlier step drops the canary (abort): the canary at weight 0',
        v5ref,
        { functionVersion: '5', weights: { '6': 0.1 } },
        '5',
        { additionalVersionWeights: { '6': 0 } },
      ],
      [
        'the earlier step promotes: the old primary at weight 0',
        v6ref,
        { functionVersion: '5', weights: { '6': 0.5 } },
        '6',
        { additionalVersionWeights: { '5': 0 } },
      ],
      ['steady with an entry: unchanged', v6ref, { functionVersion: '6', weights: { '5': 0 } }, '6', { additionalVersionWeights: { '5': 0 } }],
      ['an empty map stays empty', v5ref, { functionVersion: '5', weights: {} }, '5', { additionalVersionWeights: {} }],
      ['never routed: no routingConfig', v5ref, { functionVersion: '5' }, '5', undefined],
    ])('%s', (_what, desired, observed, functionVersion, routingConfig) => {
      const p = resolve({ desired, required: byName(v5(), v6()), observed: { alias: observedAlias(observed) } });
      expect(warnings(p)).toEqual([]);
      expect(specOf(p)?.functionVersion).toBe(functionVersion);
      expect(specOf(p)?.routingConfig).toEqual(routingConfig);
    });

    it('the next split replaces the entry, exactly one key', () => {
      const desired = {
        alias: stepAlias({
          functionVersionRef: fromRef('checkout-v5'),
          routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.1 }] },
        }),
      };
      const p = resolve({ desired, required: byName(v5(), v6()), observed: { alias: observedAlias({ functionVersion: '5', weights: { '4': 0 } }) } });
      expect(specOf(p)?.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
    });

    it('$LATEST after routing: refused, the live Alias held with its entry', () => {
      // (An Alias without references passes through untouched; an empty list of weight references still makes it ours.)
      const desired = { alias: stepAlias({ functionVersion: '$LATEST', routingConfig: { additionalVersionWeightRefs: [] } }) };
      const p = resolve({ desired, required: {}, observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0 } }) } });
      expect(warnings(p)[0]?.reason).toBe('TrafficRefused');
      expect(warnings(p)[0]?.message).toContain('cannot move the alias to $LATEST');
      expect(specOf(p)).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0 } } });
      expect(p.conditions.find((c) => c.type === 'TrafficRouted')?.status).toBe('False');
    });
  });

  it('readiness and conditions: ready iff the observed Alias is synced and matches', () => {
    const desired = { alias: refs() };
    const required = byName(v5(), v6());
    const fresh = resolve({ desired, required });
    expect(fresh.desired['alias']?.ready).toBe(false);
    expect(fresh.conditions).toEqual([
      { type: 'VersionsResolved', status: 'True', reason: 'Resolved' },
      { type: 'TrafficRouted', status: 'False', reason: 'NotYetRouted' },
    ]);
    const done = resolve({ desired, required, observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 } }) } });
    expect(done.desired['alias']?.ready).toBe(true);
    expect(done.conditions[1]).toEqual({ type: 'TrafficRouted', status: 'True', reason: 'Routed' });
    expect(done.ttlSeconds).toBe(60);
    const unsynced = resolve({ desired, required, observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 }, synced: 'False' }) } });
    expect(unsynced.desired['alias']?.ready).toBe(false);
  });
});

describe('malformed references are Fatal, naming the resource and the field', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['functionVersionRef without a name', { functionVersionRef: { from: {} } }, ['spec.functionVersionRef.from.name', 'is required']],
    ['functionVersionRef as a string', { functionVersionRef: 'checkout-v5' }, ['spec.functionVersionRef']],
    ['a typo inside functionVersionRef', { functionVersionRef: { from: { nmae: 'checkout-v5' } } }, ['spec.functionVersionRef.from', '"nmae"']],
    [
      'both functionVersion and functionVersionRef',
      { functionVersion: '5', functionVersionRef: fromRef('checkout-v5') },
      ['spec.functionVersion', 'spec.functionVersionRef', 'exactly one'],
    ],
    [
      'weight 1 (a percentage by mistake?)',
      { functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('v6'), weight: 1 }] } },
      ['spec.routingConfig.additionalVersionWeightRefs[0].weight', 'below 1'],
    ],
    [
      'weight 10',
      { functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('v6'), weight: 10 }] } },
      ['additionalVersionWeightRefs[0].weight'],
    ],
    [
      'a negative weight',
      { functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('v6'), weight: -0.1 }] } },
      ['additionalVersionWeightRefs[0].weight', 'at least 0'],
    ],
    [
      'a missing weight',
      { functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('v6') }] } },
      ['additionalVersionWeightRefs[0].weight', 'is required'],
    ],
    [
      'two weight refs',
      {
        functionVersion: '5',
        routingConfig: {
          additionalVersionWeightRefs: [
            { versionRef: fromRef('v6'), weight: 0.1 },
            { versionRef: fromRef('v7'), weight: 0.1 },
          ],
        },
      },
      ['additionalVersionWeightRefs', 'at most one'],
    ],
    [
      'a weight ref plus literal weights',
      {
        functionVersionRef: fromRef('v5'),
        routingConfig: { additionalVersionWeights: { '7': 0.1 }, additionalVersionWeightRefs: [{ versionRef: fromRef('v6'), weight: 0.1 }] },
      },
      ['spec.routingConfig', 'at most one'],
    ],
    [
      'literal weights that are percentages',
      { functionVersionRef: fromRef('v5'), routingConfig: { additionalVersionWeights: { '6': 10 } } },
      ['additionalVersionWeights', 'between 0 and 1'],
    ],
    [
      'a non-numeric functionVersion',
      { functionVersion: 'latest', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('v6'), weight: 0.1 }] } },
      ['spec.functionVersion'],
    ],
  ];

  it.each(cases)('%s', (_what, spec, says) => {
    const alias = stepAlias(spec);
    const p = resolve({ desired: { mine: alias, bucket: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } } } });
    expect(p.fatal).toBeDefined();
    expect(p.fatal).toContain('desired resource mine (Alias checkout-live)');
    expect(p.fatalReason).toBe('InvalidAlias');
    for (const s of says) expect(p.fatal).toContain(s);
    expect(p.desired).toEqual({});
  });
});

/** An observed Alias exactly as the API server holds it: `spec` is used as given (no defaults filled in). */
function liveAlias(spec: Record<string, unknown>, synced: 'True' | 'False' = 'True'): KubeObject {
  return {
    apiVersion: ACK,
    kind: 'Alias',
    metadata: { name: 'checkout-live', namespace: NS },
    spec: { name: 'live', functionName: 'checkout', description: 'from an earlier step', ...spec },
    status: { conditions: [{ type: 'ACK.ResourceSynced', status: synced }] },
  };
}

describe('a live Alias is never dropped in resolver mode (issue 10, defect 2)', () => {
  const toV6 = () => stepAlias({ functionVersionRef: fromRef('checkout-v6') });
  const v6Pending = () => byName(ackVersion('checkout-v6', { version: null }));

  it('an observed Alias with an empty functionVersion is held as it is while the reference is unresolved', () => {
    const p = resolve({ desired: { alias: toV6() }, required: v6Pending(), observed: { alias: liveAlias({ functionVersion: '' }) } });
    expect(p.fatal).toBeUndefined();
    expect(p.removed).toEqual([]);
    expect(specOf(p)).toEqual({ name: 'live', functionName: 'checkout', description: 'from an earlier step', functionVersion: '' });
    expect(p.desired['alias']?.ready).toBe(false);
    expect(warnings(p).some((r) => r.reason === 'VersionUnresolved' && r.message.includes('keeping desired resource alias'))).toBe(true);
  });

  it('keepFunctionVersionRef: an Alias ACK created from functionVersionRef alone is held with its own reference while the new one is unresolved', () => {
    const observed = liveAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '4': 0.2 } } });
    const p = resolve({ keepFunctionVersionRef: true, desired: { alias: toV6() }, required: v6Pending(), observed: { alias: observed } });
    expect(p.removed).toEqual([]);
    expect(specOf(p)).toEqual(observed.spec);
    expect(specOf(p)).not.toHaveProperty('functionVersion');
  });

  it('an unreadable live Alias is held, not dropped, also when the reference is refused', () => {
    // Stable and canary resolve to the same number: refused; the live Alias has no functionVersion to hold as traffic.
    const desired = {
      alias: stepAlias({
        functionVersionRef: fromRef('checkout-v5'),
        routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.5 }] },
      }),
    };
    const observed = liveAlias({ functionVersionRef: fromRef('checkout-v4') });
    const p = resolve({
      keepFunctionVersionRef: true,
      desired,
      required: byName(v5(), ackVersion('checkout-v6', { version: '5' }), ackVersion('checkout-v4', { version: null })),
      observed: { alias: observed },
    });
    expect(p.removed).toEqual([]);
    expect(specOf(p)).toEqual(observed.spec);
    expect(warnings(p)[0]?.reason).toBe('TrafficRefused');
  });
});

describe('an observed object of another kind is not a live Alias', () => {
  it('the Alias with unresolved references is still left out (nothing of ours exists)', () => {
    const p = resolve({ desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v6') }) }, observed: { alias: v5() } });
    expect(p.desired).toEqual({});
    expect(p.removed).toEqual(['alias']);
  });
});

describe('keepFunctionVersionRef renders the reference alone (issue 10, defect 14)', () => {
  const split = () =>
    stepAlias({
      functionVersionRef: fromRef('checkout-v5'),
      routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.1 }] },
    });

  it('no functionVersion next to functionVersionRef (ACK refuses a reference and its value together); weights as literals', () => {
    const p = resolve({ keepFunctionVersionRef: true, desired: { alias: split() }, required: byName(v5(), v6()) });
    expect(specOf(p)).toEqual({
      name: 'live',
      functionName: 'checkout',
      description: 'from an earlier step',
      functionVersionRef: fromRef('checkout-v5'),
      routingConfig: { additionalVersionWeights: { '6': 0.1 } },
    });
  });

  it('the live version of a reference-only Alias is read by resolving its reference: ready once ACK synced it', () => {
    const observed = liveAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
    const p = resolve({ keepFunctionVersionRef: true, desired: { alias: split() }, required: byName(v5(), v6()), observed: { alias: observed } });
    expect(p.desired['alias']?.ready).toBe(true);
    expect(p.conditions.find((c) => c.type === 'TrafficRouted')?.status).toBe('True');
  });

  it('promotion from a reference-only Alias: the old version, read from its reference, becomes the zero-weight entry', () => {
    const observed = liveAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '6': 0.5 } } });
    const desired = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v6') }) };
    const first = resolve({ keepFunctionVersionRef: true, desired, required: byName(v6()), observed: { alias: observed } });
    // The old reference is looked up too: until it is known, nothing is guessed.
    expect(first.requirements).toHaveProperty(versionRequirementKey(NS, 'checkout-v5'));
    expect(first.removed).toEqual([]);
    expect(specOf(first)).toEqual(observed.spec);
    expect(warnings(first)[0]?.reason).toBe('VersionUnresolved');
    expect(warnings(first)[0]?.message).toContain('team-a/checkout-v5');
    const p = resolve({ keepFunctionVersionRef: true, desired, required: byName(v5(), v6()), observed: { alias: observed } });
    expect(specOf(p)).toMatchObject({ functionVersionRef: fromRef('checkout-v6'), routingConfig: { additionalVersionWeights: { '5': 0 } } });
    expect(specOf(p)).not.toHaveProperty('functionVersion');
    expect(warnings(p)).toEqual([]);
  });
});

describe('weights pass through exactly in resolver mode (issue 10, defect 9)', () => {
  it.each([0.12345, 0.00004, 0.99999, 0, 1])('a literal weight %s next to functionVersionRef is written exactly', (weight) => {
    const p = resolve({
      desired: { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '42': weight } } }) },
      required: byName(v5()),
    });
    expect(p.fatal).toBeUndefined();
    expect(specOf(p)).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '42': weight } } });
    expect(warnings(p)).toEqual([]);
  });

  it('a literal weight 0.12345 is ready once the observed Alias has exactly it', () => {
    const desired = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: { '42': 0.12345 } } }) };
    const exact = resolve({ desired, required: byName(v5()), observed: { alias: observedAlias({ functionVersion: '5', weights: { '42': 0.12345 } }) } });
    expect(exact.desired['alias']?.ready).toBe(true);
    const rounded = resolve({ desired, required: byName(v5()), observed: { alias: observedAlias({ functionVersion: '5', weights: { '42': 0.1235 } }) } });
    expect(rounded.desired['alias']?.ready).toBe(false);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['above 1', { '6': 1.5 }, ['spec.routingConfig.additionalVersionWeights["6"]', 'between 0 and 1']],
    ['below 0', { '6': -0.1 }, ['spec.routingConfig.additionalVersionWeights["6"]', 'between 0 and 1']],
    ['a key that is no version number', { abc: 0.1 }, ['spec.routingConfig.additionalVersionWeights["abc"]', 'version number']],
    ['$LATEST', { $LATEST: 0.1 }, ['spec.routingConfig.additionalVersionWeights["$LATEST"]', '$LATEST']],
    ['a key with a leading zero', { '06': 0.1 }, ['spec.routingConfig.additionalVersionWeights["06"]', 'version number']],
    ['two entries', { '6': 0.1, '7': 0.1 }, ['spec.routingConfig', 'at most one']],
    ['the functionVersion itself', { '5': 0.1 }, ['spec.routingConfig.additionalVersionWeights["5"]', 'spec.functionVersionRef', 'version 5']],
  ])('a literal map AWS would refuse is Fatal, naming the field: %s', (_what, weights, says) => {
    const p = resolve({
      desired: { mine: stepAlias({ functionVersionRef: fromRef('checkout-v5'), routingConfig: { additionalVersionWeights: weights } }) },
      required: byName(v5()),
    });
    expect(p.fatalReason).toBe('InvalidAlias');
    for (const s of says) expect(p.fatal).toContain(s);
    expect(p.desired).toEqual({});
  });

  it('a weight reference of 0.12345 is written exactly', () => {
    const p = resolve({
      desired: {
        alias: stepAlias({ functionVersion: '5', routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0.12345 }] } }),
      },
      required: byName(v6()),
    });
    expect(p.fatal).toBeUndefined();
    expect(specOf(p)?.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.12345 } });
  });

  describe('a weight reference at 0 means no traffic (patch-and-transform cannot remove the entry)', () => {
    const atZero = () =>
      stepAlias({
        functionVersionRef: fromRef('checkout-v5'),
        routingConfig: { additionalVersionWeightRefs: [{ versionRef: fromRef('checkout-v6'), weight: 0 }] },
      });

    it('ends a live split with the zero-weight entry, as when the entry is left out', () => {
      const p = resolve({
        desired: { alias: atZero() },
        required: byName(v5(), v6()),
        observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.1 } }) },
      });
      expect(p.fatal).toBeUndefined();
      expect(specOf(p)).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0 } } });
      expect(warnings(p)).toEqual([]);
    });

    it('a new Alias gets no routing, and the Version at 0 is not waited for', () => {
      const p = resolve({ desired: { alias: atZero() }, required: byName(v5()) });
      expect(specOf(p)).toEqual({ name: 'live', functionName: 'checkout', description: 'from an earlier step', functionVersion: '5' });
      expect(p.requirements).not.toHaveProperty(versionRequirementKey(NS, 'checkout-v6'));
      expect(p.conditions.find((c) => c.type === 'VersionsResolved')?.status).toBe('True');
    });
  });

  it('a hold re-renders the observed weights map exactly (0.12345 stays 0.12345)', () => {
    const desired = { alias: stepAlias({ functionVersionRef: fromRef('checkout-v6') }) };
    const p = resolve({ desired, required: {}, observed: { alias: observedAlias({ functionVersion: '4', weights: { '3': 0.12345 } }) } });
    expect(specOf(p)).toMatchObject({ functionVersion: '4', routingConfig: { additionalVersionWeights: { '3': 0.12345 } } });
    expect(p.removed).toEqual([]);
  });
});
