// The wire codec (function/wire/protobuf.ts, request.ts, response.ts) against the
// SDK's generated codec, the reference: the same objects from the same bytes,
// the same bytes from the same response; then what only ours does (the
// projection, "__proto__" keys, deeper nesting) and what malformed bytes do.
import fc from 'fast-check';
import { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { describe, expect, it } from 'vitest';
import { REQUEST_PROJECTION } from '../function/server/request-projection.js';
import { runFunction } from '../function/handler.js';
import { MAX_NESTING, Reader, WireError, Writer, readStruct, writeStruct } from '../function/wire/protobuf.js';
import { decodeRunFunctionRequest } from '../function/wire/request.js';
import { encodeRunFunctionResponse } from '../function/wire/response.js';
import { crossesTheWire, fuzzCaseArb, same } from './support/arbitraries.js';
import { ackVersion, manualSpec, namespacedXR, observedAlias, ref, request } from './support/fixtures.js';

const SEED = 424242;

const sdkEncode = (req: RunFunctionRequest) => Buffer.from(RunFunctionRequest.encode(req).finish());

/** The SDK turns a "__proto__" key into a prototype and loses it; ours keeps it (tested below), so differential cases avoid it. */
const hasProtoKey = (req: RunFunctionRequest) => JSON.stringify(req).includes('"__proto__"');

function structBytes(obj: Record<string, unknown>): Buffer {
  const w = new Writer(16);
  writeStruct(w, obj);
  return w.take();
}

function decodeStruct(bytes: Buffer, projection?: Parameters<typeof readStruct>[2]): Record<string, unknown> {
  return readStruct(new Reader(bytes), bytes.length, projection);
}

const LIVE = request({
  composite: namespacedXR(manualSpec({ versions: [{ name: 'app-v6' }], canary: { ...ref('app-v6'), weight: 10 } })),
  observed: { alias: observedAlias({ functionVersion: '5' }), 'version-app-v6': ackVersion('app-v6', { version: '6' }) },
  desired: { bucket: { apiVersion: 's3.aws.upbound.io/v1beta1', kind: 'Bucket', metadata: { name: 'b' } } },
  required: {},
});

describe('decoding RunFunctionRequest', () => {
  it('gives what the SDK gives for every generated request (fast-check, 600 runs)', () => {
    let compared = 0;
    fc.assert(
      fc.property(fuzzCaseArb, ({ req }) => {
        fc.pre(crossesTheWire(req) && !hasProtoKey(req));
        const bytes = sdkEncode(req);
        const ours = decodeRunFunctionRequest(bytes);
        const sdk = RunFunctionRequest.decode(bytes);
        expect(same(ours, sdk)).toBe(true);
        compared++;
      }),
      { seed: SEED, numRuns: 600 },
    );
    expect(compared).toBeGreaterThan(300);
  });

  it('gives what the SDK gives for arbitrary JSON in every Struct-carrying field (fast-check, 300 runs)', () => {
    const json = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 6 }), { noNullPrototype: true });
    fc.assert(
      fc.property(json, json, json, fc.string(), (resource, input, context, tag) => {
        const req: RunFunctionRequest = {
          meta: { tag, capabilities: [0, 1, 2, 3, -1] },
          observed: {
            composite: { resource, connectionDetails: { k: Buffer.from('v'), e: Buffer.alloc(0) }, ready: 1 },
            resources: { r: { resource, connectionDetails: {}, ready: 2 } },
          },
          desired: { composite: undefined, resources: { d: { resource: context, connectionDetails: {}, ready: 0 } } },
          input,
          context,
          extraResources: { x: { items: [{ resource, connectionDetails: {}, ready: 0 }] } },
          credentials: { c: { credentialData: { data: { user: Buffer.from('u') } } } },
          requiredResources: { y: { items: [] } },
          requiredSchemas: { s: { openapiV3: resource } },
        };
        fc.pre(!hasProtoKey(req));
        const bytes = sdkEncode(req);
        expect(same(decodeRunFunctionRequest(bytes), RunFunctionRequest.decode(bytes))).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('skips, on the wire, what the projection leaves out and keeps everything else', () => {
    const bytes = sdkEncode(LIVE);
    const full = decodeRunFunctionRequest(bytes);
    const projected = decodeRunFunctionRequest(bytes, REQUEST_PROJECTION);
    const version = full.observed!.resources['version-app-v6']!.resource!;
    (version['status'] as Record<string, unknown>)['environment'] = { variables: { A: 'x' } };
    (version['metadata'] as Record<string, unknown>)['managedFields'] = [{ manager: 'ack' }];
    const withExtra = decodeRunFunctionRequest(sdkEncode(full), REQUEST_PROJECTION);
    const v = withExtra.observed!.resources['version-app-v6']!.resource!;
    expect(Object.keys(v['status'] as object).sort()).toEqual(
      Object.keys(projected.observed!.resources['version-app-v6']!.resource!['status'] as object).sort(),
    );
    expect(v['status']).not.toHaveProperty('environment');
    expect(v['metadata']).not.toHaveProperty('managedFields');
    expect(v['spec']).toEqual(version['spec']);
    // The XR, desired state and context are never projected.
    expect(withExtra.observed!.composite).toEqual(full.observed!.composite);
    expect(withExtra.desired).toEqual(full.desired);
  });

  it('decodes keys and strings that are not valid UTF-8 as Buffer does, each time (the caches hold only what they can match)', () => {
    // Struct { fields: { <key>: Value { string_value: <key> } } } with raw key bytes.
    const entry = (key: number[]) => {
      const value = [0x1a, key.length, ...key]; // Value.string_value = 3
      const body = [0x0a, key.length, ...key, 0x12, value.length, ...value];
      return [0x0a, body.length, ...body];
    };
    const keys = [[0xff, 0x41], [0xfe, 0x41], [0xc3], [0xc3, 0xa9], [0x41, 0x80], [0xef, 0xbf, 0xbd, 0x41]];
    const bytes = Buffer.from(keys.flatMap(entry));
    const want = Object.fromEntries(keys.map((k) => [Buffer.from(k).toString('utf8'), Buffer.from(k).toString('utf8')]));
    for (let round = 0; round < 3; round++) expect(decodeStruct(bytes)).toEqual(want);
  });

  it('keeps a "__proto__" key as an own property instead of turning it into a prototype', () => {
    const obj = Object.defineProperty({ a: 1 }, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
    const back = decodeStruct(structBytes(obj));
    expect(Object.keys(back)).toEqual(['a', '__proto__']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect((back as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('decodes every key and string exactly, also when cached ones share a slot or one is long, non-ASCII or "__proto__"', () => {
    // 10,000 names in 4,096 cache slots: pigeonhole guarantees names that
    // meet in a slot, and decoding twice reads each from the cache or over it.
    // Each value is another key's name, so the value cache is tested alike.
    const names = Array.from({ length: 10_000 }, (_, i) => `field-${i}`);
    const awkward = [
      '',
      'a',
      'ab',
      'ba',
      'x'.repeat(48),
      'x'.repeat(49),
      'caf\u00e9',
      '\u{1F600}',
      '\ufffd',
      'spec ',
      'Spec',
      '__proto__',
      'constructor',
      'toString',
    ];
    const all = [...names, ...awkward];
    const obj = Object.fromEntries(all.map((k, i) => [k, i % 2 === 0 ? all[all.length - 1 - i] : i]));
    const bytes = structBytes(obj);
    for (let round = 0; round < 2; round++) {
      const decoded = decodeStruct(bytes);
      expect(Object.keys(decoded)).toEqual(Object.keys(obj));
      expect(Object.entries(decoded)).toEqual(Object.entries(obj));
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    }
  });

  it(`decodes Structs nested ${MAX_NESTING - 1} levels deep and refuses deeper ones with a WireError`, () => {
    const nest = (n: number): Record<string, unknown> => {
      let v: Record<string, unknown> = { leaf: 'x' };
      for (let i = 1; i < n; i++) v = { a: v };
      return v;
    };
    const ok = nest(MAX_NESTING - 1);
    expect(decodeStruct(structBytes(ok))).toEqual(ok);
    // Written by hand: our encoder refuses to write what our decoder refuses to read.
    let deep = structBytes({ leaf: 'x' });
    for (let i = 0; i < MAX_NESTING + 5; i++) {
      const w = new Writer(16);
      const e = w.begin(10);
      w.uint32(10);
      w.string('a');
      const v = w.begin(18);
      w.uint32(42);
      w.bytes(deep);
      w.finish(v);
      w.finish(e);
      deep = w.take();
    }
    expect(() => decodeStruct(deep)).toThrow(WireError);
    expect(() => decodeStruct(deep)).toThrow(/nested deeper than 100 levels/);
    expect(() => structBytes(nest(MAX_NESTING + 1))).toThrow(/nested deeper than 100 levels/);
  });

  it('skips unknown fields of every wire type, and refuses groups nested past 32 levels', () => {
    // An unknown varint, fixed64, length-delimited field, fixed32 and a closed group before a real entry.
    const known = structBytes({ a: 'x' });
    const unknown = Buffer.from([
      (7 << 3) | 0,
      0x96,
      0x01,
      (8 << 3) | 1,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
      (9 << 3) | 2,
      2,
      0xff,
      0xff,
      (10 << 3) | 5,
      1,
      2,
      3,
      4,
      (11 << 3) | 3,
      (12 << 3) | 0,
      1,
      (11 << 3) | 4,
    ]);
    expect(decodeStruct(Buffer.concat([unknown, known]))).toEqual({ a: 'x' });
    const nested = (n: number) => Buffer.from([...Array<number>(n).fill((5 << 3) | 3), ...Array<number>(n).fill((5 << 3) | 4)]);
    expect(decodeStruct(Buffer.concat([nested(32), known]))).toEqual({ a: 'x' });
    expect(() => decodeStruct(nested(33))).toThrow(/nested deeper than 32 levels/);
    expect(() => decodeStruct(nested(100_000))).toThrow(WireError);
  });

  it('reports each field it skips as unknown, by message and field number, and decodes the rest as before', () => {
    const known = sdkEncode({ ...LIVE, meta: undefined, input: undefined });
    const str = (s: string) => [s.length, ...Buffer.from(s)];
    // Fields a newer protocol might add: in RequestMeta (3, varint), in the input Struct (2, fixed32),
    // in RunFunctionRequest (10, a string; 11, a varint). Concatenated fields are one message.
    const meta = [10, ...str('my-tag'), (3 << 3) | 0, 1];
    const input = [...structBytes({ a: 1 }), (2 << 3) | 5, 1, 2, 3, 4];
    const withUnknown = Buffer.concat([
      Buffer.from([10, meta.length, ...meta]),
      known,
      Buffer.from([34, input.length, ...input, (10 << 3) | 2, ...str('new'), (11 << 3) | 0, 0x96, 0x01]),
    ]);
    const expected = RunFunctionRequest.decode(withUnknown);
    expect(expected.meta?.tag).toBe('my-tag');
    expect(expected.input).toEqual({ a: 1 });

    const seen: [string, number][] = [];
    const decoded = decodeRunFunctionRequest(withUnknown, {}, { count: (message, field) => seen.push([message, field]) });
    expect(same(decoded, expected)).toBe(true);
    expect(seen).toEqual([
      ['RequestMeta', 3],
      ['Struct', 2],
      ['RunFunctionRequest', 10],
      ['RunFunctionRequest', 11],
    ]);
    // Projected as the function decodes, and without a sink: the same answer.
    expect(
      same(decodeRunFunctionRequest(withUnknown, REQUEST_PROJECTION), decodeRunFunctionRequest(withUnknown, REQUEST_PROJECTION, { count: () => {} })),
    ).toBe(true);
    // Known fields are never reported, nor keys the projection skips.
    const none: unknown[] = [];
    decodeRunFunctionRequest(known, REQUEST_PROJECTION, { count: (...a) => none.push(a) });
    expect(none).toEqual([]);
  });

  it('throws a WireError, never anything else and never hangs, on truncated or corrupted requests (fast-check, 1,000 runs)', () => {
    const bytes = sdkEncode(LIVE);
    const corrupted = fc.oneof(
      fc.nat({ max: bytes.length - 1 }).map((n) => bytes.subarray(0, n)),
      fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const copy = Buffer.from(bytes);
        copy[i] = b;
        return copy;
      }),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    );
    let threw = 0;
    fc.assert(
      fc.property(corrupted, (buf) => {
        try {
          decodeRunFunctionRequest(buf, REQUEST_PROJECTION);
        } catch (err) {
          threw++;
          // Credentials and schemas are decoded by the SDK, which throws plain Errors.
          expect(err).toBeInstanceOf(Error);
          expect(err instanceof WireError || /premature EOF|invalid wire type|cant skip|illegal/i.test(String(err))).toBe(true);
        }
      }),
      { seed: SEED, numRuns: 1000 },
    );
    expect(threw).toBeGreaterThan(100);
  });
});

describe('encoding RunFunctionResponse', () => {
  it('writes the bytes the SDK writes for every response the handler gives to generated requests (fast-check, 600 runs)', () => {
    let compared = 0;
    fc.assert(
      fc.property(fuzzCaseArb, ({ req, now }) => {
        fc.pre(crossesTheWire(req));
        const rsp = runFunction(req, { now: () => now });
        fc.pre(!JSON.stringify(rsp).includes('"__proto__"'));
        expect(encodeRunFunctionResponse(rsp).equals(Buffer.from(RunFunctionResponse.encode(rsp).finish()))).toBe(true);
        compared++;
      }),
      { seed: SEED, numRuns: 600 },
    );
    expect(compared).toBeGreaterThan(300);
  });

  it('writes the bytes the SDK writes for arbitrary JSON, results, conditions and requirements (fast-check, 300 runs)', () => {
    const json = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 6 }), { noNullPrototype: true });
    const label = fc.dictionary(fc.string(), fc.string(), { noNullPrototype: true });
    fc.assert(
      fc.property(
        json,
        json,
        label,
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (resource, context, labels, text, ttl) => {
          const rsp: RunFunctionResponse = {
            meta: { tag: text, ttl: { seconds: ttl, nanos: 5 } },
            desired: {
              composite: { resource, connectionDetails: { k: Buffer.from(text) }, ready: 1 },
              resources: { [text]: { resource: context, connectionDetails: {}, ready: 2 }, a: { resource: undefined, connectionDetails: {}, ready: 0 } },
            },
            results: [
              { severity: 1, message: text, target: 0 },
              { severity: 3, message: '', reason: text },
            ],
            context,
            requirements: {
              extraResources: { e: { apiVersion: 'v1', kind: 'K', matchLabels: { labels } } },
              resources: { [text]: { apiVersion: '', kind: 'V', matchName: text, namespace: 'ns' } },
              schemas: { s: { apiVersion: 'x/v1', kind: text } },
            },
            conditions: [{ type: text, status: 1, reason: 'R', message: text, target: 1 }],
            output: resource,
          };
          fc.pre(!JSON.stringify(rsp).includes('"__proto__"'));
          expect(encodeRunFunctionResponse(rsp).equals(Buffer.from(RunFunctionResponse.encode(rsp).finish()))).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('round-trips numbers the JSON way protobuf does: NaN, infinities, -0, huge and tiny values', () => {
    const obj = { nan: NaN, inf: Infinity, ninf: -Infinity, nz: -0, big: 1e308, tiny: 5e-324, int: 9007199254740991 };
    const back = decodeStruct(structBytes(obj));
    expect(back).toEqual(obj);
    expect(Object.is(back['nz'], -0)).toBe(true);
  });

  it('refuses values a Struct cannot carry, naming the type', () => {
    expect(() => structBytes({ f: () => 1 })).toThrow(/unsupported value type function/);
    expect(() => structBytes({ b: 10n })).toThrow(/unsupported value type bigint/);
  });

  it('encodes lengths that need several bytes (nested objects over 128 B, 16 KiB and 2 MiB)', () => {
    for (const size of [200, 20_000, 2_100_000]) {
      const obj = { outer: { inner: { s: 'x'.repeat(size), list: ['é'.repeat(size / 2), { k: true }] } } };
      expect(decodeStruct(structBytes(obj))).toEqual(obj);
    }
  });
});
