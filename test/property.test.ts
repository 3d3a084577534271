// Property-based tests of the planner through runFunction, over generated
// requests (test/support/arbitraries.ts): valid, near-valid and malformed XRs,
// observed Versions in every ACK state and Aliases with odd routing, required
// and extra resources, earlier steps' desired resources, random capabilities
// and clocks. A fixed seed and 2,000 runs in all keep CI reproducible and
// bounded; `npm run fuzz` runs the same invariants over 100,000+ cases.
//
// Invariants (checkInvariants): runFunction never throws, never modifies its
// request and never hits an internal error; the response encodes; every
// rendered Alias passes the ACK CRD schema; weights are within (0,1), with at
// most one key, never to or from $LATEST, except the one zero-weight entry
// that ends a split: once the observed map has had a version key, the
// rendered map has exactly one, never the primary (README "How a split
// ends"); no traffic goes to a version the
// request does not resolve; an observed live Alias, and a composed Version it
// routes to, is never dropped (on Fatal, desired is exactly the request's);
// earlier steps' desired resources pass through deep-equal; requirements are
// the same for the same request, and do not depend on what was fetched.
import fc from 'fast-check';
import { Severity, type RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { describe, expect, it } from 'vitest';
import { runFunction } from '../function/handler.js';
import {
  checkInvariants,
  describeCase,
  fuzzCaseArb,
  lambdaCanaryCases,
  nearValidSpecArb,
  outcomeOf,
  resolverCaseArb,
  validSpecArb,
  type FuzzCase,
  type Outcome,
} from './support/arbitraries.js';
import { ackVersion, manualSpec, namespacedXR, NOW, observedAlias, ref, request } from './support/fixtures.js';

const SEED = 424242;

function holds(arb: fc.Arbitrary<FuzzCase>, numRuns: number): void {
  fc.assert(
    fc.property(arb, (c) => {
      const violations = checkInvariants(c);
      if (violations.length > 0) throw new Error(`${violations.join('\n')}\ncase: ${describeCase(c, 3000)}`);
    }),
    { seed: SEED, numRuns },
  );
}

describe(`planner properties (fast-check, seed ${SEED}, 2,000 runs in all)`, () => {
  it('hold for mixed requests: valid, near-valid and malformed XRs, resolver mode (1,000 runs)', () => {
    holds(fuzzCaseArb, 1000);
  });

  it('hold for valid specs against every Version state, odd Aliases and lost or garbage status (500 runs)', () => {
    holds(lambdaCanaryCases(validSpecArb), 500);
  });

  it('hold for near-valid specs: wrong types, huge strings, deep nesting, typos, duplicates, bad weights and versions (300 runs)', () => {
    holds(lambdaCanaryCases(nearValidSpecArb), 300);
  });

  it('hold in resolver mode, for Aliases with references from earlier steps (200 runs)', () => {
    holds(resolverCaseArb, 200);
  });

  it('are not vacuous: the generated requests reach every kind of outcome', () => {
    const counts: Record<Outcome, number> = { fatal: 0, split: 0, whole: 0, 'no-alias': 0, resolver: 0 };
    const cases = fc.sample(fuzzCaseArb, { seed: SEED, numRuns: 400 });
    for (const c of cases) counts[outcomeOf(c)]++;
    // Fatal (invalid input), an Alias with a split, an Alias wholly on one
    // version, no Alias yet, resolver mode: each is a real share of the cases.
    expect(counts.fatal).toBeGreaterThanOrEqual(40);
    expect(counts.whole).toBeGreaterThanOrEqual(40);
    expect(counts.split).toBeGreaterThanOrEqual(12);
    expect(counts['no-alias']).toBeGreaterThanOrEqual(8);
    expect(counts.resolver).toBeGreaterThanOrEqual(8);
  });
});

// ---------------------------------------------------------------------------
// The oracle catches broken handlers (so a green property means something).

const LIVE_CASE: FuzzCase = {
  req: request({
    composite: namespacedXR(manualSpec({ versions: [{ name: 'app-v6' }], canary: { ...ref('app-v6'), weight: 10 } })),
    observed: { alias: observedAlias({ functionVersion: '5' }), 'version-app-v6': ackVersion('app-v6', { version: '6' }) },
    desired: { bucket: { apiVersion: 's3.aws.upbound.io/v1beta1', kind: 'Bucket', metadata: { name: 'b' } } },
    required: {},
  }),
  now: NOW,
};

function broken(change: (req: RunFunctionRequest, rsp: RunFunctionResponse) => void): typeof runFunction {
  return (req, opts) => {
    const rsp = runFunction(req, opts);
    change(req, rsp);
    return rsp;
  };
}

describe('the invariant oracle', () => {
  it('accepts the real handler on a canary split', () => {
    expect(outcomeOf(LIVE_CASE)).toBe('split');
    expect(checkInvariants(LIVE_CASE)).toEqual([]);
  });

  const sabotage: [string, typeof runFunction, RegExp][] = [
    [
      'throwing',
      () => {
        throw new Error('boom');
      },
      /threw: Error: boom/,
    ],
    ['dropping the live Alias', broken((_q, r) => void delete r.desired!.resources['alias']), /live Alias was dropped/],
    [
      'routing to an unresolved version',
      broken((_q, r) => void ((r.desired!.resources['alias']!.resource!['spec'] as Record<string, unknown>)['functionVersion'] = '99')),
      /functionVersion "99" is not resolved/,
    ],
    [
      'rendering a weight of 1',
      broken(
        (_q, r) =>
          void ((r.desired!.resources['alias']!.resource!['spec'] as Record<string, unknown>)['routingConfig'] = { additionalVersionWeights: { '6': 1 } }),
      ),
      /not within \(0,1\)/,
    ],
    [
      "changing an earlier step's resource",
      broken((_q, r) => void (r.desired!.resources['bucket'] = { resource: { kind: 'Bucket' }, connectionDetails: {}, ready: 0 })),
      /"bucket" did not pass through/,
    ],
    ['modifying the request', broken((q) => void (q.observed!.composite!.resource!['spec'] = {})), /modified its request/],
    [
      'asking for what was fetched',
      broken(
        (q, r) =>
          void (r.requirements = {
            extraResources: {},
            resources: Object.fromEntries(Object.keys(q.requiredResources).map((k) => [k, { apiVersion: 'v1', kind: 'X' }])),
            schemas: {},
          }),
      ),
      /requirements depend on the required resources/,
    ],
  ];
  // After a split: the zero-weight entry, and the Version it names.
  const ENDED_CASE: FuzzCase = {
    req: request({
      composite: namespacedXR(manualSpec({ stable: { version: '6' } })),
      observed: { alias: observedAlias({ functionVersion: '5', weights: { '6': 0.5 } }), 'version-app-v5': ackVersion('app-v5', { version: '5' }) },
    }),
    now: NOW,
  };
  const setWeights = (weights: unknown) =>
    broken(
      (_q, r) => void ((r.desired!.resources['alias']!.resource!['spec'] as Record<string, unknown>)['routingConfig'] = { additionalVersionWeights: weights }),
    );
  it('accepts the real handler ending a split with the zero-weight entry', () => {
    expect(checkInvariants(ENDED_CASE)).toEqual([]);
  });
  it.each<[string, typeof runFunction, RegExp]>([
    ['ending a split with {}', setWeights({}), /can never be emptied/],
    [
      'ending a split by leaving routingConfig out',
      broken((_q, r) => void delete (r.desired!.resources['alias']!.resource!['spec'] as Record<string, unknown>)['routingConfig']),
      /can never be emptied/,
    ],
    ['naming the new primary at weight 0', setWeights({ '6': 0 }), /functionVersion itself/],
    ['a zero-weight entry for a version the Alias never named', setWeights({ '3': 0 }), /does not name/],
    [
      'dropping the Version the zero-weight entry names',
      broken((_q, r) => void delete r.desired!.resources['version-app-v5']),
      /version-app-v5 \(version 5\) is still named/,
    ],
  ])('flags a handler %s', (_what, run, says) => {
    expect(checkInvariants(structuredClone(ENDED_CASE), { run }).join('\n')).toMatch(says);
  });

  for (const [what, run, says] of sabotage) {
    it(`flags a handler ${what}`, () => {
      const c: FuzzCase =
        what === 'asking for what was fetched' ? { ...LIVE_CASE, req: { ...LIVE_CASE.req, requiredResources: { k: { items: [] } } } } : LIVE_CASE;
      expect(checkInvariants(structuredClone(c), { run }).join('\n')).toMatch(says);
    });
  }
});

// ---------------------------------------------------------------------------
// Counterexamples the fuzzer found, kept as examples (see docs/faults.md).

describe('counterexamples found by fuzzing', () => {
  const unresolvedStable = manualSpec({ stable: ref('app-v9') }); // never fetched: the live Alias is held

  function rendered(c: FuzzCase): Record<string, unknown> {
    const rsp = runFunction(structuredClone(c.req), { now: () => c.now });
    return rsp.desired!.resources['alias']!.resource!['spec'] as Record<string, unknown>;
  }

  it('an observed Alias routing weight Infinity to its own version is held without that routing', () => {
    const c: FuzzCase = {
      req: request({
        composite: namespacedXR(unresolvedStable),
        observed: { alias: observedAlias({ functionVersion: '1', weights: { '1': Number.POSITIVE_INFINITY } }) },
      }),
      now: NOW,
    };
    expect(checkInvariants(c)).toEqual([]);
    expect(rendered(c)).toMatchObject({ functionVersion: '1' });
    // The impossible routing (no API server holds Infinity) is not re-rendered; nothing else is left to hold.
    expect(rendered(c)['routingConfig']).toEqual({ additionalVersionWeights: {} });
  });

  it('an observed Alias on $LATEST with weighted routing is held on $LATEST, its map as it is', () => {
    const c: FuzzCase = {
      req: request({ composite: namespacedXR(unresolvedStable), observed: { alias: observedAlias({ functionVersion: '$LATEST', weights: { '1': 0.0001 } }) } }),
      now: NOW,
    };
    expect(checkInvariants(c)).toEqual([]);
    expect(rendered(c)).toMatchObject({ functionVersion: '$LATEST' });
    // The map is held as it is: under server-side apply {} would be stored as null and rejected,
    // and no zero-weight entry is possible on $LATEST. Re-applying it changes nothing.
    expect(rendered(c)['routingConfig']).toEqual({ additionalVersionWeights: { '1': 0.0001 } });
    const rsp = runFunction(structuredClone(c.req), { now: () => c.now });
    expect(
      rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING && r.message.includes('keeping alias live: 100% to version $LATEST unchanged')),
    ).toBe(true);
  });

  it('an observed Alias whose map names only its own version is held with its map, and says why', () => {
    const c: FuzzCase = {
      req: request({
        composite: namespacedXR(manualSpec({ stable: { version: '3' } })),
        observed: { alias: observedAlias({ functionVersion: '3', weights: { '3': 0 } }) },
      }),
      now: NOW,
    };
    expect(checkInvariants(c)).toEqual([]);
    expect(rendered(c)).toMatchObject({ functionVersion: '3', routingConfig: { additionalVersionWeights: { '3': 0 } } });
  });

  it('an observed Alias with two weighted versions keeps both composed Versions', () => {
    const spec = manualSpec({ stable: ref('app-v9') });
    const c: FuzzCase = {
      req: request({
        composite: namespacedXR(spec),
        observed: {
          alias: observedAlias({ functionVersion: '5', weights: { '6': 0.1, '7': 0.2 } }),
          'version-app-v6': ackVersion('app-v6', { version: '6' }),
          'version-app-v7': ackVersion('app-v7', { version: '7' }),
        },
      }),
      now: NOW,
    };
    expect(checkInvariants(c)).toEqual([]);
    const rsp = runFunction(structuredClone(c.req), { now: () => c.now });
    expect(Object.keys(rsp.desired!.resources).sort()).toEqual(['alias', 'version-app-v6', 'version-app-v7']);
  });

  it('a corrupted status.rollout.stableVersion ("") never becomes the Alias functionVersion', () => {
    const spec = { function: { name: 'checkout' }, alias: { name: 'live' }, rollout: { target: { version: '7' }, strategy: { steps: [{ weight: 0 }] } } };
    for (const stableVersion of ['', 'v5', '../x', '5 ']) {
      const c: FuzzCase = { req: request({ composite: namespacedXR(spec, { status: { rollout: { stableVersion } } }) }), now: NOW };
      expect(checkInvariants(c)).toEqual([]);
      expect(rendered(c)['functionVersion']).toBe('7'); // no Alias and no trustworthy state: a first deployment
    }
  });

  it('a corrupted status with a live Alias and no record on it: the Alias is held as it is, never moved by the status', () => {
    const spec = {
      function: { name: 'checkout' },
      alias: { name: 'live' },
      rollout: { target: { version: '7' }, strategy: { preset: 'Canary10Percent5Minutes' } },
    };
    const c: FuzzCase = {
      req: request({
        composite: namespacedXR(spec, { status: { rollout: { phase: 'Progressing', stableVersion: 'garbage', step: 1, weight: 10 } } }),
        observed: { alias: observedAlias({ functionVersion: '5' }) },
      }),
      now: NOW,
    };
    expect(checkInvariants(c)).toEqual([]);
    expect(rendered(c)).toMatchObject({ functionVersion: '5' });
    expect(rendered(c)).not.toHaveProperty('routingConfig');
  });
});

describe('counterexamples found by fuzzing: the function name', () => {
  for (const name of [' ', '\u0000', 'orders api', 'orders/api', 'arn:aws:s3:::bucket']) {
    it(`spec.function.name ${JSON.stringify(name)} is a Fatal naming the field, not an Alias ACK cannot apply`, () => {
      const c: FuzzCase = { req: request({ composite: namespacedXR(manualSpec({ function: { name } })) }), now: NOW };
      expect(checkInvariants(c)).toEqual([]);
      const rsp = runFunction(structuredClone(c.req), { now: () => c.now });
      expect(rsp.results).toHaveLength(1);
      expect(rsp.results[0]?.message).toMatch(/spec\.function\.name: .* is not a Lambda function name or ARN/);
      expect(rsp.desired?.resources).toEqual({});
    });
  }
});
