// Protobuf wire format for the parts of the RunFunction messages that cost:
// google.protobuf.Struct, which carries every Kubernetes object in a request
// and a response. The SDK decodes a Struct into intermediate Value messages
// and then unwraps them into JSON; here bytes become JSON in one pass, and a
// projection lets the caller skip, without materialising them, subtrees it
// never reads (an ACK Version's ~4 KB of status). Why this exists and what it
// saves: docs/performance.md. The SDK stays the reference: test/protobuf.test.ts
// checks that, without a projection, decoding and encoding agree with it.

import { END_GROUP, I32, I64, LEN, START_GROUP, VARINT, tagsOf, type MessageName } from './wire-fields.js';

/** Malformed protobuf bytes, with what was being read. */
export class WireError extends Error {
  override name = 'WireError';
}

/**
 * Told of every field a decoder skips because the table of field numbers
 * (wire-fields.ts) does not have it: protocol drift, for example a newer
 * Crossplane sending a field this build does not know. Called only on that
 * path, never for the fields the codec reads.
 */
export interface UnknownFieldSink {
  count(message: MessageName, field: number): void;
}

/**
 * Which keys of a Struct to decode. Keys not decoded are skipped on the wire.
 * A key in `skip` is dropped; when `only` is set, every key not in it is
 * dropped; `children` projects the (Struct) value of a key.
 */
export interface StructProjection {
  readonly only?: ReadonlySet<string>;
  readonly skip?: ReadonlySet<string>;
  readonly children?: Readonly<Record<string, StructProjection>>;
}

/**
 * How deep Structs and lists may nest. Kubernetes objects stay far below it;
 * the limit keeps hostile input from exhausting the stack.
 */
export const MAX_NESTING = 100;

/** How deeply (proto2) groups in skipped unknown fields may nest: hostile input must not exhaust the stack. */
const MAX_GROUP_DEPTH = 32;

// Tags, from the one table of field numbers (wire-fields.ts).
const STRUCT = tagsOf('Struct');
const VALUE = tagsOf('Value');
const LIST = tagsOf('ListValue');
const ENTRY = tagsOf('MapEntry');

// Buffer's own UTF-8 slice: what buf.toString('utf8', start, end) calls after
// normalising its arguments. Undocumented but present in every Node release;
// measured 20% faster over a whole request. Falls back to toString if a
// runtime lacks it.
type Utf8Slice = (this: Buffer, start: number, end: number) => string;
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: Utf8Slice }).utf8Slice;
const utf8Slice: Utf8Slice =
  typeof nativeUtf8Slice === 'function'
    ? nativeUtf8Slice
    : function (this: Buffer, start: number, end: number) {
        return this.toString('utf8', start, end);
      };

/** Strings longer than this are decoded each time: names are short, and the caches stay small. */
const CACHE_MAX_BYTES = 48;
/**
 * Direct-mapped: a string's hash picks its one slot, and a different string
 * with the same slot replaces it. Bounded whatever the input; a few hundred
 * names occur in practice, so they rarely meet.
 */
const CACHE_SLOTS = 4096;
const keyCache: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);
const valueCache: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);

/** The string V8 keeps as a property name, so reusing it as one needs no further lookup. */
function internalised(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/** A cursor over one protobuf message's bytes. */
export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos = 0,
    /** Where skipUnknown reports what it skipped. */
    readonly unknown: UnknownFieldSink | undefined = undefined,
  ) {
    this.pos = pos;
  }

  /** A varint's low 32 bits as an unsigned number (tags, lengths, enums, bools). */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80) return b;
    let v = b & 0x7f;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 7;
    if (b < 0x80) return v;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 14;
    if (b < 0x80) return v;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 21;
    if (b < 0x80) return v >>> 0;
    b = buf[this.pos++]!;
    v |= (b & 0x0f) << 28;
    // Bytes 6 to 10 of a 64-bit varint carry only high bits.
    for (let i = 5; b >= 0x80; i++) {
      if (i === 10) throw new WireError('reading a varint: longer than 10 bytes');
      b = buf[this.pos++]!;
    }
    if (this.pos > buf.length) throw new WireError('reading a varint: the message ends inside it');
    return v >>> 0;
  }

  /** An int32 field (enums): sign-extended on the wire, so negative values are 10-byte varints. */
  int32(): number {
    return this.uint32() | 0;
  }

  /** Reads a length prefix and returns where the delimited bytes end. */
  delimited(limit: number): number {
    const n = this.uint32();
    const end = this.pos + n;
    if (end > limit) throw new WireError(`reading a length-delimited field: ${n} bytes announced, ${limit - this.pos} left`);
    return end;
  }

  string(end: number): string {
    const start = this.pos;
    this.pos = end;
    // Measured: Node's native UTF-8 slice beats a JavaScript ASCII loop even for short keys.
    return utf8Slice.call(this.buf, start, end);
  }

  /**
   * A map key or Struct field name: short ASCII names repeat across every
   * request (apiVersion, metadata, spec, ...), so they come from a bounded
   * process-wide cache of internalised strings instead of a fresh string per
   * occurrence, which V8 would have to internalise again when it becomes a
   * property name. Anything else decodes like string().
   */
  key(end: number): string {
    return this.cached(end, keyCache, true);
  }

  /**
   * A Struct string value: short ASCII values repeat too (apiVersion, kind,
   * names, condition types and reasons), so they come from a cache of their
   * own, which values that change every call (timestamps, resourceVersion)
   * churn without evicting names.
   */
  stringValue(end: number): string {
    return this.cached(end, valueCache, false);
  }

  private cached(end: number, cache: (string | undefined)[], asName: boolean): string {
    const start = this.pos;
    this.pos = end;
    const len = end - start;
    const buf = this.buf;
    if (len === 0 || len > CACHE_MAX_BYTES) return utf8Slice.call(buf, start, end);
    // The slot: a mix of the length and five of the bytes (names differ at
    // their ends: version-app-v5, app-v6); the comparison below reads them all.
    let h = Math.imul(len, 0x9e3779b1) ^ buf[start]!;
    h = Math.imul(h, 0x01000193) ^ buf[end - 1]!;
    h = Math.imul(h, 0x01000193) ^ buf[start + (len >> 1)]!;
    h = Math.imul(h, 0x01000193) ^ buf[end - 1 - (len >> 2)]!;
    h = Math.imul(h, 0x01000193) ^ buf[start + (len >> 2)]!;
    h ^= h >>> 15;
    const slot = h & (CACHE_SLOTS - 1);
    const hit = cache[slot];
    // A hit equals the bytes unit for byte; cached strings are ASCII (below),
    // so the bytes are that string.
    if (hit !== undefined && hit.length === len) {
      let i = 0;
      while (i < len && hit.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return hit;
    }
    const s = utf8Slice.call(buf, start, end);
    // One UTF-16 unit per byte means ASCII, or invalid bytes decoded to U+FFFD,
    // which never equals a byte, so such a string is never hit. Anything else
    // (multi-byte UTF-8) decodes shorter and is not cached.
    if (s.length !== len) return s;
    const kept = asName ? internalised(s) : s;
    cache[slot] = kept;
    return kept;
  }

  double(limit: number): number {
    if (this.pos + 8 > limit) throw new WireError('reading a double: the message ends inside it');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Skips a field of `message` whose tag was just read and which the codec does not know, and reports it. */
  skipUnknown(message: MessageName, tag: number, limit: number): void {
    this.skipField(tag, limit);
    this.unknown?.count(message, tag >>> 3);
  }

  /** Skips the field whose tag was just read. */
  skipField(tag: number, limit: number, groupDepth = 0): void {
    if (tag >>> 3 === 0) throw new WireError('reading a field: field number 0 is invalid');
    switch (tag & 7) {
      case VARINT:
        this.uint32();
        break;
      case I64:
        this.pos += 8;
        break;
      case LEN:
        this.pos = this.delimited(limit);
        break;
      case I32:
        this.pos += 4;
        break;
      case START_GROUP: {
        // Deprecated groups: skip nested fields until the matching end tag.
        if (groupDepth >= MAX_GROUP_DEPTH) throw new WireError(`skipping a group: nested deeper than ${MAX_GROUP_DEPTH} levels`);
        for (;;) {
          if (this.pos >= limit) throw new WireError('skipping a group: no end-group tag');
          const t = this.uint32();
          if ((t & 7) === END_GROUP) {
            if (t >>> 3 !== tag >>> 3) throw new WireError('skipping a group: mismatched end-group tag');
            break;
          }
          this.skipField(t, limit, groupDepth + 1);
        }
        break;
      }
      default:
        throw new WireError(`skipping field ${tag >>> 3}: invalid wire type ${tag & 7}`);
    }
    if (this.pos > limit) throw new WireError(`skipping field ${tag >>> 3}: the message ends inside it`);
  }
}

/** Assigns obj[key] as an own property, also for "__proto__", which plain assignment would turn into a prototype. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function keep(p: StructProjection | undefined, key: string): boolean {
  if (p === undefined) return true;
  if (p.only !== undefined && !p.only.has(key)) return false;
  return p.skip === undefined || !p.skip.has(key);
}

/**
 * Decodes a google.protobuf.Struct ending at `end` into a JSON object, as the
 * SDK's Struct.unwrap(Struct.decode()) would, minus what `projection` drops.
 */
export function readStruct(r: Reader, end: number, projection?: StructProjection, depth = 0): Record<string, unknown> {
  if (depth >= MAX_NESTING) throw new WireError(`decoding a Struct: nested deeper than ${MAX_NESTING} levels`);
  const obj: Record<string, unknown> = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== STRUCT.fields) {
      r.skipUnknown('Struct', tag, end);
      continue;
    }
    // map<string, Value> entry: key = 1, value = 2, in either order.
    const entryEnd = r.delimited(end);
    let key = '';
    let valueStart = -1;
    let valueEnd = -1;
    while (r.pos < entryEnd) {
      const t = r.uint32();
      if (t === ENTRY.key) key = r.key(r.delimited(entryEnd));
      else if (t === ENTRY.value) {
        valueEnd = r.delimited(entryEnd);
        valueStart = r.pos;
        r.pos = valueEnd;
      } else r.skipUnknown('MapEntry', t, entryEnd);
    }
    r.pos = entryEnd;
    if (valueStart < 0 || !keep(projection, key)) continue;
    r.pos = valueStart;
    const value = readValue(r, valueEnd, projection?.children?.[key], depth + 1);
    r.pos = entryEnd;
    // The SDK leaves out a key whose Value has no kind set.
    if (value !== undefined) setOwn(obj, key, value);
  }
  if (r.pos !== end) throw new WireError('decoding a Struct: a field runs past its end');
  return obj;
}

function readList(r: Reader, end: number, depth: number): unknown[] {
  if (depth >= MAX_NESTING) throw new WireError(`decoding a ListValue: nested deeper than ${MAX_NESTING} levels`);
  const list: unknown[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag !== LIST.values) {
      r.skipUnknown('ListValue', tag, end);
      continue;
    }
    const valueEnd = r.delimited(end);
    list.push(readValue(r, valueEnd, undefined, depth + 1));
    r.pos = valueEnd;
  }
  if (r.pos !== end) throw new WireError('decoding a ListValue: a field runs past its end');
  return list;
}

/**
 * A google.protobuf.Value as JSON. A Value is a oneof; if the wire carries
 * several of its fields, the SDK's precedence applies (string, number, bool,
 * struct, list, null) and, within one field, the last occurrence wins.
 */
function readValue(r: Reader, end: number, projection: StructProjection | undefined, depth: number): unknown {
  let str: string | undefined;
  let num: number | undefined;
  let bool: boolean | undefined;
  let struct: Record<string, unknown> | undefined;
  let list: unknown[] | undefined;
  let isNull = false;
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case VALUE.nullValue:
        r.uint32();
        isNull = true;
        break;
      case VALUE.numberValue:
        num = r.double(end);
        break;
      case VALUE.stringValue:
        str = r.stringValue(r.delimited(end));
        break;
      case VALUE.boolValue:
        bool = r.uint32() !== 0;
        break;
      case VALUE.structValue: {
        const e = r.delimited(end);
        struct = readStruct(r, e, projection, depth);
        r.pos = e;
        break;
      }
      case VALUE.listValue: {
        const e = r.delimited(end);
        list = readList(r, e, depth);
        r.pos = e;
        break;
      }
      default:
        r.skipUnknown('Value', tag, end);
    }
  }
  if (r.pos !== end) throw new WireError('decoding a Value: a field runs past its end');
  if (str !== undefined) return str;
  if (num !== undefined) return num;
  if (bool !== undefined) return bool;
  if (struct !== undefined) return struct;
  if (list !== undefined) return list;
  return isNull ? null : undefined;
}

/** An append-only byte buffer that grows by doubling. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  ensure(need: number): void {
    if (this.pos + need > this.buf.length) this.grow(need);
  }

  /** An unsigned varint up to 2^32 - 1 (tags, lengths). */
  uint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    while (v > 0x7f) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  /** An int32 or enum: negative values sign-extend to ten bytes, as protobuf requires. */
  int32(v: number): void {
    if (v >= 0) this.uint32(v);
    else this.int64(v);
  }

  /** An int64 given as a safe integer. */
  int64(v: number): void {
    if (v >= 0 && v <= 0xffffffff) {
      this.uint32(v);
      return;
    }
    this.ensure(10);
    let n = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    while (n > 0x7fn) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string. */
  string(s: string): void {
    const n = s.length;
    // Short ASCII strings: write the bytes directly; the length is the byte count.
    if (n < 128) {
      this.ensure(1 + n);
      const buf = this.buf;
      const at = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + 1 + i] = c;
      }
      if (i === n) {
        buf[at] = n;
        this.pos = at + 1 + n;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.uint32(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A field's tag, then its string value. */
  stringField(tag: number, s: string): void {
    this.uint32(tag);
    this.string(s);
  }

  /** A field's tag, then its int32 or enum value. */
  int32Field(tag: number, v: number): void {
    this.uint32(tag);
    this.int32(v);
  }

  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Starts a length-delimited field; pass the result to `finish` once its content is written. */
  begin(tag: number): number {
    this.uint32(tag);
    this.ensure(1);
    // One byte reserved for the length; `finish` moves the content when it needs more.
    return this.pos++;
  }

  finish(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 0x80) {
      this.buf[mark] = len;
      return;
    }
    const extra = len < 1 << 14 ? 1 : len < 1 << 21 ? 2 : len < 1 << 28 ? 3 : 4;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    this.pos += extra;
    let v = len;
    let at = mark;
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
  }

  /** A copy of what was written, sized to fit. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** Encodes a JSON object as google.protobuf.Struct fields (without an outer tag), as the SDK's Struct.wrap + encode. */
export function writeStruct(w: Writer, obj: Record<string, unknown>, depth = 0): void {
  if (depth >= MAX_NESTING) throw new WireError(`encoding a Struct: nested deeper than ${MAX_NESTING} levels`);
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined) continue;
    const entry = w.begin(STRUCT.fields);
    if (key !== '') w.stringField(ENTRY.key, key);
    const v = w.begin(ENTRY.value);
    writeValue(w, value, depth + 1);
    w.finish(v);
    w.finish(entry);
  }
}

function writeValue(w: Writer, value: unknown, depth: number): void {
  switch (typeof value) {
    case 'string':
      w.uint32(VALUE.stringValue);
      w.string(value);
      return;
    case 'number':
      w.uint32(VALUE.numberValue);
      w.double(value);
      return;
    case 'boolean':
      w.uint32(VALUE.boolValue);
      w.uint32(value ? 1 : 0);
      return;
    case 'undefined':
      // Only reachable inside a list: the SDK writes an empty Value.
      return;
    case 'object': {
      if (value === null) {
        w.uint32(VALUE.nullValue);
        w.uint32(0);
        return;
      }
      if (Array.isArray(value)) {
        if (depth >= MAX_NESTING) throw new WireError(`encoding a ListValue: nested deeper than ${MAX_NESTING} levels`);
        const list = w.begin(VALUE.listValue);
        for (const item of value as unknown[]) {
          const m = w.begin(LIST.values);
          writeValue(w, item, depth + 1);
          w.finish(m);
        }
        w.finish(list);
        return;
      }
      const s = w.begin(VALUE.structValue);
      writeStruct(w, value as Record<string, unknown>, depth);
      w.finish(s);
      return;
    }
    default:
      throw new WireError(`encoding a Struct: unsupported value type ${typeof value}`);
  }
}
