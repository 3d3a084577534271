// The pure planner in LambdaCanary mode: version resolution, the safety gate,
// rendering, readiness, status and conditions. Every plan made through run()
// is also checked against the real ACK CRDs, so every Alias and Version any
// test here renders is one the API server (and AWS's documented patterns) accept.
import { ROLLOUT_MEMORY_ANNOTATION as MEMORY } from '../function/core/rollout/memory.js';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../function/core/k8s.js';
import { planLambdaCanary } from '../function/core/canary-planner.js';
import type { Plan, PlanInput } from '../function/core/plan-contract.js';
import { ALL_VERSIONS_REQUIREMENT, versionRequirementKey } from '../function/core/version-lookup.js';
import { gate } from '../function/core/traffic.js';
import { validateAck } from './support/ack-schema.js';
import {
  ACK,
  ALIAS_ARN,
  DLQ,
  NS,
  OTHER_NS,
  ROLE,
  XR_NAME,
  ackVersion,
  claimXR,
  manualSpec,
  namespacedXR,
  observedAlias,
  planInput,
  ref,
  byName,
} from './support/fixtures.js';

/** Plans, and checks every rendered object against its ACK CRD. */
function run(composite: KubeObject, extra: Partial<Omit<PlanInput, 'composite'>> = {}): Plan {
  const input = planInput(composite, extra);
  const frozen = structuredClone(input);
  const plan = planLambdaCanary(input);
  for (const [name, d] of Object.entries(plan.desired)) {
    expect(validateAck(d.resource), `desired ${name} against the ACK CRD`).toEqual([]);
  }
  // A pure function: it must not modify what it was given.
  expect(input).toEqual(frozen);
  return plan;
}

/** Keys answered "found nothing". */
function notFound(...names: [string, string][]): Record<string, KubeObject[]> {
  return Object.fromEntries(names.map(([ns, n]) => [versionRequirementKey(ns, n), []]));
}

const aliasOf = (p: Plan) => p.desired['alias']?.resource as { metadata: Record<string, unknown>; spec: Record<string, unknown> } | undefined;
const cond = (p: Plan, type: string) => p.conditions.find((c) => c.type === type);
const warnings = (p: Plan) => p.results.filter((r) => r.severity === 'Warning');

/** Stable literal 5, canary = ACK Version checkout-v6 at `weight`. */
const canaryRefSpec = (weight = 10, extra: Record<string, unknown> = {}) => manualSpec({ canary: { ...ref('checkout-v6'), weight }, ...extra });

describe('rendering the Alias', () => {
  it('routes the canary weight as a fraction under a single key', () => {
    const p = run(namespacedXR(canaryRefSpec(10)), { required: byName(ackVersion('checkout-v6')) });
    expect(p.fatal).toBeUndefined();
    expect(aliasOf(p)).toEqual({
      apiVersion: ACK,
      kind: 'Alias',
      // The Alias remembers the traffic it was rendered with (rollout/memory.ts).
      metadata: {
        name: `${XR_NAME}-live`,
        namespace: NS,
        annotations: { [MEMORY]: '{"v":1,"traffic":{"primary":"5","secondary":{"version":"6","percent":10}}}' },
      },
      spec: { name: 'live', functionName: 'checkout', functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } },
    });
  });

  it.each([
    [7, 0.07],
    [33.33, 0.3333],
    [0.01, 0.0001],
    [99.99, 0.9999],
  ])('weight %s%% -> %s', (weight, fraction) => {
    const p = run(namespacedXR(manualSpec({ canary: { version: '6', weight } })));
    expect(aliasOf(p)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '6': fraction } });
    expect(String((aliasOf(p)?.spec.routingConfig as any).additionalVersionWeights['6'])).toBe(String(fraction));
  });

  it('weight 0: all traffic on stable and no routingConfig at all', () => {
    const p = run(namespacedXR(canaryRefSpec(0)), { required: byName(ackVersion('checkout-v6')) });
    expect(aliasOf(p)?.spec.functionVersion).toBe('5');
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
  });

  it('weight 100: the canary becomes functionVersion, with no routing', () => {
    const p = run(namespacedXR(canaryRefSpec(100)), { required: byName(ackVersion('checkout-v6')) });
    expect(aliasOf(p)?.spec.functionVersion).toBe('6');
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
    expect(p.status?.canaryWeight).toBe(100);
    expect(p.status?.stable?.weight).toBe(0);
  });

  it('no canary: all traffic on stable and no routingConfig', () => {
    const p = run(namespacedXR(manualSpec()));
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5' });
  });

  it('writes function.ref as functionRef, the description, and the region annotation', () => {
    const p = run(
      namespacedXR(
        manualSpec({
          function: { ref: { from: { name: 'checkout-fn', namespace: 'fns' } } },
          alias: { name: 'live', description: 'production' },
          region: 'eu-west-1',
        }),
      ),
    );
    expect(aliasOf(p)).toEqual({
      apiVersion: ACK,
      kind: 'Alias',
      metadata: {
        name: `${XR_NAME}-live`,
        namespace: NS,
        annotations: { [MEMORY]: '{"v":1,"traffic":{"primary":"5"}}', 'services.k8s.aws/region': 'eu-west-1' },
      },
      spec: { name: 'live', functionRef: { from: { name: 'checkout-fn', namespace: 'fns' } }, functionVersion: '5', description: 'production' },
    });
  });

  it('a v1 XR renders into its claim namespace, named after the claim', () => {
    const p = run(claimXR(manualSpec(), { name: 'checkout-live-x7k2p', claimName: 'checkout', claimNamespace: 'payments' }));
    expect(aliasOf(p)?.metadata).toMatchObject({ name: 'checkout-live', namespace: 'payments' });
  });

  it('renders spec.versions as ACK Versions in the XR namespace', () => {
    const p = run(
      namespacedXR(
        manualSpec({
          versions: [{ name: 'checkout-v6', codeSHA256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=', description: 'v6' }],
          region: 'eu-west-1',
        }),
      ),
    );
    expect(p.desired['version-checkout-v6']?.resource).toEqual({
      apiVersion: ACK,
      kind: 'Version',
      metadata: { name: 'checkout-v6', namespace: NS, annotations: { 'services.k8s.aws/region': 'eu-west-1' } },
      spec: { functionName: 'checkout', codeSHA256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=', description: 'v6' },
    });
  });
});

describe('when an ACK Version counts as published', () => {
  const required = (v: KubeObject) => ({ required: byName(v) });

  it('status.version + ACK.ResourceSynced True + state Active: resolved', () => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6')));
    expect(p.status?.canary).toEqual({ name: 'checkout-v6', version: '6', weight: 10 });
    expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'True', reason: 'Resolved' });
    expect(cond(p, 'VersionsResolved')?.message).toContain('is version 6');
  });

  it('without status.state (older ACK): resolved on version + synced', () => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', { state: null })));
    expect(p.status?.canary?.version).toBe('6');
  });

  it.each<[string, Parameters<typeof ackVersion>[1]]>([
    ['no status.version', { version: null }],
    ['status.version not a number', { version: '$LATEST' }],
    ['ACK.ResourceSynced False', { synced: 'False', syncedMessage: 'publishing' }],
    ['ACK.ResourceSynced Unknown', { synced: 'Unknown' }],
    ['no ACK.ResourceSynced condition', { synced: null }],
    ['state Pending', { state: 'Pending' }],
    ['state Inactive', { state: 'Inactive' }],
  ])('%s: not published; nothing routes to it', (_what, opts) => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', opts)));
    expect(p.status?.canary).toEqual({ name: 'checkout-v6', weight: 0 });
    expect(p.status).not.toHaveProperty('canaryVersion');
    expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'NotPublished' });
    // The new Alias starts with all traffic on the resolved stable version.
    expect(aliasOf(p)?.spec.functionVersion).toBe('5');
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
    expect(p.ttlSeconds).toBe(15);
  });

  it("ACK.ResourceSynced False: the condition carries ACK's message", () => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', { synced: 'False', syncedMessage: 'code is being published' })));
    expect(cond(p, 'VersionsResolved')?.message).toContain('code is being published');
  });

  it("ACK.Terminal: failed, with ACK's message in the condition and a Warning", () => {
    const terminal = 'InvalidParameterValueException: CodeSha256 does not match';
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', { terminal })));
    expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'VersionFailed' });
    expect(cond(p, 'VersionsResolved')?.message).toContain(terminal);
    expect(cond(p, 'VersionsResolved')?.message).toContain(`${NS}/checkout-v6`);
    expect(warnings(p).some((r) => r.reason === 'VersionFailed' && r.message.includes(terminal))).toBe(true);
    expect(p.status?.canary).not.toHaveProperty('version');
  });

  it('ACK.Terminal wins even over a published, synced status', () => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', { terminal: 'boom', synced: 'True' })));
    expect(cond(p, 'VersionsResolved')?.reason).toBe('VersionFailed');
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
  });

  it('state Failed: failed, with the state reason', () => {
    const p = run(namespacedXR(canaryRefSpec()), required(ackVersion('checkout-v6', { state: 'Failed', stateReason: 'EniLimitExceeded' })));
    expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'VersionFailed' });
    expect(cond(p, 'VersionsResolved')?.message).toContain('EniLimitExceeded');
  });
});

describe('finding referenced Versions', () => {
  describe('namespaced (Crossplane v2) XR', () => {
    it('asks for each Version by name in its namespace, under a deterministic key', () => {
      const spec = manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6', OTHER_NS), weight: 10 } });
      const want = {
        [versionRequirementKey(NS, 'checkout-v5')]: { apiVersion: ACK, kind: 'Version', matchName: 'checkout-v5', namespace: NS },
        [versionRequirementKey(OTHER_NS, 'checkout-v6')]: { apiVersion: ACK, kind: 'Version', matchName: 'checkout-v6', namespace: OTHER_NS },
      };
      const first = run(namespacedXR(spec));
      expect(first.requirements).toEqual(want);
      // Before Crossplane answers: pending, and no Alias (stable unknown).
      expect(cond(first, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'LookupPending' });
      expect(first.desired['alias']).toBeUndefined();
      // The answer changes nothing about what is asked: Crossplane's loop settles.
      const second = run(namespacedXR(spec), {
        required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { namespace: OTHER_NS })),
      });
      expect(second.requirements).toEqual(want);
      expect(Object.keys(second.requirements)).toEqual(Object.keys(first.requirements));
      expect(aliasOf(second)?.spec).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
    });

    it('keys differ per namespace and name', () => {
      expect(versionRequirementKey('a', 'b')).not.toBe(versionRequirementKey('b', 'a'));
      expect(versionRequirementKey(NS, 'v6')).toBe(versionRequirementKey(NS, 'v6'));
    });

    it('an answer with no items: NotFound, with how to fix it', () => {
      const p = run(namespacedXR(canaryRefSpec()), { required: notFound([NS, 'checkout-v6']) });
      expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'NotFound' });
      expect(cond(p, 'VersionsResolved')?.message).toMatch(/not found; create it, list it in spec.versions, or fix the reference/);
    });

    it('ignores a same-named Version from another namespace in the answer', () => {
      const p = run(namespacedXR(canaryRefSpec()), {
        required: { [versionRequirementKey(NS, 'checkout-v6')]: [ackVersion('checkout-v6', { namespace: OTHER_NS, version: '9' })] },
      });
      expect(p.status?.canary).not.toHaveProperty('version');
      expect(JSON.stringify(aliasOf(p))).not.toContain('"9"');
    });

    it('ignores objects in the answer that are not ACK Versions', () => {
      const impostor = { ...ackVersion('checkout-v6'), apiVersion: 'example.org/v1' };
      const p = run(namespacedXR(canaryRefSpec()), { required: { [versionRequirementKey(NS, 'checkout-v6')]: [impostor] } });
      expect(p.status?.canary).not.toHaveProperty('version');
    });

    it('asks nothing for literal versions', () => {
      const p = run(namespacedXR(manualSpec({ canary: { version: '6', weight: 10 } })));
      expect(p.requirements).toEqual({});
    });
  });

  describe('cluster-scoped (Crossplane v1) XR', () => {
    const v1 = (spec: unknown) => claimXR(spec);

    it('lists all Versions (empty label selector, no name: v1 selectors have no namespace)', () => {
      const p = run(v1(canaryRefSpec()));
      expect(p.requirements).toEqual({ [ALL_VERSIONS_REQUIREMENT]: { apiVersion: ACK, kind: 'Version', matchLabels: {} } });
      expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'LookupPending' });
    });

    it('picks namespace and name exactly: a same-named Version in another namespace is never used', () => {
      const theirs = ackVersion('checkout-v6', { namespace: OTHER_NS, version: '9' });
      const mine = ackVersion('checkout-v6', { namespace: NS, version: '6' });
      const onlyTheirs = run(v1(canaryRefSpec()), { required: { [ALL_VERSIONS_REQUIREMENT]: [theirs] } });
      expect(onlyTheirs.status?.canary).not.toHaveProperty('version');
      expect(cond(onlyTheirs, 'VersionsResolved')?.reason).toBe('NotFound');
      expect(aliasOf(onlyTheirs)?.spec).not.toHaveProperty('routingConfig');
      for (const list of [
        [theirs, mine],
        [mine, theirs],
      ]) {
        const p = run(v1(canaryRefSpec()), { required: { [ALL_VERSIONS_REQUIREMENT]: list } });
        expect(p.status?.canary?.version).toBe('6');
        expect(aliasOf(p)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
      }
    });

    it('does not take a Version without a namespace for one in the claim namespace', () => {
      const bare = ackVersion('checkout-v6');
      delete (bare.metadata as Record<string, unknown>).namespace;
      const p = run(v1(canaryRefSpec()), { required: { [ALL_VERSIONS_REQUIREMENT]: [bare] } });
      expect(p.status?.canary).not.toHaveProperty('version');
    });

    it('references default to the claim namespace', () => {
      const p = run(v1(canaryRefSpec()), {
        required: { [ALL_VERSIONS_REQUIREMENT]: [ackVersion('checkout-v6', { namespace: NS })] },
      });
      expect(p.status?.canary?.version).toBe('6');
    });

    it('requirements are identical across calls', () => {
      const a = run(v1(canaryRefSpec()));
      const b = run(v1(canaryRefSpec()), { required: { [ALL_VERSIONS_REQUIREMENT]: [] } });
      expect(b.requirements).toEqual(a.requirements);
    });
  });

  describe('Versions this XR publishes itself (spec.versions)', () => {
    const spec = canaryRefSpec(10, { versions: [{ name: 'checkout-v6' }] });

    it('are read from observed composed resources, with no requirement', () => {
      for (const xr of [namespacedXR(spec), claimXR(spec)]) {
        const p = run(xr, { observed: { 'version-checkout-v6': ackVersion('checkout-v6') } });
        expect(p.requirements).toEqual({});
        expect(p.status?.canary?.version).toBe('6');
        expect(aliasOf(p)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '6': 0.1 } });
      }
    });

    it('before ACK published it: NotPublished "being created", still no requirement', () => {
      const p = run(namespacedXR(spec));
      expect(p.requirements).toEqual({});
      expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'NotPublished' });
      expect(cond(p, 'VersionsResolved')?.message).toContain('being created by this LambdaCanary');
    });

    it('a required resource of the same name does not stand in for the composed one', () => {
      const p = run(namespacedXR(spec), { required: byName(ackVersion('checkout-v6', { version: '9' })) });
      expect(p.status?.canary).not.toHaveProperty('version');
    });
  });
});

describe('safety rule 1: an unresolved reference never drops or regresses a live Alias', () => {
  // The live Alias: 80% on 4, 20% on 3 (an earlier canary).
  const live = () => observedAlias({ functionVersion: '4', weights: { '3': 0.2 } });

  const unresolvedCases: [string, Record<string, KubeObject[]>][] = [
    ['not found', notFound([NS, 'checkout-v5'], [NS, 'checkout-v6'])],
    ['not published', byName(ackVersion('checkout-v5', { version: null }), ackVersion('checkout-v6', { version: null }))],
    ['lookup pending', {}],
    ['Terminal', byName(ackVersion('checkout-v5', { terminal: 'bad code' }), ackVersion('checkout-v6', { terminal: 'bad code' }))],
  ];

  describe.each(unresolvedCases)('%s', (_what, required) => {
    it('canary unresolved, Alias live: keeps exactly the observed functionVersion and routing', () => {
      const p = run(namespacedXR(manualSpec({ stable: { version: '5' }, canary: { ...ref('checkout-v6'), weight: 50 } })), {
        observed: { alias: live() },
        required,
      });
      expect(aliasOf(p)?.spec.functionVersion).toBe('4');
      expect(aliasOf(p)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '3': 0.2 } });
      expect(warnings(p).some((r) => /keeping alias live: 80% to version 4, 20% to version 3 unchanged/.test(r.message))).toBe(true);
      expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
      expect(cond(p, 'VersionsResolved')?.status).toBe('False');
      expect(p.status?.message).toContain('held');
    });

    it('stable unresolved, Alias live: keeps exactly the observed functionVersion and routing', () => {
      const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v5'), canary: { version: '6', weight: 10 } })), {
        observed: { alias: live() },
        required,
      });
      expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '4', routingConfig: { additionalVersionWeights: { '3': 0.2 } } });
      expect(warnings(p).length).toBeGreaterThan(0);
      expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
      expect(cond(p, 'TrafficRouted')?.message).toMatch(/^stable: /);
    });

    it('stable unresolved, no Alias yet: renders no Alias at all', () => {
      const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v5') })), { required });
      expect(p.desired['alias']).toBeUndefined();
      expect(warnings(p).some((r) => r.message.startsWith('not creating alias live yet'))).toBe(true);
      expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Waiting' });
      expect(p.status?.message).toContain('not created yet');
    });
  });

  it('the held Alias is ready only when ACK reports it synced', () => {
    const spec = manualSpec({ stable: ref('checkout-v5') });
    expect(run(namespacedXR(spec), { observed: { alias: live() } }).desired['alias']?.ready).toBe(true);
    expect(run(namespacedXR(spec), { observed: { alias: observedAlias({ functionVersion: '4', synced: 'False' }) } }).desired['alias']?.ready).toBe(false);
  });

  it('the Alias is created only once stable resolves', () => {
    const spec = manualSpec({ stable: ref('checkout-v5') });
    const before = run(namespacedXR(spec), { required: byName(ackVersion('checkout-v5', { version: null })) });
    expect(before.desired['alias']).toBeUndefined();
    const after = run(namespacedXR(spec), { required: byName(ackVersion('checkout-v5', { version: '5' })) });
    expect(aliasOf(after)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5' });
    expect(cond(after, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Syncing' });
  });

  it('canary unresolved and no Alias yet: created with all traffic on the resolved stable', () => {
    const p = run(namespacedXR(canaryRefSpec(50)), { required: notFound([NS, 'checkout-v6']) });
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5' });
    expect(warnings(p).some((r) => r.reason === 'VersionUnresolved' && r.message.includes('no canary traffic'))).toBe(true);
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
  });

  it('an observed object that is not an Alias is not taken for the live Alias', () => {
    const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v5') })), { observed: { alias: { ...live(), kind: 'Version' } } });
    expect(p.desired['alias']).toBeUndefined();
  });
});

describe('safety rule 2: what never receives weighted traffic', () => {
  const twoRefs = (weight = 10) => manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6'), weight } });

  it('routes between two published Versions with the same role and dead-letter config', () => {
    const p = run(namespacedXR(twoRefs()), { required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6')) });
    expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
    expect(cond(p, 'TrafficRouted')?.reason).toBe('Syncing');
  });

  it('not to the stable version itself (two references resolving to the same number)', () => {
    const required = byName(ackVersion('checkout-v5', { version: '6' }), ackVersion('checkout-v6', { version: '6' }));
    const fresh = run(namespacedXR(twoRefs()), { required });
    expect(aliasOf(fresh)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '6' });
    expect(cond(fresh, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Refused' });
    expect(cond(fresh, 'TrafficRouted')?.message).toContain('the stable version itself');
    expect(warnings(fresh).some((r) => r.reason === 'TrafficRefused')).toBe(true);

    const held = run(namespacedXR(twoRefs()), { required, observed: { alias: observedAlias({ functionVersion: '4', weights: { '3': 0.1 } }) } });
    expect(aliasOf(held)?.spec).toMatchObject({ functionVersion: '4', routingConfig: { additionalVersionWeights: { '3': 0.1 } } });
    expect(cond(held, 'TrafficRouted')?.reason).toBe('Refused');
  });

  it('not to the stable itself when a literal stable and a reference agree', () => {
    const p = run(namespacedXR(canaryRefSpec()), { required: byName(ackVersion('checkout-v6', { version: '5' })) });
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
    expect(cond(p, 'TrafficRouted')?.reason).toBe('Refused');
  });

  it('not between Versions with different execution roles; the message names both', () => {
    const other = 'arn:aws:iam::123456789012:role/checkout-next';
    const p = run(namespacedXR(twoRefs()), { required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { role: other })) });
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5' });
    const msg = cond(p, 'TrafficRouted')?.message ?? '';
    expect(cond(p, 'TrafficRouted')?.reason).toBe('Refused');
    expect(msg).toContain(ROLE);
    expect(msg).toContain(other);
    expect(warnings(p).find((r) => r.reason === 'TrafficRefused')?.message).toContain(other);
  });

  it('not between a Version with a role and one without', () => {
    const p = run(namespacedXR(twoRefs()), { required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { role: null })) });
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
  });

  it('not between Versions with different dead-letter targets; the message names both', () => {
    const other = 'arn:aws:sns:eu-west-1:123456789012:checkout-dlq';
    const p = run(namespacedXR(twoRefs()), { required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { dlq: other })) });
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
    const msg = cond(p, 'TrafficRouted')?.message ?? '';
    expect(msg).toContain(DLQ);
    expect(msg).toContain(other);
    expect(msg).toContain('dead-letter');
  });

  it('not between a Version with a dead-letter target and one without', () => {
    const p = run(namespacedXR(twoRefs()), { required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { dlq: null })) });
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
    expect(cond(p, 'TrafficRouted')?.message).toContain(DLQ);
  });

  it('a refused split keeps a live Alias as it is', () => {
    const p = run(namespacedXR(twoRefs()), {
      required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { role: 'arn:aws:iam::1:role/x' })),
      observed: { alias: observedAlias({ functionVersion: '5' }) },
    });
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '5' });
    expect(warnings(p).some((r) => r.reason === 'TrafficRefused' && r.message.startsWith('keeping alias live'))).toBe(true);
  });

  it('moving all traffic (weight 100) is not a split: roles may differ', () => {
    const p = run(namespacedXR(twoRefs(100)), {
      required: byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6', { role: 'arn:aws:iam::1:role/x' })),
    });
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '6' });
  });

  it('the gate itself refuses $LATEST on either side of a split', () => {
    const lit = (version: string) => ({ display: `version ${version}`, resolution: { kind: 'resolved' as const, version } });
    for (const [stable, canary] of [
      ['$LATEST', '6'],
      ['5', '$LATEST'],
    ] as const) {
      const outcome = gate({ stable: lit(stable), canary: { selector: lit(canary), percent: 10 } });
      expect(outcome.kind, `${stable} -> ${canary}`).toBe('hold');
      if (outcome.kind === 'hold') {
        expect(outcome.reason).toBe('Refused');
        expect(outcome.message).toContain('$LATEST');
      }
    }
    // Without weights, $LATEST is a plain alias target.
    expect(gate({ stable: lit('$LATEST') })).toEqual({ kind: 'route', traffic: { primary: '$LATEST' } });
  });

  it('a rollout whose stable is $LATEST holds the live Alias instead of splitting', () => {
    const spec = {
      function: { name: 'checkout' },
      alias: { name: 'live' },
      rollout: { target: { version: '6' }, strategy: { preset: 'Canary10Percent5Minutes' } },
    };
    const p = run(namespacedXR(spec), { observed: { alias: observedAlias({ functionVersion: '$LATEST' }) } });
    expect(aliasOf(p)?.spec.functionVersion).toBe('$LATEST');
    expect(aliasOf(p)?.spec).not.toHaveProperty('routingConfig');
  });
});

describe('safety rule 3: a Version that still carries traffic is kept', () => {
  const published = (name: string, version: string) => ({
    ...ackVersion(name, { version }),
    metadata: { name, namespace: NS, annotations: { 'services.k8s.aws/region': 'eu-west-1' } },
    spec: { functionName: 'checkout', description: `v${version}` },
  });

  it('removed from spec.versions while the Alias routes to it: still rendered, with a Warning', () => {
    const spec = manualSpec({ stable: { version: '6' }, versions: [{ name: 'checkout-v6' }] });
    const p = run(namespacedXR(spec), {
      observed: {
        alias: observedAlias({ functionVersion: '5' }),
        'version-checkout-v5': published('checkout-v5', '5'),
        'version-checkout-v6': published('checkout-v6', '6'),
      },
    });
    expect(p.desired['version-checkout-v5']?.resource).toEqual({
      apiVersion: ACK,
      kind: 'Version',
      metadata: { name: 'checkout-v5', namespace: NS, annotations: { 'services.k8s.aws/region': 'eu-west-1' } },
      spec: { functionName: 'checkout', description: 'v5' },
    });
    expect(warnings(p).some((r) => r.reason === 'VersionRetained' && r.message.includes('checkout-v5') && r.message.includes('version 5'))).toBe(true);
    // The Alias moves to 6 meanwhile.
    expect(aliasOf(p)?.spec.functionVersion).toBe('6');
  });

  it('also when it is only the additional (canary) version of the live Alias', () => {
    const p = run(namespacedXR(manualSpec()), {
      observed: { alias: observedAlias({ functionVersion: '5', weights: { '7': 0.1 } }), 'version-checkout-v7': published('checkout-v7', '7') },
    });
    expect(p.desired['version-checkout-v7']).toBeDefined();
  });

  it('also while a held Alias still routes to it', () => {
    const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v8') })), {
      observed: { alias: observedAlias({ functionVersion: '7' }), 'version-checkout-v7': published('checkout-v7', '7') },
    });
    expect(aliasOf(p)?.spec.functionVersion).toBe('7');
    expect(p.desired['version-checkout-v7']).toBeDefined();
  });

  it('removed and unused: not rendered (Crossplane deletes it)', () => {
    const p = run(namespacedXR(manualSpec({ stable: { version: '6' } })), {
      observed: { alias: observedAlias({ functionVersion: '6' }), 'version-checkout-v5': published('checkout-v5', '5') },
    });
    expect(p.desired['version-checkout-v5']).toBeUndefined();
    expect(p.results.some((r) => r.reason === 'VersionRetained')).toBe(false);
  });
});

describe('ending a split (server-side apply: the zero-weight entry)', () => {
  // Crossplane applies the Alias with server-side apply: once our field manager
  // owned a key, {} is stored as null and ACK v1.14.1's CRD rejects the object,
  // and leaving routingConfig out lets ACK keep the split. So a split ends with
  // exactly one entry at weight 0 (README "How a split ends").
  type Case = [
    what: string,
    spec: Record<string, unknown>,
    observed: { functionVersion: string; weights?: Record<string, number> },
    functionVersion: string,
    routingConfig: unknown,
  ];
  it.each<Case>([
    ['manual: canary removed after 10%', manualSpec(), { functionVersion: '5', weights: { '6': 0.1 } }, '5', { additionalVersionWeights: { '6': 0 } }],
    [
      'manual: canary weight 0 after 10%',
      manualSpec({ canary: { version: '6', weight: 0 } }),
      { functionVersion: '5', weights: { '6': 0.1 } },
      '5',
      { additionalVersionWeights: { '6': 0 } },
    ],
    [
      'manual: canary weight 100 (promotion by hand)',
      manualSpec({ canary: { version: '6', weight: 100 } }),
      { functionVersion: '5', weights: { '6': 0.1 } },
      '6',
      { additionalVersionWeights: { '5': 0 } },
    ],
    [
      'manual: stable moved to the canary after 50%',
      manualSpec({ stable: { version: '6' } }),
      { functionVersion: '5', weights: { '6': 0.5 } },
      '6',
      { additionalVersionWeights: { '5': 0 } },
    ],
    [
      'manual: stable moved to a third version',
      manualSpec({ stable: { version: '7' } }),
      { functionVersion: '5', weights: { '6': 0.5 } },
      '7',
      { additionalVersionWeights: { '6': 0 } },
    ],
    [
      'steady state with an entry: unchanged, byte for byte',
      manualSpec({ stable: { version: '6' } }),
      { functionVersion: '6', weights: { '5': 0 } },
      '6',
      { additionalVersionWeights: { '5': 0 } },
    ],
    [
      'a move with an entry kept: the entry stays as it is',
      manualSpec({ stable: { version: '7' } }),
      { functionVersion: '6', weights: { '5': 0 } },
      '7',
      { additionalVersionWeights: { '5': 0 } },
    ],
    [
      "a move back onto the entry's version: the old primary takes its place",
      manualSpec({ stable: { version: '5' } }),
      { functionVersion: '6', weights: { '5': 0 } },
      '5',
      { additionalVersionWeights: { '6': 0 } },
    ],
    [
      'the next split replaces the entry (exactly one key)',
      manualSpec({ stable: { version: '6' }, canary: { version: '7', weight: 10 } }),
      { functionVersion: '6', weights: { '5': 0 } },
      '6',
      { additionalVersionWeights: { '7': 0.1 } },
    ],
    ['an empty map (accepted before) stays empty', manualSpec(), { functionVersion: '5', weights: {} }, '5', { additionalVersionWeights: {} }],
    ['never routed: no routingConfig at all', manualSpec({ stable: { version: '6' } }), { functionVersion: '5' }, '6', undefined],
  ])('%s', (_what, spec, observed, functionVersion, routingConfig) => {
    const before = observedAlias(observed);
    const p = run(namespacedXR(spec), { observed: { alias: before } });
    expect(p.fatal).toBeUndefined();
    expect(warnings(p).filter((r) => r.reason === 'TrafficRefused')).toEqual([]);
    expect(aliasOf(p)?.spec.functionVersion).toBe(functionVersion);
    expect(aliasOf(p)?.spec.routingConfig).toEqual(routingConfig);
    // Steady: nothing to apply, and ready once ACK reports synced.
    if (
      functionVersion === observed.functionVersion &&
      JSON.stringify(routingConfig) === JSON.stringify((before.spec as Record<string, unknown>).routingConfig ?? undefined) &&
      routingConfig !== undefined
    ) {
      expect(JSON.stringify(aliasOf(p)?.spec)).toBe(JSON.stringify(before.spec));
      expect(p.desired['alias']?.ready).toBe(true);
    }
  });

  it('a zero-weight entry is no split: the Alias is ready and TrafficRouted once ACK is synced', () => {
    const p = run(namespacedXR(manualSpec({ stable: { version: '6' } })), {
      observed: { alias: observedAlias({ functionVersion: '6', weights: { '5': 0 } }) },
    });
    expect(p.desired['alias']?.ready).toBe(true);
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'True', reason: 'Routed', message: 'alias live: 100% to version 6' });
    expect(p.status?.canaryWeight).toBe(0);
    expect(p.results.some((r) => r.reason === 'TrafficChanged' || r.reason === 'ZeroWeightEntry')).toBe(false);
  });

  it('ending a split says why the entry is there (Normal ZeroWeightEntry), once', () => {
    const p = run(namespacedXR(manualSpec({ stable: { version: '6' } })), {
      observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 } }) },
    });
    const r = p.results.find((x) => x.reason === 'ZeroWeightEntry');
    expect(r?.severity).toBe('Normal');
    expect(r?.message).toContain('keeps version 5 at weight 0 in spec.routingConfig.additionalVersionWeights');
    expect(r?.message).toContain("next rollout's first step replaces the entry");
    expect(p.desired['alias']?.ready).toBe(false);
  });

  it('a hold re-renders the zero-weight entry as observed, not dropping it', () => {
    // The canary does not resolve: the live Alias (6, {"5": 0}) is held as it is.
    const p = run(namespacedXR(manualSpec({ stable: { version: '6' }, canary: { ...ref('checkout-v7'), weight: 10 } })), {
      observed: { alias: observedAlias({ functionVersion: '6', weights: { '5': 0 } }) },
      required: notFound([NS, 'checkout-v7']),
    });
    expect(warnings(p).some((r) => r.reason === 'VersionUnresolved')).toBe(true);
    expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '6', routingConfig: { additionalVersionWeights: { '5': 0 } } });
    expect(Object.keys((aliasOf(p)?.spec.routingConfig as any).additionalVersionWeights)).toEqual(['5']);
  });

  describe('$LATEST', () => {
    it('refuses to move an Alias that has had routing to $LATEST, and holds it', () => {
      const p = run(namespacedXR(manualSpec({ stable: { version: '$LATEST' } })), {
        observed: { alias: observedAlias({ functionVersion: '6', weights: { '5': 0 } }) },
      });
      const w = warnings(p).find((r) => r.reason === 'TrafficRefused');
      expect(w?.message).toContain('keeping alias live: 100% to version 6 unchanged');
      expect(w?.message).toContain('cannot move the alias to $LATEST');
      expect(w?.message).toContain('spec.routingConfig.additionalVersionWeights');
      expect(w?.message).toContain('server-side apply');
      expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '6', routingConfig: { additionalVersionWeights: { '5': 0 } } });
      expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Refused' });
    });

    it('also straight after a split: the split is held, not half-ended', () => {
      const p = run(namespacedXR(manualSpec({ stable: { version: '$LATEST' } })), {
        observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.1 } }) },
      });
      expect(warnings(p).some((r) => r.reason === 'TrafficRefused' && r.message.includes('$LATEST'))).toBe(true);
      expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } });
    });

    it.each<[string, Record<string, number> | undefined, unknown]>([
      ['never routed', undefined, undefined],
      ['an empty map', {}, { additionalVersionWeights: {} }],
    ])('moves to $LATEST when the Alias has %s', (_what, weights, routingConfig) => {
      const p = run(namespacedXR(manualSpec({ stable: { version: '$LATEST' } })), {
        observed: { alias: observedAlias({ functionVersion: '6', ...(weights !== undefined ? { weights } : {}) }) },
      });
      expect(warnings(p)).toEqual([]);
      expect(aliasOf(p)?.spec.functionVersion).toBe('$LATEST');
      expect(aliasOf(p)?.spec.routingConfig).toEqual(routingConfig);
    });
  });

  it('no other version to name: holds the Alias (its map as it is) with a Warning naming the field', () => {
    // Only a hand-edited Alias gets here: its map names only the version all traffic is to move to.
    const p = run(namespacedXR(manualSpec({ stable: { version: '6' } })), {
      observed: { alias: observedAlias({ functionVersion: '6', weights: { '6': 0 } }) },
    });
    const w = warnings(p).find((r) => r.reason === 'TrafficRefused');
    expect(w?.message).toContain('spec.routingConfig.additionalVersionWeights names "6" and no other version number');
    expect(w?.message).toContain('kubectl patch');
    expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '6', routingConfig: { additionalVersionWeights: { '6': 0 } } });
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Refused' });
  });

  describe('retention: a Version the zero-weight entry names is kept', () => {
    const published = (name: string, version: string) => ({ ...ackVersion(name, { version }), spec: { functionName: 'checkout' } });
    it('kept while named, with a Warning that says why and when it is released', () => {
      // Version 5 left spec.versions after the promotion; the Alias names it at weight 0.
      const p = run(namespacedXR(manualSpec({ stable: { version: '6' }, versions: [{ name: 'checkout-v6' }] })), {
        observed: {
          alias: observedAlias({ functionVersion: '6', weights: { '5': 0 } }),
          'version-checkout-v5': published('checkout-v5', '5'),
          'version-checkout-v6': published('checkout-v6', '6'),
        },
      });
      expect(p.desired['version-checkout-v5']).toBeDefined();
      const w = warnings(p).find((r) => r.reason === 'VersionRetained');
      expect(w?.message).toContain('keeping ACK Version checkout-v5 (version 5) although it left spec.versions');
      expect(w?.message).toContain('at weight 0');
      expect(w?.message).toContain("released when the next rollout's first step replaces that entry");
      expect(w?.message).not.toContain('routes traffic');
    });

    it('kept on the promotion that creates the entry', () => {
      const p = run(namespacedXR(manualSpec({ stable: { version: '6' }, versions: [{ name: 'checkout-v6' }] })), {
        observed: {
          alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 } }),
          'version-checkout-v5': published('checkout-v5', '5'),
          'version-checkout-v6': published('checkout-v6', '6'),
        },
      });
      expect(aliasOf(p)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '5': 0 } });
      expect(p.desired['version-checkout-v5']).toBeDefined();
    });

    it('while the next split replaces the entry, kept until ACK has applied it; then released', () => {
      const spec = manualSpec({ stable: { version: '6' }, canary: { version: '7', weight: 10 }, versions: [{ name: 'checkout-v6' }, { name: 'checkout-v7' }] });
      const versions = {
        'version-checkout-v6': published('checkout-v6', '6'),
        'version-checkout-v7': published('checkout-v7', '7'),
        'version-checkout-v5': published('checkout-v5', '5'),
      };
      const replacing = run(namespacedXR(spec), { observed: { alias: observedAlias({ functionVersion: '6', weights: { '5': 0 } }), ...versions } });
      expect(aliasOf(replacing)?.spec.routingConfig).toEqual({ additionalVersionWeights: { '7': 0.1 } });
      expect(replacing.desired['version-checkout-v5']).toBeDefined();
      expect(warnings(replacing).find((r) => r.reason === 'VersionRetained')?.message).toContain('until ACK applies the new routing');
      const replaced = run(namespacedXR(spec), { observed: { alias: observedAlias({ functionVersion: '6', weights: { '7': 0.1 } }), ...versions } });
      expect(replaced.desired['version-checkout-v5']).toBeUndefined();
    });
  });
});

describe('readiness', () => {
  it('a Version is ready iff it resolved', () => {
    const spec = manualSpec({ versions: [{ name: 'checkout-v6' }, { name: 'checkout-v7' }, { name: 'checkout-v8' }] });
    const p = run(namespacedXR(spec), {
      observed: {
        'version-checkout-v6': ackVersion('checkout-v6'),
        'version-checkout-v7': ackVersion('checkout-v7', { version: '7', synced: 'False' }),
      },
    });
    expect(p.desired['version-checkout-v6']?.ready).toBe(true);
    expect(p.desired['version-checkout-v7']?.ready).toBe(false);
    expect(p.desired['version-checkout-v8']?.ready).toBe(false);
  });

  it('a Version is judged by its own status, not by a same-named Version referenced in another namespace', () => {
    const spec = manualSpec({ canary: { ...ref('checkout-v6', OTHER_NS), weight: 10 }, versions: [{ name: 'checkout-v6' }] });
    const p = run(namespacedXR(spec), { required: byName(ackVersion('checkout-v6', { namespace: OTHER_NS })) });
    expect(p.status?.canary?.version).toBe('6');
    expect(p.desired['version-checkout-v6']?.ready).toBe(false);
  });

  it('an observed composed object of another API group is not taken for our Version', () => {
    const p = run(namespacedXR(manualSpec({ canary: { ...ref('checkout-v6'), weight: 10 }, versions: [{ name: 'checkout-v6' }] })), {
      observed: { 'version-checkout-v6': { ...ackVersion('checkout-v6'), apiVersion: 'lambda.aws.example.io/v1beta1' } },
    });
    expect(p.status?.canary).not.toHaveProperty('version');
    expect(p.desired['version-checkout-v6']?.ready).toBe(false);
  });

  it('a Terminal Version is not ready', () => {
    const p = run(namespacedXR(manualSpec({ versions: [{ name: 'checkout-v6' }] })), {
      observed: { 'version-checkout-v6': ackVersion('checkout-v6', { terminal: 'nope' }) },
    });
    expect(p.desired['version-checkout-v6']?.ready).toBe(false);
  });

  it.each<[string, KubeObject | undefined, boolean, boolean]>([
    ['not observed yet', undefined, false, true],
    ['observed, synced, matching', observedAlias({ functionVersion: '5', weights: { '6': 0.1 } }), true, false],
    ['observed, not synced', observedAlias({ functionVersion: '5', weights: { '6': 0.1 }, synced: 'False' }), false, false],
    ['observed, no synced condition', observedAlias({ functionVersion: '5', weights: { '6': 0.1 }, synced: null }), false, false],
    ['observed, synced, other version', observedAlias({ functionVersion: '4', weights: { '6': 0.1 } }), false, true],
    ['observed, synced, other weight', observedAlias({ functionVersion: '5', weights: { '6': 0.2 } }), false, true],
    ['observed, synced, no routing yet', observedAlias({ functionVersion: '5' }), false, true],
  ])('Alias %s: ready=%s', (_what, alias, ready, changed) => {
    const p = run(namespacedXR(manualSpec({ canary: { version: '6', weight: 10 } })), { observed: alias ? { alias } : {} });
    expect(p.desired['alias']?.ready).toBe(ready);
    expect(cond(p, 'TrafficRouted')).toMatchObject(ready ? { status: 'True', reason: 'Routed' } : { status: 'False', reason: 'Syncing' });
    expect(p.results.some((r) => r.reason === 'TrafficChanged')).toBe(changed);
  });
});

describe('XR status and conditions', () => {
  const spec = manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6'), weight: 12.5 } });
  const required = byName(ackVersion('checkout-v5', { version: '5' }), ackVersion('checkout-v6'));

  it('reports both versions, their weights and the alias ARN', () => {
    const p = run(namespacedXR(spec), { required, observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.125 } }) } });
    expect(p.status).toEqual({
      stable: { name: 'checkout-v5', version: '5', weight: 87.5 },
      canary: { name: 'checkout-v6', version: '6', weight: 12.5 },
      stableVersion: '5',
      canaryVersion: '6',
      canaryWeight: 12.5,
      aliasARN: ALIAS_ARN,
      message: 'alias live: 87.5% to version 5, 12.5% to version 6',
    });
    expect(p.conditions).toEqual([
      { type: 'VersionsResolved', status: 'True', reason: 'Resolved', message: `${NS}/checkout-v5 is version 5, ${NS}/checkout-v6 is version 6` },
      { type: 'TrafficRouted', status: 'True', reason: 'Routed', message: 'alias live: 87.5% to version 5, 12.5% to version 6' },
    ]);
    expect(p.ttlSeconds).toBe(60);
    expect(p.results).toEqual([]);
  });

  it('before ACK synced: TrafficRouted False/Syncing, a TrafficChanged event, no ARN yet', () => {
    const p = run(namespacedXR(spec), { required });
    expect(p.status).not.toHaveProperty('aliasARN');
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Syncing' });
    expect(cond(p, 'TrafficRouted')?.message).toContain('waiting for ACK to sync');
    expect(p.results).toEqual([{ severity: 'Normal', reason: 'TrafficChanged', message: 'routing alias live: 87.5% to version 5, 12.5% to version 6' }]);
    expect(p.ttlSeconds).toBe(15);
  });

  it('weights in status have no float noise (99.99% canary leaves exactly 0.01% on stable)', () => {
    const p = run(namespacedXR(manualSpec({ canary: { version: '6', weight: 99.99 } })));
    expect(p.status?.stable?.weight).toBe(0.01);
    expect(p.status?.canaryWeight).toBe(99.99);
    expect(p.status?.message).toBe('alias live: 0.01% to version 5, 99.99% to version 6');
  });

  it('literal versions have no name; no canary means canaryWeight 0', () => {
    const p = run(namespacedXR(manualSpec()), { observed: { alias: observedAlias({ functionVersion: '5', arn: null }) } });
    expect(p.status).toEqual({
      stable: { version: '5', weight: 100 },
      stableVersion: '5',
      canaryWeight: 0,
      message: 'alias live: 100% to version 5',
    });
  });

  it('weights in status are what is rendered, not what is asked, while held', () => {
    const p = run(namespacedXR(canaryRefSpec(50)), { required: notFound([NS, 'checkout-v6']), observed: { alias: observedAlias({ functionVersion: '5' }) } });
    expect(p.status?.stable).toEqual({ version: '5', weight: 100 });
    expect(p.status?.canary).toEqual({ name: 'checkout-v6', weight: 0 });
    expect(p.status?.canaryWeight).toBe(0);
    expect(p.status?.message).toMatch(/^alias live: 100% to version 5 \(held: canary: ACK Version team-a\/checkout-v6 was not found/);
  });

  it('VersionsResolved prefers a failure over a pending lookup as its reason, and lists every problem', () => {
    const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6'), weight: 10 } })), {
      required: { ...notFound([NS, 'checkout-v5']), ...byName(ackVersion('checkout-v6', { terminal: 'CodeStorageExceeded' })) },
    });
    expect(cond(p, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'VersionFailed' });
    expect(cond(p, 'VersionsResolved')?.message).toContain('checkout-v5 was not found');
    expect(cond(p, 'VersionsResolved')?.message).toContain('CodeStorageExceeded');
  });
});

describe('the ACK CRD check used above', () => {
  const good = () => ({
    apiVersion: ACK,
    kind: 'Alias',
    metadata: { name: 'checkout-live', namespace: NS },
    spec: { name: 'live', functionName: 'checkout', functionVersion: '5', routingConfig: { additionalVersionWeights: { '6': 0.1 } } },
  });

  it('accepts a valid Alias', () => {
    expect(validateAck(good())).toEqual([]);
  });

  it.each<[string, (a: any) => void, string]>([
    ['a missing functionVersion', (a) => delete a.spec.functionVersion, '$.spec.functionVersion: required'],
    ['a missing alias name', (a) => delete a.spec.name, '$.spec.name: required'],
    ['an unknown spec field', (a) => (a.spec.functionVersionRef = { from: { name: 'x' } }), '$.spec.functionVersionRef: unknown field'],
    [
      'an unknown nested field',
      (a) => (a.spec.routingConfig.additionalVersionWeightRefs = []),
      '$.spec.routingConfig.additionalVersionWeightRefs: unknown field',
    ],
    [
      'a weight as a string',
      (a) => (a.spec.routingConfig.additionalVersionWeights['6'] = '0.1'),
      '$.spec.routingConfig.additionalVersionWeights.6: expected number',
    ],
    ['a numeric functionVersion', (a) => (a.spec.functionVersion = 5), '$.spec.functionVersion: expected string'],
    ['an all-digit alias name (AWS pattern)', (a) => (a.spec.name = '123'), '$.spec.name'],
    ['a functionVersion AWS rejects', (a) => (a.spec.functionVersion = 'v5'), '$.spec.functionVersion'],
    ['the wrong group', (a) => (a.apiVersion = 'lambda.aws.upbound.io/v1beta1'), '$.apiVersion'],
  ])('rejects %s', (_what, mutate, says) => {
    const a = good();
    mutate(a);
    expect(validateAck(a).join('\n')).toContain(says);
  });

  it('checks Versions against their own CRD', () => {
    const v = { apiVersion: ACK, kind: 'Version', metadata: { name: 'v6', namespace: NS }, spec: { functionName: 'checkout', codeSHA256: 'abc' } };
    expect(validateAck(v)).toEqual([]);
    expect(validateAck({ ...v, spec: { functionName: 'checkout', sha: 'abc' } }).join()).toContain('$.spec.sha: unknown field');
  });
});

describe('a live Alias whose spec names no readable version is never dropped (issue 10, defect 2)', () => {
  it.each([
    ['an empty functionVersion', ''],
    ['a functionVersion that is no number', 'latest-ish'],
  ])('with %s and an unresolved stable, the observed Alias is rendered exactly as it is, with a Warning', (_what, functionVersion) => {
    const alias = observedAlias({ functionVersion });
    const p = planLambdaCanary(planInput(namespacedXR(manualSpec({ stable: ref('checkout-v5') })), { observed: { alias } }));
    expect(p.fatal).toBeUndefined();
    const rendered = p.desired['alias']?.resource as { spec?: unknown; metadata?: { name?: string } } | undefined;
    expect(rendered, 'the Alias stays in desired state, so Crossplane does not delete it').toBeDefined();
    expect(rendered!.spec).toEqual(alias.spec);
    expect(rendered!.metadata?.name).toBe(alias.metadata?.['name' as never]);
    expect(p.results.filter((r) => r.severity === 'Warning').some((r) => /keeping alias live/.test(r.message))).toBe(true);
  });
});

describe('retention keys on what a resource is (issue 10, defect 11)', () => {
  it('a composed Version whose observed status lost its number is kept while the Alias names a number no other Version accounts for', () => {
    const spec = manualSpec({ versions: [{ name: 'checkout-v6' }], stable: ref('checkout-v6') });
    const observed = {
      'version-checkout-v5': ackVersion('checkout-v5', { version: null }),
      'version-checkout-v6': ackVersion('checkout-v6', { version: '6' }),
      alias: observedAlias({ functionVersion: '5' }),
    };
    const p = planLambdaCanary(planInput(namespacedXR(spec), { observed }));
    expect(p.desired['version-checkout-v5']).toBeDefined();
    expect(p.results.some((r) => r.reason === 'VersionRetained' && r.message.includes('no version number'))).toBe(true);
  });

  it('without such a number it is released as before', () => {
    const spec = manualSpec({ versions: [{ name: 'checkout-v6' }], stable: ref('checkout-v6') });
    const observed = {
      'version-checkout-v5': ackVersion('checkout-v5', { version: null }),
      'version-checkout-v6': ackVersion('checkout-v6', { version: '6' }),
      alias: observedAlias({ functionVersion: '6' }),
    };
    expect(planLambdaCanary(planInput(namespacedXR(spec), { observed })).desired['version-checkout-v5']).toBeUndefined();
  });

  it('another kind under a version-* key is never re-rendered as a Version', () => {
    const spec = manualSpec({ versions: [{ name: 'checkout-v6' }], stable: ref('checkout-v6') });
    const observed = {
      'version-settings': { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: NS }, status: { version: '5' } },
      'version-checkout-v6': ackVersion('checkout-v6', { version: '6' }),
      alias: observedAlias({ functionVersion: '6', weights: { '5': 0.1 } }),
    };
    expect(planLambdaCanary(planInput(namespacedXR(spec), { observed })).desired['version-settings']).toBeUndefined();
  });
});

describe('a hold keeps the observed weights exactly (issue 10, defect 13)', () => {
  it('a held live weight of 0.12345 is re-rendered as 0.12345, not rounded to 0.1235', () => {
    const alias = observedAlias({ functionVersion: '4', weights: { '3': 0.12345 } });
    const p = run(namespacedXR(manualSpec({ stable: ref('checkout-v5') })), { observed: { alias } });
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
    expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '4', routingConfig: { additionalVersionWeights: { '3': 0.12345 } } });
  });
});

describe('manual weight 100 moves the alias wholly to a resolved canary while the stable is missing (issue 10, decision)', () => {
  const spec = () => manualSpec({ stable: ref('checkout-v5'), canary: { ...ref('checkout-v6'), weight: 100 } });

  it('routes wholly to the canary, with no routing', () => {
    const p = run(namespacedXR(spec()), { required: { ...notFound([NS, 'checkout-v5']), ...byName(ackVersion('checkout-v6')) } });
    expect(aliasOf(p)?.spec).toEqual({ name: 'live', functionName: 'checkout', functionVersion: '6' });
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Syncing' });
    expect(cond(p, 'VersionsResolved')?.status).toBe('False');
    expect(p.status?.canaryWeight).toBe(100);
  });

  it('a live split ends with the zero-weight entry', () => {
    const p = run(namespacedXR(spec()), {
      required: { ...notFound([NS, 'checkout-v5']), ...byName(ackVersion('checkout-v6')) },
      observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 } }) },
    });
    expect(aliasOf(p)?.spec).toMatchObject({ functionVersion: '6', routingConfig: { additionalVersionWeights: { '5': 0 } } });
  });

  it('still holds when the canary does not resolve either', () => {
    const p = run(namespacedXR(spec()), {
      required: notFound([NS, 'checkout-v5'], [NS, 'checkout-v6']),
      observed: { alias: observedAlias({ functionVersion: '4' }) },
    });
    expect(aliasOf(p)?.spec.functionVersion).toBe('4');
    expect(cond(p, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'Held' });
  });

  it('the gate: stable unresolved, canary resolved at 100', () => {
    const unresolved = { display: 'team-a/checkout-v5', resolution: { kind: 'pending', reason: 'NotFound', message: 'not found' } } as never;
    const resolved = { display: '6', resolution: { kind: 'resolved', version: '6' } } as never;
    expect(gate({ stable: unresolved, canary: { selector: resolved, percent: 100 } })).toEqual({ kind: 'route', traffic: { primary: '6' } });
    expect(gate({ stable: unresolved, canary: { selector: resolved, percent: 99.99 } }).kind).toBe('hold');
  });
});
