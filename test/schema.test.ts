// Invalid LambdaCanary specs: the planner refuses them with one Fatal message
// that names the field (as a path from spec) and says how to fix it, and
// renders nothing. Valid specs next to each invalid one prove the check is
// about the broken rule and not a blanket refusal.
import { describe, expect, it } from 'vitest';
import { planLambdaCanary } from '../function/core/canary-planner.js';
import { LAMBDA_CANARY_SPEC_FIELDS, lambdaCanarySpecSchema } from '../function/api/schema.js';
import { CROSSPLANE_SPEC_FIELDS, editDistance, nearMiss } from '../function/api/unknown-fields.js';
import { claimXR, manualSpec, namespacedXR, planInput, ref } from './support/fixtures.js';

function fatalOf(spec: unknown): string | undefined {
  return planLambdaCanary(planInput(namespacedXR(spec))).fatal;
}

interface Case {
  what: string;
  spec: unknown;
  /** Every fragment must appear in the Fatal message. */
  says: (string | RegExp)[];
}

const invalid: Case[] = [
  {
    what: 'both function.name and function.ref',
    spec: manualSpec({ function: { name: 'checkout', ref: { from: { name: 'checkout' } } } }),
    says: ['spec.function', 'set exactly one of name or ref'],
  },
  {
    what: 'neither function.name nor function.ref',
    spec: manualSpec({ function: {} }),
    says: ['spec.function', 'set exactly one of name or ref'],
  },
  {
    what: 'an all-digit alias name',
    spec: manualSpec({ alias: { name: '123' } }),
    says: ['spec.alias.name', 'not all digits'],
  },
  {
    what: 'an alias name with a character Lambda rejects',
    spec: manualSpec({ alias: { name: 'live.eu' } }),
    says: ['spec.alias.name', 'letters, digits, "-" or "_"'],
  },
  {
    what: 'canary weight with three decimals (10.001)',
    spec: manualSpec({ canary: { version: '6', weight: 10.001 } }),
    says: ['spec.canary.weight', 'at most two decimals'],
  },
  // Issue 10, defect 13: validation gaps.
  {
    what: 'canary weight 99.9999999999 (would be rendered as 100)',
    spec: manualSpec({ canary: { version: '6', weight: 99.9999999999 } }),
    says: ['spec.canary.weight', 'at most two decimals'],
  },
  {
    what: 'canary weight 1e-10 (would be rendered as no routing)',
    spec: manualSpec({ canary: { version: '6', weight: 1e-10 } }),
    says: ['spec.canary.weight', 'at most two decimals'],
  },
  {
    what: 'a literal version with a leading zero ("041")',
    spec: manualSpec({ stable: { version: '041' } }),
    says: ['spec.stable.version', 'without leading zeros'],
  },
  {
    what: 'a reference namespace that is no namespace name ("a.b")',
    spec: manualSpec({ canary: { versionRef: { from: { name: 'checkout-v6', namespace: 'a.b' } }, weight: 10 } }),
    says: ['spec.canary.versionRef.from.namespace', 'namespace name'],
  },
  {
    what: 'a 100-character function name (Lambda allows 64 for a name)',
    spec: manualSpec({ function: { name: 'f'.repeat(100) } }),
    says: ['spec.function.name', '64'],
  },
  // Issue 10, defect 8: a pause no clock can reach.
  {
    what: 'a pause of 99999999999h',
    spec: {
      function: { name: 'checkout' },
      alias: { name: 'live' },
      rollout: { target: { version: '6' }, strategy: { steps: [{ weight: 10, pause: { duration: '99999999999h' } }] } },
    },
    says: ['spec.rollout.strategy.steps[0].pause.duration', 'at most 8760h'],
  },
  {
    what: 'canary weight above 100',
    spec: manualSpec({ canary: { version: '6', weight: 101 } }),
    says: ['spec.canary.weight', '<=100'],
  },
  {
    what: 'negative canary weight',
    spec: manualSpec({ canary: { version: '6', weight: -1 } }),
    says: ['spec.canary.weight', '>=0'],
  },
  {
    what: 'NaN canary weight',
    spec: manualSpec({ canary: { version: '6', weight: Number.NaN } }),
    says: ['spec.canary.weight', 'expected number'],
  },
  {
    what: 'canary weight as a string',
    spec: manualSpec({ canary: { version: '6', weight: '10' } }),
    says: ['spec.canary.weight', 'expected number', 'string'],
  },
  {
    what: 'canary with both version and versionRef',
    spec: manualSpec({ canary: { version: '6', ...ref('checkout-v6'), weight: 10 } }),
    says: ['spec.canary', 'set exactly one of version or versionRef'],
  },
  {
    what: 'stable with both version and versionRef',
    spec: manualSpec({ stable: { version: '5', ...ref('checkout-v5') } }),
    says: ['spec.stable', 'set exactly one of version or versionRef'],
  },
  {
    what: 'a typo in a field name (spec.canary.wieght)',
    spec: manualSpec({ canary: { version: '6', wieght: 10 } }),
    says: ['spec.canary', 'unknown field(s) "wieght"', 'remove', 'spec.canary.weight: is required'],
  },
  {
    what: 'a typo in a nested reference (versionRef.form)',
    spec: manualSpec({ canary: { versionRef: { form: { name: 'checkout-v6' } }, weight: 10 } }),
    says: ['spec.canary.versionRef', '"form"'],
  },
  {
    what: 'rollout together with stable',
    spec: manualSpec({ rollout: { target: { version: '6' }, strategy: { preset: 'AllAtOnce' } } }),
    says: ['spec.rollout', 'not both'],
  },
  {
    what: 'neither stable nor rollout',
    spec: { function: { name: 'checkout' }, alias: { name: 'live' } },
    says: ['spec.stable', 'is required in manual mode', 'rollout'],
  },
  {
    what: '$LATEST canary with a weight',
    spec: manualSpec({ canary: { version: '$LATEST', weight: 10 } }),
    says: ['spec.canary.version', '$LATEST', 'publish a version'],
  },
  {
    what: '$LATEST stable under a weighted canary',
    spec: manualSpec({ stable: { version: '$LATEST' }, canary: { version: '6', weight: 10 } }),
    says: ['spec.stable.version', '$LATEST', 'publish a version'],
  },
  {
    what: 'canary literal equal to the stable literal under a split',
    spec: manualSpec({ canary: { version: '5', weight: 10 } }),
    says: ['spec.canary.version', 'stable version 5', 'different version'],
  },
  {
    what: 'a rollout to $LATEST',
    spec: { function: { name: 'checkout' }, alias: { name: 'live' }, rollout: { target: { version: '$LATEST' }, strategy: { preset: 'AllAtOnce' } } },
    says: ['spec.rollout.target.version', '$LATEST'],
  },
  {
    what: 'duplicate spec.versions names',
    spec: manualSpec({ versions: [{ name: 'checkout-v6' }, { name: 'checkout-v7' }, { name: 'checkout-v6' }] }),
    says: ['spec.versions[2].name', 'duplicates "checkout-v6"', 'unique'],
  },
  {
    what: 'a spec.versions name that is not a Kubernetes name',
    spec: manualSpec({ versions: [{ name: 'Checkout_V6' }] }),
    says: ['spec.versions[0].name', 'Kubernetes object name'],
  },
  {
    what: 'a version that is not a number',
    spec: manualSpec({ stable: { version: 'v5' } }),
    says: ['spec.stable.version', 'published version number'],
  },
  {
    what: 'a spec that is not an object',
    spec: 42,
    says: [/^invalid LambdaCanary checkout-live: spec: .*expected object/],
  },
  // Issue 10, decision A: a near miss of one of our top-level fields is a typo,
  // not a platform team's own field; it would otherwise be ignored silently.
  {
    what: 'a near miss of a top-level field (spec.canery)',
    spec: { ...manualSpec(), canery: { version: '6', weight: 10 } },
    says: ['spec.canery: unknown field; did you mean spec.canary?'],
  },
  {
    what: 'two letters swapped (spec.regoin)',
    spec: { ...manualSpec(), regoin: 'us-east-1' },
    says: ['spec.regoin: unknown field; did you mean spec.region?'],
  },
  {
    what: 'a field of ours in the wrong case (spec.Rollout)',
    spec: { ...manualSpec(), Rollout: { target: { version: '6' }, strategy: { preset: 'AllAtOnce' } } },
    says: ['spec.Rollout: unknown field; did you mean spec.rollout?'],
  },
  {
    what: 'the singular of spec.versions',
    spec: { ...manualSpec(), version: [{ name: 'checkout-v6' }] },
    says: ['spec.version: unknown field; did you mean spec.versions?'],
  },
  {
    what: 'a misspelt stable (the required stable is then missing too)',
    spec: { function: { name: 'checkout' }, alias: { name: 'live' }, stabel: { version: '5' } },
    says: ['spec.stabel: unknown field; did you mean spec.stable?', 'spec.stable: is required in manual mode'],
  },
  {
    what: 'a misspelt alias of five letters (spec.alais)',
    spec: { function: { name: 'checkout' }, alais: { name: 'live' }, stable: { version: '5' } },
    says: ['spec.alais: unknown field; did you mean spec.alias?', 'spec.alias: is required'],
  },
  {
    what: 'a misspelt function (spec.fucntion)',
    spec: { ...manualSpec(), fucntion: { name: 'checkout' } },
    says: ['spec.fucntion: unknown field; did you mean spec.function?'],
  },
  {
    what: 'a missing alias',
    spec: { function: { name: 'checkout' }, stable: { version: '5' } },
    says: ['spec.alias: is required'],
  },
];

describe('invalid LambdaCanary specs are Fatal with the field and the fix', () => {
  it.each(invalid)('$what', ({ spec, says }) => {
    const plan = planLambdaCanary(planInput(namespacedXR(spec)));
    expect(plan.fatal, 'expected a Fatal plan').toBeDefined();
    expect(plan.fatalReason).toBe('InvalidSpec');
    for (const s of says) {
      if (typeof s === 'string') expect(plan.fatal).toContain(s);
      else expect(plan.fatal).toMatch(s);
    }
    // Nothing is rendered or required for a spec that cannot be acted on.
    expect(plan.desired).toEqual({});
    expect(plan.requirements).toEqual({});
    expect(plan.status).toBeUndefined();
  });

  it('names the XR in the message', () => {
    expect(fatalOf(manualSpec({ alias: { name: '123' } }))).toMatch(/^invalid LambdaCanary checkout-live: /);
  });

  it('says "is required" only for fields that are missing, not for ones of the wrong type', () => {
    expect(fatalOf(manualSpec({ canary: { version: '6', weight: Number.NaN } }))).not.toContain('is required');
    expect(fatalOf(manualSpec({ canary: { version: '6', weight: '10' } }))).not.toContain('is required');
    expect(fatalOf(manualSpec({ canary: { version: '6' } }))).toContain('spec.canary.weight: is required');
    expect(fatalOf(42)).not.toContain('is required');
  });

  it('reports every problem, not only the first', () => {
    const fatal = fatalOf(manualSpec({ alias: { name: '123' }, canary: { version: '6', weight: 101 } }));
    expect(fatal).toContain('spec.alias.name');
    expect(fatal).toContain('spec.canary.weight');
  });
});

describe('valid specs next to the invalid ones are accepted', () => {
  const valid: [string, unknown][] = [
    ['function.name only', manualSpec()],
    ['function.ref only', manualSpec({ function: { ref: { from: { name: 'checkout', namespace: 'fns' } } } })],
    ['alias name with digits and letters', manualSpec({ alias: { name: '1a' } })],
    ['alias name with - and _', manualSpec({ alias: { name: 'live_2-eu' } })],
    ['canary weight 0', manualSpec({ canary: { version: '6', weight: 0 } })],
    ['canary weight 100', manualSpec({ canary: { version: '6', weight: 100 } })],
    ['canary weight 33.33', manualSpec({ canary: { version: '6', weight: 33.33 } })],
    ['canary weight 0.01', manualSpec({ canary: { version: '6', weight: 0.01 } })],
    ['canary weight 99.99', manualSpec({ canary: { version: '6', weight: 99.99 } })],
    ['a function ARN of 140 characters', manualSpec({ function: { name: `arn:aws:lambda:us-east-1:123456789012:function:${'f'.repeat(64)}` } })],
    ['a function name of 64 characters', manualSpec({ function: { name: 'f'.repeat(64) } })],
    [
      'a pause of 8760h',
      {
        function: { name: 'checkout' },
        alias: { name: 'live' },
        rollout: { target: { version: '6' }, strategy: { steps: [{ weight: 10, pause: { duration: '8760h' } }] } },
      },
    ],
    ['version "10" (zeros inside a number)', manualSpec({ stable: { version: '10' } })],
    ['$LATEST canary at weight 0', manualSpec({ canary: { version: '$LATEST', weight: 0 } })],
    ['$LATEST canary at weight 100 (no split)', manualSpec({ canary: { version: '$LATEST', weight: 100 } })],
    ['$LATEST stable without canary', manualSpec({ stable: { version: '$LATEST' } })],
    ['canary versionRef', manualSpec({ canary: { ...ref('checkout-v6'), weight: 10 } })],
    [
      'distinct spec.versions',
      manualSpec({ versions: [{ name: 'checkout-v6' }, { name: 'checkout-v7', codeSHA256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=' }] }),
    ],
    ['rollout alone', { function: { name: 'checkout' }, alias: { name: 'live' }, rollout: { target: { version: '6' }, strategy: { preset: 'AllAtOnce' } } }],
    // Crossplane writes its own fields into an XR's spec; they are not typos.
    ['Crossplane v1 fields in spec', manualSpec({ compositionRef: { name: 'c' }, claimRef: { name: 'x' }, resourceRefs: [] })],
    ['Crossplane v2 fields in spec', manualSpec({ crossplane: { compositionRef: { name: 'c' } } })],
    [
      'every field Crossplane v1 or v2 writes into an XR spec',
      manualSpec({
        crossplane: { compositionRef: { name: 'c' }, compositionUpdatePolicy: 'Automatic', resourceRefs: [] },
        compositionRef: { name: 'c' },
        compositionSelector: { matchLabels: { a: 'b' } },
        compositionRevisionRef: { name: 'c-1' },
        compositionRevisionSelector: { matchLabels: { a: 'b' } },
        compositionUpdatePolicy: 'Manual',
        resourceRefs: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }],
        claimRef: { apiVersion: 'a/v1', kind: 'LambdaCanary', namespace: 'team-a', name: 'x' },
        writeConnectionSecretToRef: { name: 's', namespace: 'team-a' },
        publishConnectionDetailsTo: { name: 's' },
        environmentConfigRefs: [],
      }),
    ],
    // A platform team's own fields in its own XRD are theirs: not near misses of ours.
    [
      "a platform team's own fields",
      manualSpec({ team: 'payments', costCenter: 'cc-1', owner: 'a', stage: 'prod', state: 'x', tier: 1, canaryAnalysis: { enabled: true } }),
    ],
  ];
  it.each(valid)('%s', (_what, spec) => {
    expect(fatalOf(spec)).toBeUndefined();
    expect(lambdaCanarySpecSchema.safeParse(spec).success).toBe(true);
  });
});

describe('the XR must say where its objects go', () => {
  it('a cluster-scoped XR without a claim namespace is Fatal and says how to fix it', () => {
    const plan = planLambdaCanary(planInput(claimXR(manualSpec(), { claimNamespace: null })));
    expect(plan.fatal).toContain('crossplane.io/claim-namespace');
    expect(plan.fatalReason).toBe('NoNamespace');
    expect(plan.fatal).toMatch(/claim/);
    expect(plan.fatal).toContain('namespaced LambdaCanary');
    expect(plan.desired).toEqual({});
  });

  it('a cluster-scoped XR with a claim namespace is fine', () => {
    expect(planLambdaCanary(planInput(claimXR(manualSpec()))).fatal).toBeUndefined();
  });
});

describe('near misses (issue 10, decision A)', () => {
  it.each<[string, string | undefined]>([
    ['canery', 'canary'],
    ['regoin', 'region'],
    ['CANARY', 'canary'],
    ['rolout', 'rollout'],
    ['verions', 'versions'],
    ['stabel', 'stable'],
    ['alais', 'alias'],
    // Five letters or fewer: one edit only, so these stay a platform team's.
    ['stage', undefined],
    ['state', undefined],
    ['team', undefined],
    ['canaryAnalysis', undefined],
    ['canary', undefined],
  ])('%s -> %s', (field, meant) => {
    expect(nearMiss(field, LAMBDA_CANARY_SPEC_FIELDS)).toBe(meant);
  });

  it('counts a swap of two neighbours as one edit', () => {
    expect(editDistance('regoin', 'region')).toBe(1);
    expect(editDistance('canery', 'canary')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('stage', 'stable')).toBe(2);
  });

  it('no field Crossplane writes is a near miss of ours (they would be refused otherwise)', () => {
    for (const f of CROSSPLANE_SPEC_FIELDS) expect(nearMiss(f, LAMBDA_CANARY_SPEC_FIELDS), f).toBeUndefined();
  });
});
