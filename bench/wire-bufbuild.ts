// The wire codec's primitives (Reader, Writer of function/protobuf.ts) built on
// @bufbuild/protobuf's BinaryReader and BinaryWriter instead of our own, behind
// the same interface, so function/request.ts, response.ts and protobuf.ts's
// Struct code run unchanged on either. Used only by bench/wire-primitives.ts,
// which bundles the codec once with each and measures them side by side.
// @bufbuild/protobuf is the SDK's own dependency (its generated codec uses it).
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { WireError, type UnknownFieldSink } from '../function/protobuf.js';
import type { MessageName } from '../function/wire-fields.js';

export * from '../function/protobuf.js';

/**
 * WIRE_BUFBUILD_NODE_UTF8=1: give BinaryReader Buffer's own UTF-8 decoding (what
 * ours uses) instead of its default TextDecoder, to tell the primitives' cost
 * from the UTF-8 decoder's.
 */
const nodeUtf8 = process.env['WIRE_BUFBUILD_NODE_UTF8'] === '1' ? (b: Uint8Array) => (b as Buffer).toString('utf8') : undefined;

export class Reader {
  private readonly r: BinaryReader;
  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly unknown: UnknownFieldSink | undefined = undefined,
  ) {
    this.r = nodeUtf8 ? new BinaryReader(buf, nodeUtf8) : new BinaryReader(buf);
    this.r.pos = pos;
  }

  get pos(): number {
    return this.r.pos;
  }
  set pos(v: number) {
    this.r.pos = v;
  }

  uint32(): number {
    return this.r.uint32();
  }

  int32(): number {
    return this.r.int32();
  }

  delimited(limit: number): number {
    const n = this.r.uint32();
    const end = this.r.pos + n;
    if (end > limit) throw new WireError(`reading a length-delimited field: ${n} bytes announced, ${limit - this.r.pos} left`);
    return end;
  }

  /** BinaryReader.string() reads its own length prefix; the codec has read it already, so decode as string() does. */
  string(end: number): string {
    const bytes = this.buf.subarray(this.r.pos, end);
    this.r.pos = end;
    return (this.r as unknown as { decodeUtf8(b: Uint8Array): string }).decodeUtf8(bytes);
  }

  double(limit: number): number {
    if (this.r.pos + 8 > limit) throw new WireError('reading a double: the message ends inside it');
    return this.r.double();
  }

  skipUnknown(message: MessageName, tag: number, limit: number): void {
    this.skipField(tag, limit);
    this.unknown?.count(message, tag >>> 3);
  }

  skipField(tag: number, limit: number): void {
    if (tag >>> 3 === 0) throw new WireError('reading a field: field number 0 is invalid');
    this.r.skip(tag & 7, tag >>> 3);
    if (this.r.pos > limit) throw new WireError(`skipping field ${tag >>> 3}: the message ends inside it`);
  }
}

export class Writer {
  private w = new BinaryWriter();
  constructor(_initial = 0) {}

  /** Only reset to 0 by response.ts before each response; BinaryWriter.finish() has reset already. */
  get pos(): number {
    return 0;
  }
  set pos(_v: number) {}
  /** response.ts drops a scratch writer grown past 1 MiB; BinaryWriter keeps nothing between responses. */
  get buf(): { length: number } {
    return { length: 0 };
  }

  uint32(v: number): void {
    this.w.uint32(v);
  }
  int32(v: number): void {
    this.w.int32(v);
  }
  int64(v: number): void {
    this.w.int64(v);
  }
  double(v: number): void {
    this.w.double(v);
  }
  string(s: string): void {
    this.w.string(s);
  }
  stringField(tag: number, s: string): void {
    this.w.uint32(tag).string(s);
  }
  int32Field(tag: number, v: number): void {
    this.w.uint32(tag).int32(v);
  }
  bytes(b: Uint8Array): void {
    this.w.bytes(b);
  }
  begin(tag: number): number {
    this.w.uint32(tag).fork();
    return 0;
  }
  finish(_mark: number): void {
    this.w.join();
  }
  take(): Buffer {
    const out = this.w.finish();
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}
