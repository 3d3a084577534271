// The wire codec's table of field numbers (function/wire/wire-fields.ts) against
// the protocol as the SDK dependency encodes it:
//
// - every number and wire type in the table is derived from the SDK's own
//   generated encoder: a message with only that field set, encoded, and its
//   first tag read;
// - the drift guard: the SDK's messages and the table have the same fields, in
//   both directions (a field the SDK gained that the codec would skip or never
//   write; a field in the table the SDK no longer has), every generated message
//   is accounted for, and every map field has its *Entry message;
// - every field of the table goes through the codec: a request and a response
//   with every field set decode and encode exactly as the SDK's codec does.
//
// The SDK's package exports only some of its generated messages, so its
// generated modules (dist/proto/**.js) are loaded by file, next to the entry
// point; the test checks that they are the very objects the package exports.
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as sdk from '@crossplane-org/function-sdk-typescript';
import { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeRunFunctionRequest } from '../function/wire/request.js';
import { encodeRunFunctionResponse } from '../function/wire/response.js';
import { DELEGATED_TO_SDK, WIRE_FIELDS, type Field, type MessageName } from '../function/wire/wire-fields.js';
import { same } from './support/arbitraries.js';

type Obj = Record<string, unknown>;
type Table = Readonly<Record<string, Readonly<Record<string, Field>>>>;

/** What a ts-proto generated message object offers. */
interface MessageFns {
  encode(message: unknown): { finish(): Uint8Array };
  fromPartial(object: unknown): Obj;
}

const TABLE: Table = WIRE_FIELDS;
const DELEGATED: ReadonlySet<string> = new Set(DELEGATED_TO_SDK);

/** The SDK's generated modules, found from its entry point. */
const PROTO_DIR = join(dirname(fileURLToPath(import.meta.resolve('@crossplane-org/function-sdk-typescript'))), 'proto');

function sdkProtoFiles(): string[] {
  const files = readdirSync(PROTO_DIR, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(PROTO_DIR, f));
  return files.sort();
}

/** Every generated message of the SDK by name (ts-proto names nested messages Parent_Child). */
let MESSAGES: Map<string, MessageFns>;
let FILES: string[];
beforeAll(async () => {
  FILES = sdkProtoFiles();
  MESSAGES = new Map();
  for (const file of FILES) {
    const mod = (await import(pathToFileURL(file).href)) as Obj;
    for (const [name, v] of Object.entries(mod)) {
      if (typeof v === 'object' && v !== null && typeof (v as Obj)['encode'] === 'function' && typeof (v as Obj)['fromPartial'] === 'function') {
        if (MESSAGES.has(name)) throw new Error(`two generated messages named ${name}`);
        MESSAGES.set(name, v as MessageFns);
      }
    }
  }
});

const isEntry = (name: string) => name.endsWith('Entry');

/** The map field an *Entry message belongs to: RunFunctionRequest_ExtraResourcesEntry -> RunFunctionRequest.extraResources. */
function entryParent(name: string): { message: string; field: string } | undefined {
  const m = /^(.+)_([A-Z][A-Za-z0-9]*)Entry$/.exec(name);
  return m ? { message: m[1]!, field: m[2]![0]!.toLowerCase() + m[2]!.slice(1) } : undefined;
}

/** The smallest non-default value of a field, which the SDK's encoder writes. */
function oneValue(f: Field): unknown {
  const v = scalarOrEmpty(f.type);
  if (f.map) return { k: v };
  if (f.repeated) return [v];
  return v;
}

function scalarOrEmpty(type: Field['type']): unknown {
  switch (type) {
    case 'string':
      return 'x';
    case 'bytes':
      return Buffer.from([1]);
    case 'bool':
      return true;
    case 'double':
      return 1.5;
    case 'int32':
    case 'int64':
    case 'enum':
      return 1;
    case 'ListValue':
      return []; // the SDK represents a ListValue as a JSON array
    case 'Value':
      return 1; // ... and a Value as a JSON value
    default:
      return {}; // a message (or a Struct: a JSON object), empty but present
  }
}

function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 35; shift += 7, i++) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if (bytes[i]! < 0x80) return { value, next: i + 1 };
  }
  throw new Error('no varint');
}

/** The field number and wire type of the first tag the SDK writes for `message` with only `field` set to `value`. */
function sdkFirstTag(message: string, field: string, value: unknown): { no: number; wire: number } {
  const fns = MESSAGES.get(message);
  if (!fns) throw new Error(`the SDK has no message ${message}`);
  const bytes = fns.encode(fns.fromPartial({ [field]: value })).finish();
  if (bytes.length === 0) throw new Error(`the SDK wrote nothing for ${message}.${field} = ${JSON.stringify(value)}`);
  const tag = readVarint(bytes, 0).value;
  return { no: Math.floor(tag / 8), wire: tag % 8 };
}

/** Where the table's numbers and wire types differ from what the SDK's encoder writes. */
function numberProblems(table: Table): string[] {
  const problems: string[] = [];
  const check = (where: string, f: Field, got: { no: number; wire: number }) => {
    if (f.tag !== f.no * 8 + f.wire) problems.push(`${where}: tag ${f.tag} is not ${f.no} << 3 | ${f.wire}`);
    if (got.no !== f.no || got.wire !== f.wire) {
      problems.push(`${where}: the table says field ${f.no} wire type ${f.wire}, the SDK writes field ${got.no} wire type ${got.wire}`);
    }
  };
  for (const [message, fields] of Object.entries(table)) {
    if (message === 'MapEntry') continue;
    for (const [name, f] of Object.entries(fields)) check(`${message}.${name}`, f, sdkFirstTag(message, name, oneValue(f)));
  }
  // Every *Entry message of a map the table has: key and value.
  const entry = table['MapEntry']!;
  for (const name of MESSAGES.keys()) {
    const parent = entryParent(name);
    const mapField = parent && table[parent.message]?.[parent.field];
    if (!mapField) continue;
    check(`${name}.key`, entry['key']!, sdkFirstTag(name, 'key', 'k'));
    check(`${name}.value`, entry['value']!, sdkFirstTag(name, 'value', scalarOrEmpty(mapField.type)));
  }
  return problems;
}

/** Where the SDK's messages and the table no longer have the same fields (both directions). */
function driftProblems(table: Table, delegated: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const fix = 'add it to function/wire/wire-fields.ts and to the codec (request.ts, response.ts, protobuf.ts), or to DELEGATED_TO_SDK';
  for (const [name, fns] of MESSAGES) {
    if (isEntry(name)) {
      const parent = entryParent(name);
      if (!parent) problems.push(`the SDK's ${name} is not named Parent_FieldEntry`);
      else if (delegated.has(parent.message)) continue;
      else if (!table[parent.message]?.[parent.field]?.map)
        problems.push(`the SDK's map entry ${name} has no map field ${parent.message}.${parent.field} in the table`);
      continue;
    }
    if (delegated.has(name)) continue;
    const ours = table[name];
    if (!ours) {
      problems.push(`the SDK has a message ${name} the codec does not know: ${fix}`);
      continue;
    }
    // fromPartial({}) returns every field with its default (ts-proto's createBase*).
    const theirs = Object.keys(fns.fromPartial({}));
    for (const f of theirs) if (!(f in ours)) problems.push(`the SDK's ${name} has a field ${f} the codec does not handle: ${fix}`);
    for (const f of Object.keys(ours)) if (!theirs.includes(f)) problems.push(`the table's ${name}.${f} is not a field of the SDK's ${name} any more`);
  }
  for (const name of Object.keys(table)) {
    if (name !== 'MapEntry' && !MESSAGES.has(name)) problems.push(`the table's message ${name} is not one of the SDK's`);
  }
  for (const name of delegated) if (!MESSAGES.has(name)) problems.push(`DELEGATED_TO_SDK names ${name}, which is not one of the SDK's messages`);
  for (const [message, fields] of Object.entries(table)) {
    for (const [name, f] of Object.entries(fields)) {
      const t = f.type;
      if (/^[A-Z]/.test(t) && !(t in table) && !delegated.has(t)) problems.push(`${message}.${name} holds ${t}, neither in the table nor delegated`);
      if (f.map && ![...MESSAGES.keys()].some((e) => entryParent(e)?.message === message && entryParent(e)?.field === name)) {
        problems.push(`the table's map ${message}.${name} has no *Entry message in the SDK`);
      }
    }
  }
  return problems;
}

/** A copy of the table with one message's fields replaced. */
function withFields(message: MessageName, fields: Record<string, Field>): Table {
  return { ...TABLE, [message]: fields };
}

describe('the table of field numbers (function/wire/wire-fields.ts)', () => {
  it('loads the generated messages the SDK exports, from its generated modules', () => {
    expect(FILES.map((f) => relative(PROTO_DIR, f))).toEqual(expect.arrayContaining(['run_function.js', join('google', 'protobuf', 'struct.js')]));
    for (const name of ['RunFunctionRequest', 'RunFunctionResponse', 'State', 'Resource', 'Condition', 'Result', 'ResourceSelector'] as const) {
      expect(MESSAGES.get(name), name).toBe(sdk[name]);
    }
    expect([...MESSAGES.keys()]).toEqual(expect.arrayContaining(['RequestMeta', 'ResponseMeta', 'Struct', 'Value', 'ListValue', 'Duration', 'MatchLabels']));
  });

  it("has every field's number and wire type as the SDK's encoder writes them", () => {
    expect(numberProblems(TABLE)).toEqual([]);
  });

  it('has the same fields as the SDK, message by message, in both directions (the drift guard)', () => {
    expect(driftProblems(TABLE, DELEGATED)).toEqual([]);
  });

  it('catches a wrong number, a wrong wire type, a field the SDK gained, one it lost, a message it gained', () => {
    const cond = WIRE_FIELDS.Condition;
    const renumbered = withFields('Condition', { ...cond, reason: { ...cond.reason, no: 9, tag: (9 << 3) | 2 } });
    expect(numberProblems(renumbered)).toEqual([expect.stringMatching(/^Condition\.reason: the table says field 9 wire type 2, the SDK writes field 3/)]);
    const rewired = withFields('Condition', { ...cond, status: { ...cond.status, wire: 2, tag: (2 << 3) | 2 } });
    expect(numberProblems(rewired)).toEqual([
      expect.stringMatching(/^Condition\.status: the table says field 2 wire type 2, the SDK writes field 2 wire type 0/),
    ]);

    const { target: _target, ...lacking } = cond;
    expect(driftProblems(withFields('Condition', lacking), DELEGATED)).toEqual([
      expect.stringMatching(/^the SDK's Condition has a field target the codec does not handle/),
    ]);
    const extra = withFields('Condition', { ...cond, severity: cond.status });
    expect(driftProblems(extra, DELEGATED)).toEqual(["the table's Condition.severity is not a field of the SDK's Condition any more"]);
    const { Duration: _duration, ...noDuration } = TABLE;
    expect(driftProblems(noDuration, DELEGATED)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^the SDK has a message Duration the codec does not know/),
        'ResponseMeta.ttl holds Duration, neither in the table nor delegated',
      ]),
    );
    expect(driftProblems(TABLE, new Set(['Credentials', 'CredentialData']))).toEqual([
      expect.stringMatching(/^the SDK has a message Schema the codec does not know/),
      'RunFunctionRequest.requiredSchemas holds Schema, neither in the table nor delegated',
    ]);
  });
});

/** A value for every field, recursively: what a message looks like with everything set. */
function full(type: Field['type'], depth = 0): unknown {
  if (type === 'Struct') return { s: 'x', n: 1.5, b: true, z: null, l: [1, 'a', [], {}], o: { k: 'v', e: {} } };
  if (type === 'Duration') return { seconds: 3, nanos: 7 };
  const fields = (TABLE as Record<string, Record<string, Field> | undefined>)[type];
  if (!fields) return scalarOrEmpty(type) === 1 ? 2 : scalarOrEmpty(type);
  if (depth > 4) throw new Error(`${type} nests too deep`);
  const obj: Obj = {};
  for (const [name, f] of Object.entries(fields)) {
    const v = f.type === 'enum' ? 1 : full(f.type, depth + 1);
    obj[name] = f.map ? { k: v, '': v } : f.repeated ? [v, v] : v;
  }
  return obj;
}

describe('every field of the table goes through the codec', () => {
  it('decodes a request with every field set as the SDK does', () => {
    const req = RunFunctionRequest.fromPartial(full('RunFunctionRequest') as Parameters<typeof RunFunctionRequest.fromPartial>[0]);
    const bytes = Buffer.from(RunFunctionRequest.encode(req).finish());
    const ours = decodeRunFunctionRequest(bytes);
    const theirs = RunFunctionRequest.decode(bytes);
    expect(ours).toEqual(theirs);
    expect(same(ours, theirs)).toBe(true);
    // Nothing was left at its default: each field of the table was on the wire.
    expect(theirs.meta?.capabilities).toEqual([1, 1]);
    expect(theirs.observed?.resources['k']?.connectionDetails['k']).toEqual(Buffer.from([1]));
    expect(theirs.observed?.resources['k']?.ready).toBe(1);
  });

  it('encodes a response with every field set to the bytes the SDK writes', () => {
    const rsp = RunFunctionResponse.fromPartial(full('RunFunctionResponse') as Parameters<typeof RunFunctionResponse.fromPartial>[0]);
    expect(rsp.meta?.ttl).toEqual({ seconds: 3, nanos: 7 });
    expect(rsp.requirements?.resources['k']?.matchLabels?.labels).toEqual({ k: 'x', '': 'x' });
    expect(encodeRunFunctionResponse(rsp).equals(Buffer.from(RunFunctionResponse.encode(rsp).finish()))).toBe(true);
  });
});
