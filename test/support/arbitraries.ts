// Generated RunFunctionRequests for property-based testing of the planner
// (test/property.test.ts in CI, bench/fuzz.ts for long runs), and the
// invariants every response must satisfy, checked by an oracle written from
// the README's rules rather than from the implementation.
//
// The generator mixes valid, near-valid (one to three targeted corruptions of
// a valid spec) and malformed requests, observed ACK Versions in every state
// ACK reports (and garbage), Aliases with odd routing maps, required and extra
// resources (including same-named Versions in another namespace), earlier
// pipeline steps' desired resources, random capabilities, inputs and clocks.
import fc from 'fast-check';
import { Capability, RunFunctionRequest, RunFunctionResponse, Severity } from '@crossplane-org/function-sdk-typescript';
import { REQUEST_PROJECTION } from '../../function/server/request-projection.js';
import { isRecord } from '../../function/core/k8s.js';
import { runFunction as realRunFunction } from '../../function/handler.js';
import { decodeRunFunctionRequest } from '../../function/wire/request.js';
import { encodeRunFunctionResponse } from '../../function/wire/response.js';
import { ROLLOUT_PRESETS, phaseValues } from '../../function/api/schema.js';
import { ackSchema, validate, validateAck, type JsonSchema } from './ack-schema.js';

type Obj = Record<string, unknown>;

export const ACK_API = 'lambda.services.k8s.aws/v1alpha1';
export const TARGET_NS = 'team-a';
export const OTHER_NS = 'team-b';
const BASE_TIME = Date.parse('2026-01-01T00:00:00Z');

/** One generated call: the request and the clock the handler sees. */
export interface FuzzCase {
  req: RunFunctionRequest;
  now: Date;
}

// ---------------------------------------------------------------------------
// Building blocks

const VERSION_NAMES = ['app-v1', 'app-v2', 'app-v3', 'shared-v9'] as const;
const NUMBERS = ['1', '2', '3', '4', '5', '6', '7'] as const;
const ROLES = ['arn:aws:iam::123456789012:role/app', 'arn:aws:iam::123456789012:role/other'] as const;
const DLQS = ['arn:aws:sqs:eu-west-1:123456789012:dlq', 'arn:aws:sqs:eu-west-1:123456789012:other-dlq'] as const;
/** Keys that break naive code: prototype names, empty, odd characters. */
const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '', ' ', 'a.b', '$LATEST', '💥'] as const;

const numberArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...NUMBERS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('$LATEST', '0', '007', 'v5', '5.0', '', ' 5', '-1', '1e3', '$LATEST.PUBLISHED', '99999999999999999999999'),
  },
);
const nsArb = fc.constantFrom(TARGET_NS, TARGET_NS, OTHER_NS);
const versionNameArb = fc.constantFrom(...VERSION_NAMES);

/** An object with own properties under any key, including "__proto__". */
function ownObject(entries: [string, unknown][]): Obj {
  const o: Obj = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

function nest(depth: number, leaf: unknown, asArray: boolean): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

const hugeStringArb = fc.oneof(
  fc.nat({ max: 3 }).map((i) => ['x', 'é', '9', '\u0000'][i]!.repeat(100_000)),
  fc.constant('a'.repeat(4096)),
);

/** Adversarial values: wrong types, non-finite numbers, huge strings, deep nesting, nasty keys. */
export const junkArb: fc.Arbitrary<unknown> = fc.letrec<{ junk: unknown }>((tie) => ({
  junk: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.boolean() },
    { weight: 3, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, -1, 1e308, 5e-324, 100.5, 1.5, 0.1 + 0.2) },
    { weight: 2, arbitrary: fc.double() },
    { weight: 2, arbitrary: fc.integer() },
    { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 2, arbitrary: fc.array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength: 8 }).map((cps) => String.fromCodePoint(...cps)) },
    { weight: 1, arbitrary: hugeStringArb },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 50, max: 1200 }), fc.boolean()).map(([d, arr]) => nest(d, 'deep', arr)) },
    { weight: 3, arbitrary: fc.array(tie('junk'), { maxLength: 3 }) },
    {
      weight: 4,
      arbitrary: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.string({ maxLength: 6 })), tie('junk')), { maxLength: 3 }).map(ownObject),
    },
  ),
})).junk;

/**
 * Junk in the shape a protobuf Struct can carry at the top: an object (a
 * Resource's resource, the XR, the input are Structs on the wire), with
 * anything inside.
 */
export const junkObjectArb: fc.Arbitrary<Obj> = fc.oneof(
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.constantFrom('kind', 'spec', 'status', 'metadata', 'apiVersion')), junkArb), { maxLength: 4 })
    .map(ownObject),
  fc.record(
    { apiVersion: junkArb, kind: fc.constantFrom('Alias', 'Version', 'Bucket'), metadata: junkArb, spec: junkArb, status: junkArb },
    { requiredKeys: ['kind'] },
  ),
);

const weightPercentArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 99 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 100, 10, 50) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100) },
);

const badWeightArb: fc.Arbitrary<unknown> = fc.constantFrom(
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -1,
  -0.01,
  100.01,
  101,
  1e9,
  10.001,
  33.333,
  '10',
  null,
  true,
  [10],
  { weight: 10 },
);

const selectorArb: fc.Arbitrary<Obj> = fc.oneof(
  numberArb.map((version) => ({ version })),
  fc.record({ name: versionNameArb, namespace: nsArb }, { requiredKeys: ['name'] }).map((from) => ({ versionRef: { from } })),
  fc.record({ name: versionNameArb, namespace: nsArb }, { requiredKeys: ['name'] }).map((from) => ({ versionRef: { from } })),
);

const tokenArb = fc.constantFrom('', 'a', 'b', '2026-01-01T00:05:00Z');

const strategyArb: fc.Arbitrary<Obj> = fc.oneof(
  fc.constantFrom(...ROLLOUT_PRESETS).map((preset) => ({ preset })),
  fc
    .array(
      fc.record(
        {
          weight: weightPercentArb,
          pause: fc.oneof(
            fc.constant({}),
            fc.constantFrom('0s', '30s', '5m', '1h30m', '1.5h', '100ms').map((duration) => ({ duration })),
          ),
        },
        { requiredKeys: ['weight'] },
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((steps) => ({ steps })),
);

const rolloutArb: fc.Arbitrary<Obj> = fc.record(
  {
    target: selectorArb,
    strategy: strategyArb,
    paused: fc.boolean(),
    abort: fc.oneof(fc.constant(false), fc.constant(false), fc.constant(true)),
    resume: tokenArb,
    promote: tokenArb,
    retry: tokenArb,
  },
  { requiredKeys: ['target', 'strategy'] },
);

const publishedArb: fc.Arbitrary<Obj> = fc.record(
  {
    name: versionNameArb,
    codeSHA256: fc.constantFrom('3q2+7w==', 'abc='),
    description: fc.constantFrom('release', ''),
  },
  { requiredKeys: ['name'] },
);

const functionArb: fc.Arbitrary<Obj> = fc.oneof(
  fc.constantFrom('checkout', 'arn:aws:lambda:us-east-1:123456789012:function:checkout').map((name) => ({ name })),
  fc.record({ name: fc.constant('checkout'), namespace: nsArb }, { requiredKeys: ['name'] }).map((from) => ({ ref: { from } })),
);

const commonSpec = {
  function: functionArb,
  alias: fc.record(
    { name: fc.constantFrom('live', 'canary_1', 'Live-EU'), description: fc.constantFrom('Production traffic', '') },
    { requiredKeys: ['name'] },
  ),
  region: fc.constantFrom('us-east-1', 'eu-west-1'),
  versions: fc.uniqueArray(publishedArb, { selector: (v) => v.name, maxLength: 4 }),
};

const manualSpecArb: fc.Arbitrary<Obj> = fc.record(
  {
    ...commonSpec,
    stable: selectorArb,
    canary: fc.tuple(selectorArb, weightPercentArb).map(([s, weight]) => ({ ...s, weight })),
  },
  { requiredKeys: ['function', 'alias', 'stable'] },
);

const progressiveSpecArb: fc.Arbitrary<Obj> = fc.record({ ...commonSpec, rollout: rolloutArb }, { requiredKeys: ['function', 'alias', 'rollout'] });

export const validSpecArb: fc.Arbitrary<Obj> = fc.oneof(manualSpecArb, progressiveSpecArb);

// ---------------------------------------------------------------------------
// Near-valid: targeted corruptions of a valid spec

/** Every path to a value inside a plain JSON-like tree. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  // Only the spec's own structure: not into junk an earlier mutation nested hundreds of levels
  // deep (nesting inside nesting would exceed what structuredClone and the wire can carry).
  if (prefix.length >= MAX_MUTATION_DEPTH) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (isRecord(v)) for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

const MAX_MUTATION_DEPTH = 8;

function setAt(root: Obj, path: (string | number)[], value: unknown): void {
  if (path.length === 0) return;
  let cur: unknown = root;
  for (const p of path.slice(0, -1)) cur = (cur as Record<string | number, unknown>)[p];
  if (isRecord(cur) || Array.isArray(cur)) (cur as Record<string | number, unknown>)[path[path.length - 1]!] = value;
}

function getAt(root: unknown, path: (string | number)[]): unknown {
  let cur = root;
  for (const p of path) cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<string | number, unknown>)[p] : undefined;
  return cur;
}

interface Mutation {
  kind: number;
  pick: number;
  junk: unknown;
  weight: unknown;
  number: string;
  word: string;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.nat({ max: 9 }),
  pick: fc.nat(),
  junk: junkArb,
  weight: badWeightArb,
  number: fc.constantFrom('$LATEST', 'v5', '5.0', '', ' 5', '-1', '1e3', '0x5', '５'),
  word: fc.constantFrom('wieght', 'verison', 'stabel', 'extra', '__proto__', 'constructor'),
});

function mutate(spec: Obj, muts: Mutation[]): Obj {
  const out = structuredClone(spec);
  for (const m of muts) {
    const all = paths(out).filter((p) => p.length > 0);
    const objects = paths(out).filter((p) => isRecord(getAt(out, p)));
    switch (m.kind) {
      case 0: // any value replaced by junk
      case 1:
        if (all.length > 0) setAt(out, all[m.pick % all.length]!, m.junk);
        break;
      case 2: {
        // unknown field in some object (typos are errors)
        const p = objects[m.pick % objects.length]!;
        const o = getAt(out, p) as Obj;
        Object.defineProperty(o, m.word, { value: m.junk ?? 1, enumerable: true, writable: true, configurable: true });
        break;
      }
      case 3: {
        // a field removed
        if (all.length === 0) break;
        const p = all[m.pick % all.length]!;
        const parent = getAt(out, p.slice(0, -1));
        if (isRecord(parent)) delete parent[p[p.length - 1] as string];
        break;
      }
      case 4: // a bad weight
        if (isRecord(out.canary)) out.canary.weight = m.weight;
        else if (isRecord(out.rollout) && isRecord(out.rollout.strategy)) out.rollout.strategy = { steps: [{ weight: m.weight }] };
        else out.canary = { version: '6', weight: m.weight };
        break;
      case 5: {
        // a non-numeric version where a version goes
        const where = [out.stable, out.canary, isRecord(out.rollout) ? out.rollout.target : undefined].filter(isRecord);
        const sel = where[m.pick % Math.max(1, where.length)];
        if (sel !== undefined) {
          delete sel.versionRef;
          sel.version = m.number;
        }
        break;
      }
      case 6: {
        // duplicate names in spec.versions
        const vs = Array.isArray(out.versions) && out.versions.length > 0 ? out.versions : [{ name: 'app-v1' }];
        out.versions = [...vs, structuredClone(vs[m.pick % vs.length])];
        break;
      }
      case 7: // manual and progressive at once, or neither
        if (out.rollout !== undefined) out.stable = { version: '5' };
        else delete out.stable;
        break;
      case 8: // both or neither of an exactly-one-of pair
        if (isRecord(out.stable)) out.stable = m.pick % 2 === 0 ? { version: '5', versionRef: { from: { name: 'app-v1' } } } : {};
        else out.function = m.pick % 2 === 0 ? { name: 'checkout', ref: { from: { name: 'checkout' } } } : {};
        break;
      default: // deep nesting or a huge string in a string field
        if (all.length > 0) setAt(out, all[m.pick % all.length]!, typeof m.junk === 'string' ? m.junk : nest(300 + (m.pick % 700), 'x', m.pick % 2 === 0));
        break;
    }
  }
  return out;
}

export const nearValidSpecArb: fc.Arbitrary<Obj> = fc
  .tuple(validSpecArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
  .map(([spec, muts]) => mutate(spec, muts));

export const specArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: validSpecArb },
  { weight: 6, arbitrary: nearValidSpecArb },
  { weight: 1, arbitrary: junkArb },
);

// ---------------------------------------------------------------------------
// XR status: none, well-formed rollout state, lost, or garbage

const isoNearArb = fc.integer({ min: -2 * 3600, max: 2 * 3600 }).map((s) => new Date(BASE_TIME + s * 1000).toISOString());

export const rolloutStatusArb: fc.Arbitrary<Obj> = fc.record(
  {
    phase: fc.constantFrom(...phaseValues),
    target: fc.oneof(
      fc.constantFrom(...NUMBERS).map((n) => `version:${n}`),
      fc.tuple(nsArb, versionNameArb).map(([ns, n]) => `ref:${ns}/${n}`),
    ),
    targetVersion: numberArb,
    step: fc.integer({ min: 0, max: 12 }),
    totalSteps: fc.integer({ min: 1, max: 11 }),
    weight: weightPercentArb,
    stepStartedAt: isoNearArb,
    nextStepAt: isoNearArb,
    abortReason: fc.constant('aborted by spec.rollout.abort'),
    stableVersion: numberArb,
    stableRef: fc.tuple(nsArb, versionNameArb).map(([ns, n]) => `${ns}/${n}`),
    resumeToken: tokenArb,
    promoteToken: tokenArb,
    retryToken: tokenArb,
  },
  { requiredKeys: [] },
);

const statusArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 5, arbitrary: rolloutStatusArb.map((rollout) => ({ rollout, stableVersion: rollout.stableVersion })) },
  { weight: 1, arbitrary: junkArb.map((rollout) => ({ rollout })) },
  { weight: 1, arbitrary: junkArb },
);

// ---------------------------------------------------------------------------
// The XR

/** LambdaCanary XRs (namespaced, claim-made, cluster-scoped without a claim) around specs from `specs`. */
export function xrArb(specs: fc.Arbitrary<unknown> = specArb): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      weight: 30,
      arbitrary: fc
        .tuple(
          fc.constantFrom('ns', 'ns', 'ns', 'ns', 'ns', 'claim', 'claim', 'claim', 'cluster'),
          fc.constantFrom('checkout', 'Orders_Live', 'a'.repeat(70)),
          specs,
          statusArb,
        )
        .map(([scope, name, spec, status]) => {
          const metadata: Obj =
            scope === 'ns'
              ? { name, namespace: TARGET_NS, uid: 'uid-xr' }
              : {
                  name: `${name}-x7k2p`,
                  uid: 'uid-xr',
                  labels: scope === 'claim' ? { 'crossplane.io/claim-name': name, 'crossplane.io/claim-namespace': TARGET_NS } : {},
                };
          return {
            apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
            kind: scope === 'ns' ? 'LambdaCanary' : 'XLambdaCanary',
            metadata,
            spec,
            ...(status !== undefined ? { status } : {}),
          };
        }),
    },
    { weight: 1, arbitrary: junkObjectArb },
    { weight: 1, arbitrary: fc.record({ metadata: junkArb, spec: validSpecArb }) },
  );
}

// ---------------------------------------------------------------------------
// ACK Versions in every state, and garbage

const versionStatusArb: fc.Arbitrary<unknown> = fc
  .oneof(
    // resolved: published, synced, Active (or no state)
    {
      weight: 8,
      arbitrary: fc.record({
        version: numberArb,
        state: fc.constantFrom('Active', undefined),
        synced: fc.constant('True'),
        role: fc.oneof({ weight: 6, arbitrary: fc.constant(ROLES[0]) }, { weight: 1, arbitrary: fc.constantFrom(ROLES[1], undefined) }),
        dlq: fc.oneof({ weight: 6, arbitrary: fc.constant(DLQS[0]) }, { weight: 1, arbitrary: fc.constantFrom(DLQS[1], undefined) }),
        terminal: fc.constant(undefined),
      }),
    },
    // everything else ACK reports
    {
      weight: 6,
      arbitrary: fc.record({
        version: fc.option(numberArb, { nil: undefined }),
        state: fc.constantFrom('Active', 'Pending', 'Inactive', 'Failed', undefined, 'active'),
        synced: fc.constantFrom('True', 'False', 'Unknown', undefined),
        role: fc.constantFrom(ROLES[0], undefined),
        dlq: fc.constantFrom(DLQS[0], undefined),
        terminal: fc.constantFrom(undefined, undefined, 'InvalidParameterValueException: CodeSha256 mismatch'),
      }),
    },
  )
  .map((s) => {
    if (!isRecord(s)) return s;
    const status: Obj = { ackResourceMetadata: { arn: `arn:aws:lambda:eu-west-1:123456789012:function:checkout:${String(s.version)}`, region: 'eu-west-1' } };
    if (s.version !== undefined) status.version = s.version;
    if (s.state !== undefined) status.state = s.state;
    if (s.state === 'Failed') status.stateReason = 'EniLimitExceeded';
    if (s.role !== undefined) status.role = s.role;
    if (s.dlq !== undefined) status.deadLetterConfig = { targetARN: s.dlq };
    const conditions: Obj[] = [];
    if (s.synced !== undefined) conditions.push({ type: 'ACK.ResourceSynced', status: s.synced, message: 'synced' });
    if (s.terminal !== undefined) conditions.push({ type: 'ACK.Terminal', status: 'True', message: s.terminal });
    status.conditions = conditions;
    return status;
  });

const garbageVersionStatusArb: fc.Arbitrary<unknown> = fc.oneof(
  junkArb,
  fc.record({ version: junkArb, conditions: junkArb }),
  fc.record({ version: numberArb, conditions: fc.constant([null, 5, 'x', { type: 'ACK.ResourceSynced' }, { type: 'ACK.ResourceSynced', status: 'True' }]) }),
  fc.record({ version: numberArb, state: junkArb, conditions: fc.constant([{ type: 'ACK.ResourceSynced', status: 'True' }]) }),
);

export const ackVersionArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .record(
        {
          name: versionNameArb,
          namespace: fc.option(nsArb, { nil: undefined, freq: 6 }),
          status: fc.oneof(
            { weight: 8, arbitrary: versionStatusArb },
            { weight: 1, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: garbageVersionStatusArb },
          ),
          apiVersion: fc.oneof(
            { weight: 12, arbitrary: fc.constant(ACK_API) },
            { weight: 1, arbitrary: fc.constantFrom('lambda.services.k8s.aws/v1beta1', 'example.org/v1') },
          ),
          kind: fc.oneof({ weight: 12, arbitrary: fc.constant('Version') }, { weight: 1, arbitrary: fc.constantFrom('Alias', 'version') }),
        },
        { requiredKeys: ['name', 'apiVersion', 'kind'] },
      )
      .map(({ name, namespace, status, apiVersion, kind }) => ({
        apiVersion,
        kind,
        metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
        spec: { functionName: 'checkout' },
        ...(status !== undefined ? { status } : {}),
      })),
  },
  { weight: 1, arbitrary: junkObjectArb },
);

// ---------------------------------------------------------------------------
// Observed Aliases, with odd routing maps

const fractionArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 9999 }).map((n) => n / 10000) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 1.5, -0.1, Number.NaN, Number.POSITIVE_INFINITY, 1e-9, 0.99999, '0.1', null) },
);

const routingArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.tuple(numberArb, fractionArb).map(([k, w]) => ({ additionalVersionWeights: ownObject([[k, w]]) })) },
  { weight: 1, arbitrary: fc.constant({ additionalVersionWeights: {} }) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(fc.oneof(numberArb, fc.constantFrom(...NASTY_KEYS)), fractionArb), { maxLength: 3 })
      .map((e) => ({ additionalVersionWeights: ownObject(e) })),
  },
  { weight: 1, arbitrary: junkArb.map((additionalVersionWeights) => ({ additionalVersionWeights })) },
  { weight: 1, arbitrary: junkArb },
);

export const observedAliasArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record({
        functionVersion: fc.oneof({ weight: 10, arbitrary: numberArb }, { weight: 1, arbitrary: junkArb }),
        routing: routingArb,
        synced: fc.constantFrom('True', 'True', 'False', undefined),
        arn: fc.option(fc.constant('arn:aws:lambda:eu-west-1:123456789012:function:checkout:live'), { nil: undefined }),
      })
      .map(({ functionVersion, routing, synced, arn }) => ({
        apiVersion: ACK_API,
        kind: 'Alias',
        metadata: { name: 'checkout-live', namespace: TARGET_NS },
        spec: {
          name: 'live',
          functionName: 'checkout',
          functionVersion,
          ...(routing !== undefined ? { routingConfig: routing } : {}),
        },
        status: {
          ackResourceMetadata: arn !== undefined ? { arn } : {},
          conditions: synced !== undefined ? [{ type: 'ACK.ResourceSynced', status: synced }] : [],
        },
      })),
  },
  { weight: 1, arbitrary: junkObjectArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('Alias'), spec: junkArb, status: junkArb }) },
);

// ---------------------------------------------------------------------------
// Observed, required, desired

const observedArb: fc.Arbitrary<Obj> = fc
  .record(
    {
      alias: observedAliasArb,
      versions: fc.array(fc.tuple(versionNameArb, ackVersionArb), { maxLength: 4 }),
      garbage: fc.array(fc.tuple(fc.oneof(fc.constantFrom('version-', 'version-x', 'bucket', ...NASTY_KEYS), fc.string({ maxLength: 5 })), junkObjectArb), {
        maxLength: 2,
      }),
    },
    { requiredKeys: ['versions'] },
  )
  .map(({ alias, versions, garbage }) => {
    const entries: [string, unknown][] = [];
    if (alias !== undefined) entries.push(['alias', alias]);
    for (const [name, v] of versions ?? []) {
      // The composed Version's object name is normally the resource name's suffix; sometimes not.
      // (Generated values are shared with fast-check's shrinker: copy, never modify.)
      const renamed = isRecord(v) && isRecord(v.metadata) && v.metadata.name !== name && name.endsWith('1') ? { ...v, metadata: { ...v.metadata, name } } : v;
      entries.push([`version-${name}`, renamed]);
    }
    entries.push(...(garbage ?? []));
    return ownObject(entries);
  });

const requirementKeyArb = fc.oneof(
  fc.tuple(nsArb, versionNameArb).map(([ns, n]) => `lambda-version.${ns}.${n}`),
  fc.constant('lambda-versions'),
  fc.constantFrom('garbage', ...NASTY_KEYS),
);

/** Required/extra resources by key: lists of Versions (same names across namespaces), empty lists, junk. */
const requiredArb: fc.Arbitrary<[string, unknown[]][]> = fc.array(fc.tuple(requirementKeyArb, fc.array(ackVersionArb, { maxLength: 5 })), { maxLength: 4 });

const priorDesiredArb: fc.Arbitrary<Obj> = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom('bucket', 'role', 'alias', 'version-app-v1', 'version-zz'), fc.constantFrom(...NASTY_KEYS)),
      fc.oneof(
        junkObjectArb,
        fc.record({ apiVersion: fc.constant('s3.aws.upbound.io/v1beta1'), kind: fc.constant('Bucket'), spec: junkArb }),
        ackVersionArb,
        observedAliasArb,
      ),
    ),
    { maxLength: 3 },
  )
  .map(ownObject);

const desiredCompositeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.record({
    apiVersion: fc.constant('canary.lambda.fn.crossplane.io/v1alpha1'),
    kind: fc.constant('LambdaCanary'),
    status: fc.oneof(fc.constant({ fromEarlierStep: 'kept', message: 'earlier' }), junkArb),
  }),
  junkObjectArb,
);

const capabilitiesArb: fc.Arbitrary<Capability[]> = fc.array(
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom(
        Capability.CAPABILITY_CAPABILITIES,
        Capability.CAPABILITY_REQUIRED_RESOURCES,
        Capability.CAPABILITY_CONDITIONS,
        Capability.CAPABILITY_CREDENTIALS,
        Capability.CAPABILITY_REQUIRED_SCHEMAS,
        Capability.CAPABILITY_UNSPECIFIED,
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: -5, max: 99 }) },
  ),
  { maxLength: 5 },
);

const lambdaCanaryInputArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(undefined) },
  { weight: 6, arbitrary: fc.constant({ apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', mode: 'LambdaCanary' }) },
  { weight: 4, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: junkObjectArb },
  {
    weight: 1,
    arbitrary: fc.record({ apiVersion: fc.constant('lambdacanary.fn.crossplane.io/v1beta1'), kind: fc.constant('Input'), mode: junkArb, resolver: junkArb }),
  },
);

/** The clock: near the statuses' timestamps (pause boundaries), or anywhere from 1970 to 2200. */
const nowArb: fc.Arbitrary<Date> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3 * 3600, max: 3 * 3600 }).map((s) => new Date(BASE_TIME + s * 1000)) },
  { weight: 1, arbitrary: fc.date({ min: new Date(0), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }) },
);

function resources(entries: Obj) {
  return Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { resource: v as Obj }]));
}

function lists(entries: [string, unknown[]][]) {
  const out: Record<string, { items: { resource: Obj }[] }> = {};
  for (const [k, items] of entries) out[k] = { items: items.map((resource) => ({ resource: resource as Obj })) };
  return out;
}

function assemble(parts: {
  tag: string;
  capabilities: Capability[];
  input: unknown;
  composite: unknown;
  observed: Obj;
  desired: Obj;
  desiredComposite: unknown;
  required: [string, unknown[]][];
  extra: [string, unknown[]][];
  context: unknown;
}): RunFunctionRequest {
  return RunFunctionRequest.fromPartial({
    meta: { tag: parts.tag, capabilities: parts.capabilities },
    ...(parts.input !== undefined ? { input: parts.input as Obj } : {}),
    ...(parts.context !== undefined ? { context: parts.context as Obj } : {}),
    observed: {
      ...(parts.composite !== undefined ? { composite: { resource: parts.composite as Obj } } : {}),
      resources: resources(parts.observed),
    },
    desired: {
      ...(parts.desiredComposite !== undefined ? { composite: { resource: parts.desiredComposite as Obj } } : {}),
      resources: resources(parts.desired),
    },
    requiredResources: lists(parts.required),
    extraResources: lists(parts.extra),
  });
}

/** LambdaCanary-mode requests: the XR (spec from `specs`), what is observed, required, and desired by earlier steps. */
export function lambdaCanaryCases(specs: fc.Arbitrary<unknown> = specArb): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      tag: fc.oneof(fc.constant('tag-1'), fc.string({ maxLength: 8 })),
      capabilities: capabilitiesArb,
      input: lambdaCanaryInputArb,
      composite: xrArb(specs),
      observed: observedArb,
      desired: priorDesiredArb,
      desiredComposite: desiredCompositeArb,
      required: requiredArb,
      extra: requiredArb,
      context: fc.option(fc.constant({ 'apiextensions.crossplane.io/environment': { a: 1 } }), { nil: undefined }),
      now: nowArb,
    })
    .map(({ now, ...parts }) => ({ req: assemble(parts), now }));
}

export const lambdaCanaryCaseArb: fc.Arbitrary<FuzzCase> = lambdaCanaryCases();

// ---------------------------------------------------------------------------
// Resolver mode: Aliases with version references from an earlier step

const refArb = fc.record({ name: versionNameArb, namespace: nsArb }, { requiredKeys: ['name'] }).map((from) => ({ from }));

const refAliasArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record(
        {
          namespace: nsArb,
          primary: fc.oneof(
            refArb.map((functionVersionRef) => ({ functionVersionRef })),
            numberArb.map((functionVersion) => ({ functionVersion })),
          ),
          routing: fc.oneof(
            fc.constant(undefined),
            fc
              .tuple(refArb, fc.oneof(fractionArb, fc.constantFrom(0.1, 0.25)))
              .map(([versionRef, weight]) => ({ additionalVersionWeightRefs: [{ versionRef, weight }] })),
            fc.tuple(numberArb, fractionArb).map(([k, w]) => ({ additionalVersionWeights: ownObject([[k, w]]) })),
            junkArb,
          ),
        },
        { requiredKeys: ['primary'] },
      )
      .map(({ namespace, primary, routing }) => ({
        apiVersion: ACK_API,
        kind: 'Alias',
        metadata: { name: 'checkout-live', ...(namespace !== undefined ? { namespace } : {}) },
        spec: { name: 'live', functionName: 'checkout', ...primary, ...(routing !== undefined ? { routingConfig: routing } : {}) },
      })),
  },
  { weight: 1, arbitrary: fc.record({ apiVersion: fc.constant(ACK_API), kind: fc.constant('Alias'), spec: fc.record({ functionVersionRef: junkArb }) }) },
);

export const resolverCaseArb: fc.Arbitrary<FuzzCase> = fc
  .record({
    tag: fc.constant('resolver'),
    capabilities: capabilitiesArb,
    input: fc.constantFrom(
      { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', mode: 'Resolver' },
      { apiVersion: 'lambdacanary.fn.crossplane.io/v1beta1', kind: 'Input', mode: 'Resolver', resolver: { keepFunctionVersionRef: true } },
    ),
    composite: fc.oneof(xrArb(), fc.constant(undefined)),
    aliases: fc.array(fc.tuple(fc.constantFrom('alias', 'alias-2', 'edge'), refAliasArb), { minLength: 1, maxLength: 3 }),
    observedAliases: fc.array(fc.tuple(fc.constantFrom('alias', 'alias-2', 'edge'), observedAliasArb), { maxLength: 3 }),
    observed: observedArb,
    desired: priorDesiredArb,
    composedVersions: fc.array(fc.tuple(versionNameArb, nsArb), { maxLength: 2 }),
    desiredComposite: desiredCompositeArb,
    required: requiredArb,
    extra: requiredArb,
    now: nowArb,
  })
  .map(({ now, aliases, observedAliases, observed, desired, composedVersions, ...parts }) => {
    const d: [string, unknown][] = [...Object.entries(desired), ...aliases];
    for (const [n, ns] of composedVersions)
      d.push([`version-${n}`, { apiVersion: ACK_API, kind: 'Version', metadata: { name: n, namespace: ns }, spec: { functionName: 'checkout' } }]);
    const o: [string, unknown][] = [...Object.entries(observed), ...observedAliases];
    return { req: assemble({ ...parts, context: undefined, observed: ownObject(o), desired: ownObject(d) }), now };
  });

/** Everything: mostly LambdaCanary mode, some resolver mode. */
export const fuzzCaseArb: fc.Arbitrary<FuzzCase> = fc.oneof({ weight: 9, arbitrary: lambdaCanaryCaseArb }, { weight: 1, arbitrary: resolverCaseArb });

// ---------------------------------------------------------------------------
// The oracle

/** Whether a request survives protobuf encoding and the SDK's decoding, as it must to come from Crossplane. */
export function crossesTheWire(req: RunFunctionRequest): boolean {
  try {
    RunFunctionRequest.decode(RunFunctionRequest.encode(req).finish());
    return true;
  } catch {
    return false;
  }
}

/**
 * Structural equality over own enumerable keys (NaN equals NaN). Prototypes
 * are ignored: generated objects may have a null prototype, and a clone
 * never keeps one.
 */
export function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same((a as Obj)[k], (b as Obj)[k]));
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const NUMERIC = /^[0-9]+$/;

function condition(obj: Obj, type: string): string | undefined {
  const list = isRecord(obj.status) ? obj.status.conditions : undefined;
  if (!Array.isArray(list)) return undefined;
  const c = list.find((x) => isRecord(x) && x.type === type && typeof x.status === 'string') as Obj | undefined;
  return c ? (c.status as string) : undefined;
}

/** README: resolved = status.version set, ACK.ResourceSynced True, status.state (where present) Active, not Terminal. */
export function resolvedNumber(v: unknown): string | undefined {
  if (!isRecord(v) || v.kind !== 'Version' || !(str(v.apiVersion) ?? '').startsWith('lambda.services.k8s.aws/')) return undefined;
  if (!isRecord(v.status)) return undefined;
  if (condition(v, 'ACK.Terminal') === 'True') return undefined;
  const state = str(v.status.state);
  if (state !== undefined && state !== 'Active') return undefined;
  const version = str(v.status.version);
  if (version === undefined || !NUMERIC.test(version)) return undefined;
  return condition(v, 'ACK.ResourceSynced') === 'True' ? version : undefined;
}

interface Ref {
  ns: string;
  name: string;
}

/** Versions the request resolves for these references, from observed, required and extra resources. */
function resolvedForRefs(req: RunFunctionRequest, refs: Ref[]): Set<string> {
  const out = new Set<string>();
  const consider = (obj: unknown, key: string | undefined) => {
    if (!isRecord(obj) || !isRecord(obj.metadata)) return;
    const name = str(obj.metadata.name);
    const ns = str(obj.metadata.namespace);
    const n = resolvedNumber(obj);
    if (n === undefined) return;
    for (const r of refs) {
      if (r.name !== name) continue;
      if (ns === r.ns || (ns === undefined && (key === undefined || key === `lambda-version.${r.ns}.${r.name}`))) out.add(n);
    }
  };
  for (const r of Object.values(req.observed?.resources ?? {})) consider(r?.resource, undefined);
  for (const map of [req.requiredResources, req.extraResources]) {
    for (const [key, list] of Object.entries(map ?? {})) for (const item of list?.items ?? []) consider(item?.resource, key);
  }
  return out;
}

function refOf(sel: unknown, defaultNs: string | undefined): Ref | undefined {
  if (!isRecord(sel) || !isRecord(sel.versionRef) || !isRecord(sel.versionRef.from)) return undefined;
  const name = str(sel.versionRef.from.name);
  const ns = str(sel.versionRef.from.namespace) ?? defaultNs;
  return name !== undefined && ns !== undefined ? { name, ns } : undefined;
}

/** What a live Alias routes to, as written in its spec. */
function liveVersions(alias: unknown): string[] {
  if (!isRecord(alias) || alias.kind !== 'Alias' || !isRecord(alias.spec)) return [];
  const out: string[] = [];
  const fv = str(alias.spec.functionVersion);
  if (fv !== undefined && fv !== '') out.push(fv);
  const w = isRecord(alias.spec.routingConfig) ? alias.spec.routingConfig.additionalVersionWeights : undefined;
  if (isRecord(w)) for (const [k, x] of Object.entries(w)) if (typeof x === 'number' && x > 0) out.push(k);
  return out;
}

/** Every version an Alias's spec names, at any weight (Lambda refuses to delete a version an alias references). */
function namedVersions(alias: unknown): string[] {
  if (!isRecord(alias) || alias.kind !== 'Alias' || !isRecord(alias.spec)) return [];
  const out = liveVersions(alias);
  const w = weightsOf(alias);
  if (w !== undefined) out.push(...Object.keys(w));
  return out;
}

function weightsOf(alias: unknown): Obj | undefined {
  if (!isRecord(alias) || !isRecord(alias.spec) || !isRecord(alias.spec.routingConfig)) return undefined;
  const w = alias.spec.routingConfig.additionalVersionWeights;
  return isRecord(w) ? w : undefined;
}

/**
 * A weights map an API server can hold under ACK v1.14.1's CRD (finite
 * numbers only) with at least one version-number key (a key this function
 * may have written, so its field manager may own it): the map can then never
 * be emptied through server-side apply (README "How a split ends").
 */
function storedNonEmptyWeights(alias: unknown): Obj | undefined {
  const w = weightsOf(alias);
  if (w === undefined) return undefined;
  const entries = Object.entries(w);
  return entries.some(([k]) => NUMERIC.test(k)) && entries.every(([, x]) => typeof x === 'number' && Number.isFinite(x)) ? w : undefined;
}

/** A map's version-number entries (the only keys this function writes). */
function versionEntries(w: Obj | undefined): [string, unknown][] {
  return Object.entries(w ?? {})
    .filter(([k]) => NUMERIC.test(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A hold (with a Warning) that re-renders the observed functionVersion and weights map (its version-number entries) as stored. */
function heldAsIs(rendered: Obj, observed: unknown, warned: boolean): boolean {
  return (
    warned &&
    storedNonEmptyWeights(observed) !== undefined &&
    same(versionEntries(weightsOf(rendered)), versionEntries(weightsOf(observed))) &&
    isRecord(rendered.spec) &&
    rendered.spec.functionVersion === ((observed as Obj).spec as Obj).functionVersion
  );
}

/**
 * How a split ends: when the observed Alias's map has had a key, the rendered
 * map has exactly one key, a version number other than functionVersion,
 * never $LATEST (nor from $LATEST), weight in [0,1], and a zero weight only for
 * a version the observed Alias names. The one exception is a hold (with a
 * Warning) that re-renders the observed Alias's functionVersion and map as
 * they are: no correct map exists, and re-applying what is stored changes nothing.
 */
function checkSplitEnd(where: string, rendered: Obj, observed: unknown, refused: boolean, v: string[]): void {
  const before = storedNonEmptyWeights(observed);
  if (before === undefined) return;
  const after = weightsOf(rendered);
  if (after === undefined || Object.keys(after).length === 0) {
    return void v.push(
      `${where}: the observed Alias's weights map ${JSON.stringify(before)} became ${JSON.stringify(after ?? 'absent')}; under server-side apply it can never be emptied`,
    );
  }
  if (heldAsIs(rendered, observed, refused)) return;
  const spec = rendered.spec as Obj;
  const primary = spec.functionVersion;
  const entries = Object.entries(after);
  if (entries.length !== 1) v.push(`${where}: ${entries.length} keys in the weights map after the observed ${JSON.stringify(before)} (exactly one)`);
  const named = new Set(namedVersions(observed));
  for (const [key, w] of entries) {
    if (!NUMERIC.test(key) || key === primary || primary === '$LATEST')
      v.push(`${where}: weights key ${JSON.stringify(key)} with functionVersion ${JSON.stringify(primary)}`);
    if (typeof w !== 'number' || !(w >= 0 && w <= 1)) v.push(`${where}: weight ${String(w)} outside [0,1]`);
    if (w === 0 && !named.has(key)) v.push(`${where}: zero-weight entry ${key} names a version the observed Alias does not name`);
  }
}

/** A live Alias: an observed ACK Alias whose spec names the version it invokes. */
export function isLiveAlias(obj: unknown): boolean {
  return isRecord(obj) && obj.kind === 'Alias' && isRecord(obj.spec) && typeof obj.spec.functionVersion === 'string';
}

/**
 * The one schema error a correct response may carry: a functionVersion that
 * AWS would refuse, kept verbatim from the observed live Alias while nothing
 * better resolves. The only alternatives are dropping the Alias (Crossplane
 * and ACK then delete the live alias in AWS: an outage) or inventing a
 * version; keeping it changes nothing in AWS.
 */
function heldVerbatim(error: string, rendered: Obj, live: unknown): boolean {
  return (
    error.startsWith('$.spec.functionVersion:') &&
    isLiveAlias(live) &&
    isRecord(rendered.spec) &&
    rendered.spec.functionVersion === ((live as Obj).spec as Obj).functionVersion
  );
}

/** Problems with the traffic of a rendered Alias: weights, $LATEST, and versions not resolved in the request. */
function checkTraffic(where: string, alias: Obj, allowed: Set<string>, v: string[], live?: unknown, refused = false): void {
  const spec = isRecord(alias.spec) ? alias.spec : {};
  const primary = spec.functionVersion;
  if (typeof primary !== 'string' || !allowed.has(primary)) {
    v.push(`${where}: functionVersion ${JSON.stringify(primary)} is not resolved in the request (allowed: ${[...allowed].join(', ') || 'none'})`);
  }
  if (spec.routingConfig === undefined) return;
  if (!isRecord(spec.routingConfig)) return void v.push(`${where}: routingConfig is not an object`);
  const weights = spec.routingConfig.additionalVersionWeights;
  if (weights === undefined) return;
  if (!isRecord(weights)) return void v.push(`${where}: additionalVersionWeights is not an object`);
  const entries = Object.entries(weights);
  // A hold that re-renders the observed map as it is (see checkSplitEnd).
  if (heldAsIs(alias, live, refused)) return;
  if (entries.length > 1) v.push(`${where}: ${entries.length} keys in additionalVersionWeights (at most one)`);
  const named = new Set(namedVersions(live));
  for (const [key, w] of entries) {
    // Weight 0: the entry that ends a split, for a version the live Alias names (README "How a split ends").
    const zeroEntry = w === 0 && entries.length === 1 && named.has(key);
    if (typeof w !== 'number' || (!(w > 0 && w < 1) && !zeroEntry)) v.push(`${where}: weight ${JSON.stringify(key)}: ${String(w)} is not within (0,1)`);
    if (zeroEntry) {
      if (!NUMERIC.test(key)) v.push(`${where}: weighted key ${JSON.stringify(key)} is not a version number`);
      if (key === primary) v.push(`${where}: weighted key ${key} is the functionVersion itself`);
      if (primary === '$LATEST') v.push(`${where}: a zero-weight entry on $LATEST`);
      continue;
    }
    if (!NUMERIC.test(key)) v.push(`${where}: weighted key ${JSON.stringify(key)} is not a version number`);
    if (key === primary) v.push(`${where}: weighted key ${key} is the functionVersion itself`);
    if (!allowed.has(key) || key === '$LATEST') v.push(`${where}: weighted traffic to ${JSON.stringify(key)}, which is not resolved in the request`);
    if (primary === '$LATEST') v.push(`${where}: weighted traffic from $LATEST`);
  }
}

const aliasSpecSchema = (): JsonSchema => ackSchema('aliases').properties!.spec!;

function desiredObjects(state: { resources?: Record<string, { resource?: Obj } | undefined> } | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, r] of Object.entries(state?.resources ?? {})) out[k] = r?.resource;
  return out;
}

const STATUS_KEYS = new Set(['stable', 'canary', 'stableVersion', 'canaryVersion', 'canaryWeight', 'aliasARN', 'message', 'rollout']);

export interface CheckOptions {
  /** Also check that requirements do not depend on the required resources sent (the requirement loop settles). */
  requirementLoop?: boolean;
  /** The handler under test; the real one unless a test checks that the oracle catches a broken one. */
  run?: typeof realRunFunction;
}

/**
 * Runs the handler on a case and returns every invariant it breaks, each as
 * one line; empty when the response is right.
 */
export function checkInvariants(c: FuzzCase, opts: CheckOptions = {}): string[] {
  const runFunction = opts.run ?? realRunFunction;
  const v: string[] = [];
  const { req, now } = c;
  const pristine = structuredClone(req);
  let rsp: RunFunctionResponse;
  try {
    rsp = runFunction(req, { now: () => now });
  } catch (err) {
    return [`runFunction threw: ${err instanceof Error ? err.stack : String(err)}`];
  }

  // The request is not modified.
  if (!same(req, pristine)) v.push('runFunction modified its request');

  // The response goes over the wire, if the request could have come over it
  // (the SDK's decoder stops at 100 message levels, about 31 levels of JSON
  // nesting, so deeper requests never reach the handler from Crossplane).
  try {
    RunFunctionResponse.encode(rsp).finish();
  } catch (err) {
    if (crossesTheWire(pristine)) v.push(`the response cannot be encoded: ${String(err)}`);
  }
  if (rsp.meta?.tag !== (req.meta?.tag ?? '')) v.push(`meta.tag ${rsp.meta?.tag} is not the request's ${req.meta?.tag}`);
  const ttl = rsp.meta?.ttl?.seconds ?? -1;
  if (!(ttl >= 5 && ttl <= 300)) v.push(`ttl ${ttl}s outside [5s, 300s]`);

  const fatal = rsp.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
  if (fatal !== undefined && /internal error/.test(fatal.message)) v.push(`a planner bug surfaced as a Fatal result: ${fatal.message}`);

  // Requirements: the same request gives the same requirements.
  // (The copy is not modified either: the first run's check above covers that.)
  const again = runFunction(pristine, { now: () => now });
  if (!same(again.requirements, rsp.requirements)) v.push('requirements differ between two runs of the same request');
  if (opts.requirementLoop !== false) {
    const bare: RunFunctionRequest = { ...pristine, requiredResources: {}, extraResources: {} };
    const unfetched = runFunction(bare, { now: () => now });
    const fatalBare = unfetched.results.some((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal === undefined && !fatalBare && !same(unfetched.requirements, rsp.requirements)) {
      v.push(
        `requirements depend on the required resources sent: ${JSON.stringify(rsp.requirements)} vs ${JSON.stringify(unfetched.requirements)} without them`,
      );
    }
  }

  const reqDesired = desiredObjects(pristine.desired);
  const rspDesired = desiredObjects(rsp.desired);

  // Fatal: desired is exactly the request's desired.
  if (fatal !== undefined) {
    if (!same(rspDesired, reqDesired)) v.push("Fatal response with desired resources other than the request's");
    if (!same(rsp.desired?.composite, pristine.desired?.composite)) v.push("Fatal response with a desired composite other than the request's");
    return v;
  }

  const input = pristine.input;
  const resolverMode = isRecord(input) && input.mode === 'Resolver';
  const observed = desiredObjects(pristine.observed);

  // Earlier steps' desired composite passes through; only our status keys change.
  const priorXR = pristine.desired?.composite?.resource;
  const outXR = rsp.desired?.composite?.resource;
  if (isRecord(priorXR)) {
    const { status: priorStatus, ...priorRest } = priorXR;
    const { status: outStatus, ...outRest } = isRecord(outXR) ? outXR : {};
    if (!same(priorRest, outRest)) v.push('the desired composite from earlier steps changed outside status');
    if (isRecord(priorStatus)) {
      for (const [k, x] of Object.entries(priorStatus)) {
        if (!STATUS_KEYS.has(k) && !(isRecord(outStatus) && same(outStatus[k], x))) v.push(`the desired composite's status.${k} from an earlier step was lost`);
      }
    }
  }

  if (resolverMode) {
    checkResolver(pristine, reqDesired, rspDesired, observed, v, rsp);
    return v;
  }

  // LambdaCanary mode. Ours: "alias" and "version-*"; everything else passes through untouched.
  for (const [k, obj] of Object.entries(reqDesired)) {
    if (k === 'alias' || k.startsWith('version-')) continue;
    if (!(k in rspDesired) || !same(rspDesired[k], obj)) v.push(`earlier step's desired resource ${JSON.stringify(k)} did not pass through unchanged`);
  }

  // A live Alias is never dropped.
  const liveAlias = observed['alias'];
  if (isLiveAlias(liveAlias) && !isRecord(rspDesired['alias'])) v.push('the observed live Alias was dropped from desired');

  const xr = pristine.observed?.composite?.resource;
  const spec = isRecord(xr) && isRecord(xr.spec) ? xr.spec : {};
  const meta = isRecord(xr) && isRecord(xr.metadata) ? xr.metadata : {};
  const labels = isRecord(meta.labels) ? meta.labels : {};
  const targetNs = str(meta.namespace) || str(labels['crossplane.io/claim-namespace']) || undefined;

  // A composed Version that the live or rendered Alias routes to is never dropped.
  const rendered = rspDesired['alias'];
  // Rendered by this function (not an earlier step's Alias passed through).
  const fromUs = isRecord(rendered) && !same(rendered, reqDesired['alias']);
  const inUse = new Set([...namedVersions(liveAlias), ...(fromUs ? namedVersions(rendered) : [])]);
  for (const [k, obj] of Object.entries(observed)) {
    // Only ACK Versions: another kind under a version-* key is not a Version to keep (issue 10, defect 11).
    if (
      !k.startsWith('version-') ||
      !isRecord(obj) ||
      !isRecord(obj.status) ||
      obj.kind !== 'Version' ||
      !String(obj.apiVersion).startsWith('lambda.services.k8s.aws/')
    )
      continue;
    const n = str(obj.status.version);
    if (n !== undefined && inUse.has(n) && !(k in rspDesired))
      v.push(`composed Version ${k} (version ${n}) is still named by the Alias but was dropped from desired`);
  }

  // The rendered Alias.
  if (fromUs) {
    // The live Alias re-rendered exactly as observed (one whose spec names no
    // readable version, held with a Warning) changes nothing in AWS; what the
    // API server stored already passed its CRD.
    const refusedAny = rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING);
    const verbatim = refusedAny && isLiveAlias(liveAlias) && same((rendered as Obj).spec, (liveAlias as Obj).spec);
    if (!verbatim) for (const e of validateAck(rendered)) if (!heldVerbatim(e, rendered, liveAlias)) v.push(`rendered Alias fails the ACK CRD schema: ${e}`);
    const selectors = [spec.stable, spec.canary, isRecord(spec.rollout) ? spec.rollout.target : undefined];
    const allowed = new Set<string>();
    const refs: Ref[] = [];
    for (const s of selectors) {
      if (isRecord(s) && typeof s.version === 'string' && (NUMERIC.test(s.version) || s.version === '$LATEST')) allowed.add(s.version);
      const r = refOf(s, targetNs);
      if (r !== undefined) refs.push(r);
    }
    const prev = isRecord(xr) && isRecord(xr.status) && isRecord(xr.status.rollout) ? xr.status.rollout : {};
    const stableVersion = str(prev.stableVersion);
    // The stable version a rollout recorded (a number, or $LATEST rebuilt from an Alias on $LATEST).
    if (stableVersion !== undefined && (NUMERIC.test(stableVersion) || stableVersion === '$LATEST')) allowed.add(stableVersion);
    const stableRef = str(prev.stableRef);
    if (stableRef !== undefined && stableRef.includes('/')) {
      const [ns, name] = stableRef.split('/') as [string, string];
      refs.push({ ns, name });
    }
    for (const n of resolvedForRefs(pristine, refs)) allowed.add(n);
    for (const n of liveVersions(liveAlias)) allowed.add(n);
    const refused = rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING);
    if (!verbatim) {
      checkTraffic('rendered Alias', rendered, allowed, v, liveAlias, refused);
      checkSplitEnd('rendered Alias', rendered, liveAlias, refused, v);
    }
  }

  // Versions rendered from spec.versions pass the schema too.
  for (const pv of Array.isArray(spec.versions) ? spec.versions : []) {
    const name = isRecord(pv) ? str(pv.name) : undefined;
    const obj = name !== undefined ? rspDesired[`version-${name}`] : undefined;
    if (isRecord(obj) && !same(obj, reqDesired[`version-${name}`])) {
      for (const e of validateAck(obj)) v.push(`rendered Version ${name} fails the ACK CRD schema: ${e}`);
    }
  }
  return v;
}

function checkResolver(
  req: RunFunctionRequest,
  reqDesired: Record<string, unknown>,
  rspDesired: Record<string, unknown>,
  observed: Record<string, unknown>,
  v: string[],
  rsp: RunFunctionResponse,
): void {
  const refused = rsp.results.some((r) => r.severity === Severity.SEVERITY_WARNING);
  const xr = req.observed?.composite?.resource;
  const meta = isRecord(xr) && isRecord(xr.metadata) ? xr.metadata : {};
  const labels = isRecord(meta.labels) ? meta.labels : {};
  const xrNs = str(meta.namespace) || str(labels['crossplane.io/claim-namespace']) || undefined;
  const withRefs = (o: unknown) =>
    isRecord(o) &&
    o.kind === 'Alias' &&
    (str(o.apiVersion) ?? '').startsWith('lambda.services.k8s.aws/') &&
    isRecord(o.spec) &&
    (o.spec.functionVersionRef !== undefined || (isRecord(o.spec.routingConfig) && o.spec.routingConfig.additionalVersionWeightRefs !== undefined));
  const schema = aliasSpecSchema();
  for (const [k, obj] of Object.entries(reqDesired)) {
    if (!withRefs(obj)) {
      if (!(k in rspDesired) || !same(rspDesired[k], obj)) v.push(`earlier step's desired resource ${JSON.stringify(k)} did not pass through unchanged`);
      continue;
    }
    const out = rspDesired[k];
    if (out === undefined) {
      // An observed Alias is live whatever its spec says (issue 10, defect 2).
      if (isRecord(observed[k]) && observed[k].kind === 'Alias') v.push(`resolver dropped Alias ${k}, which is live`);
      continue;
    }
    if (!isRecord(out) || !isRecord(out.spec)) {
      v.push(`resolver rendered ${k} without a spec`);
      continue;
    }
    const aliasObj = obj as Obj;
    const spec = aliasObj.spec as Obj;
    const ns = (isRecord(aliasObj.metadata) ? str(aliasObj.metadata.namespace) : undefined) ?? xrNs;
    const allowed = new Set<string>();
    const refs: Ref[] = [];
    if (typeof spec.functionVersion === 'string' && (NUMERIC.test(spec.functionVersion) || spec.functionVersion === '$LATEST'))
      allowed.add(spec.functionVersion);
    const r = refOf({ versionRef: spec.functionVersionRef }, ns);
    if (r) refs.push(r);
    const rc = isRecord(spec.routingConfig) ? spec.routingConfig : {};
    if (Array.isArray(rc.additionalVersionWeightRefs))
      for (const w of rc.additionalVersionWeightRefs)
        if (isRecord(w)) {
          const x = refOf(w, ns);
          if (x) refs.push(x);
        }
    if (isRecord(rc.additionalVersionWeights)) for (const key of Object.keys(rc.additionalVersionWeights)) if (NUMERIC.test(key)) allowed.add(key);
    for (const n of resolvedForRefs(req, refs)) allowed.add(n);
    for (const n of liveVersions(observed[k])) allowed.add(n);
    // A literal weights entry passes through exactly (issue 10, defect 9): any weight in [0, 1] is AWS's to take.
    const literal = isRecord(rc.additionalVersionWeights) ? rc.additionalVersionWeights : undefined;
    const outRc0 = isRecord(out.spec.routingConfig) ? out.spec.routingConfig : undefined;
    const passedThrough = literal !== undefined && Object.keys(literal).length === 1 && same(outRc0?.additionalVersionWeights, literal);
    // keepFunctionVersionRef renders functionVersionRef alone (issue 10, defect 14): the earlier step's
    // reference, resolved in the request, or the live Alias's own, held as it is.
    // A Version found twice (by name and in a list) may report two numbers; the reference is right if one of them is.
    let candidates: Obj[] = [out];
    const observedSpec = isRecord(observed[k]) && isRecord((observed[k] as Obj).spec) ? ((observed[k] as Obj).spec as Obj) : {};
    const heldRef = out.spec.functionVersionRef !== undefined && same(out.spec.functionVersionRef, observedSpec.functionVersionRef);
    if (out.spec.functionVersionRef !== undefined) {
      const keepRef = isRecord(req.input) && isRecord(req.input.resolver) && req.input.resolver.keepFunctionVersionRef === true;
      if (!keepRef && !heldRef) v.push(`resolved Alias ${k} keeps functionVersionRef without keepFunctionVersionRef`);
      if (out.spec.functionVersion !== undefined && !(heldRef && same(out.spec.functionVersion, observedSpec.functionVersion)))
        v.push(`resolved Alias ${k} has both functionVersion and functionVersionRef (ACK refuses a reference next to its value)`);
      const outRef = refOf({ versionRef: out.spec.functionVersionRef }, ns);
      const numbers = outRef !== undefined ? [...resolvedForRefs(req, [outRef])] : [];
      if (out.spec.functionVersion === undefined) {
        if (numbers.length > 0) candidates = numbers.map((n) => ({ ...out, spec: { ...(out.spec as Obj), functionVersion: n } }));
        // The live Alias held as it is, its reference not resolved: nothing to compare.
        else if (heldRef) continue;
        else v.push(`resolved Alias ${k}: functionVersionRef ${JSON.stringify(out.spec.functionVersionRef)} alone names no Version resolved in the request`);
      }
    }
    // A hold of a live Alias whose spec names no version that can be read: its
    // version fields re-rendered exactly as observed, with a Warning (issue 10, defect 2).
    const heldUnreadable =
      refused &&
      isRecord(observed[k]) &&
      !(typeof observedSpec.functionVersion === 'string' && (NUMERIC.test(observedSpec.functionVersion) || observedSpec.functionVersion === '$LATEST')) &&
      same(out.spec.functionVersion, typeof observedSpec.functionVersion === 'string' ? observedSpec.functionVersion : undefined) &&
      same(out.spec.functionVersionRef, isRecord(observedSpec.functionVersionRef) ? observedSpec.functionVersionRef : undefined) &&
      same(versionEntries(weightsOf(out)), versionEntries(weightsOf(observed[k])));
    if (heldUnreadable) continue;
    if (!passedThrough) {
      const found = candidates.map((c) => {
        const w: string[] = [];
        checkTraffic(`resolved Alias ${k}`, c, allowed, w, observed[k], refused);
        checkSplitEnd(`resolved Alias ${k}`, c, observed[k], refused, w);
        return w;
      });
      if (!found.some((w) => w.length === 0)) v.push(...found[0]!);
    }
    if (out.spec.functionVersion !== undefined || out.spec.functionVersionRef === undefined) {
      for (const e of validate(schema.properties!.functionVersion!, out.spec.functionVersion, '$.spec.functionVersion')) {
        if (!heldVerbatim(e, out, observed[k])) v.push(`resolved Alias ${k} fails the ACK CRD schema: ${e}`);
      }
    }
    const outRc = isRecord(out.spec.routingConfig) ? out.spec.routingConfig : undefined;
    if (outRc?.additionalVersionWeights !== undefined) {
      const ws = schema.properties!.routingConfig!.properties!.additionalVersionWeights!;
      for (const e of validate(ws, outRc.additionalVersionWeights, '$.spec.routingConfig.additionalVersionWeights'))
        v.push(`resolved Alias ${k} fails the ACK CRD schema: ${e}`);
    }
  }
}

/** A short description of a case for reports: the XR spec and status, the observed Alias, the clock. */
export function describeCase(c: FuzzCase, max = 4000): string {
  const xr = c.req.observed?.composite?.resource;
  const text = JSON.stringify(
    {
      now: c.now.toISOString(),
      input: c.req.input,
      xr,
      observed: desiredObjects(c.req.observed),
      desired: desiredObjects(c.req.desired),
      required: c.req.requiredResources,
      extra: c.req.extraResources,
      capabilities: c.req.meta?.capabilities,
    },
    (_k, x: unknown) =>
      typeof x === 'number' && !Number.isFinite(x) ? String(x) : typeof x === 'string' && x.length > 200 ? `${x.slice(0, 40)}…(${x.length} chars)` : x,
  );
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export type Outcome = 'fatal' | 'split' | 'whole' | 'no-alias' | 'resolver';

/** What a case's response does, for coverage statistics (so that a property is not vacuously true). */
export function outcomeOf(c: FuzzCase): Outcome {
  const rsp = realRunFunction(structuredClone(c.req), { now: () => c.now });
  if (rsp.results.some((r) => r.severity === Severity.SEVERITY_FATAL)) return 'fatal';
  if (isRecord(c.req.input) && c.req.input.mode === 'Resolver') return 'resolver';
  const alias = rsp.desired?.resources?.['alias']?.resource;
  if (!isRecord(alias) || !isRecord(alias.spec)) return 'no-alias';
  const rc = alias.spec.routingConfig;
  return isRecord(rc) && isRecord(rc.additionalVersionWeights) && Object.keys(rc.additionalVersionWeights).length > 0 ? 'split' : 'whole';
}

// ---------------------------------------------------------------------------
// The wire codec (function/wire/request.ts, response.ts) on the same cases

/**
 * What the function's own codec must do for a request that crosses the wire:
 * decode it as the SDK does, answer byte-identically whether it decodes the
 * request whole or projected, and encode the answer as the SDK does. (A
 * "__proto__" key is compared only between our two decodings: the SDK turns
 * it into a prototype, ours keeps it.) Empty when all hold.
 */
export function checkWireCodec(c: FuzzCase): string[] {
  if (!crossesTheWire(c.req)) return [];
  const v: string[] = [];
  const bytes = Buffer.from(RunFunctionRequest.encode(c.req).finish());
  const whole = decodeRunFunctionRequest(bytes);
  const protoKey = JSON.stringify(c.req).includes('"__proto__"');
  if (!protoKey && !same(whole, RunFunctionRequest.decode(bytes))) v.push("our whole decoding differs from the SDK's");
  const now = () => c.now;
  const rsp = realRunFunction(whole, { now });
  const ours = encodeRunFunctionResponse(rsp);
  if (!protoKey && !ours.equals(Buffer.from(RunFunctionResponse.encode(rsp).finish()))) v.push("our encoding of the response differs from the SDK's");
  const projected = encodeRunFunctionResponse(realRunFunction(decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), { now }));
  if (!projected.equals(ours)) v.push('the response to the projected request differs from the response to the whole request');
  return v;
}
