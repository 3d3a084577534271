// Decodes a RunFunctionRequest from the wire into the SDK's RunFunctionRequest
// shape, with Structs decoded in one pass (protobuf.ts) and, optionally,
// observed composed and required resources projected to what the function
// reads. Everything else (the XR, desired state, input, context) is decoded
// whole: desired state and context pass through to the response unchanged.
import { Credentials, Schema, type RunFunctionRequest, type Resource, type Resources } from '@crossplane-org/function-sdk-typescript';
import { Reader, WireError, readStruct, setOwn, type StructProjection, type UnknownFieldSink } from './protobuf.js';
import { VARINT, WIRE_FIELDS, tagsOf } from './wire-fields.js';

// Tags, from the one table of field numbers (wire-fields.ts).
const REQUEST = tagsOf('RunFunctionRequest');
const META = tagsOf('RequestMeta');
/** RequestMeta.capabilities unpacked: one varint per element, which a decoder must accept too. */
const META_CAPABILITY_UNPACKED = (WIRE_FIELDS.RequestMeta.capabilities.no << 3) | VARINT;
const STATE = tagsOf('State');
const RESOURCES = tagsOf('Resources');
const RESOURCE = tagsOf('Resource');
const ENTRY = tagsOf('MapEntry');

export interface RequestProjection {
  /** Applied to each observed composed resource (not the observed XR). */
  observedResource?: StructProjection;
  /** Applied to each required (and extra) resource. */
  requiredResource?: StructProjection;
}

/**
 * The RunFunctionRequest in `bytes`. Throws WireError on malformed bytes
 * (grpc-js then answers INTERNAL, as it would for any undecodable message).
 * Fields the codec does not know are skipped, as protobuf requires, and
 * reported to `unknown` (the server's unknown-wire-fields metric).
 */
export function decodeRunFunctionRequest(bytes: Uint8Array, projection: RequestProjection = {}, unknown?: UnknownFieldSink): RunFunctionRequest {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, 0, unknown);
  const end = buf.length;
  const req: RunFunctionRequest = {
    meta: undefined,
    observed: undefined,
    desired: undefined,
    input: undefined,
    context: undefined,
    extraResources: {},
    credentials: {},
    requiredResources: {},
    requiredSchemas: {},
  };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case REQUEST.meta: {
        const e = r.delimited(end);
        req.meta = readRequestMeta(r, e);
        break;
      }
      case REQUEST.observed: {
        const e = r.delimited(end);
        req.observed = readState(r, e, projection.observedResource);
        break;
      }
      case REQUEST.desired: {
        const e = r.delimited(end);
        req.desired = readState(r, e, undefined);
        break;
      }
      case REQUEST.input: {
        const e = r.delimited(end);
        req.input = readStruct(r, e);
        break;
      }
      case REQUEST.context: {
        const e = r.delimited(end);
        req.context = readStruct(r, e);
        break;
      }
      case REQUEST.extraResources:
        readMapEntry(r, end, req.extraResources, (e) => readResources(r, e, projection.requiredResource));
        break;
      case REQUEST.credentials:
        readMapEntry(r, end, req.credentials, (e) => Credentials.decode(buf.subarray(r.pos, e)));
        break;
      case REQUEST.requiredResources:
        readMapEntry(r, end, req.requiredResources, (e) => readResources(r, e, projection.requiredResource));
        break;
      case REQUEST.requiredSchemas:
        readMapEntry(r, end, req.requiredSchemas, (e) => Schema.decode(buf.subarray(r.pos, e)));
        break;
      default:
        r.skipUnknown('RunFunctionRequest', tag, end);
    }
  }
  if (r.pos !== end) throw new WireError('decoding RunFunctionRequest: a field runs past the end of the message');
  return req;
}

/**
 * One entry of a map<string, Message> field: key = 1, value = 2. An entry
 * without a value is left out, as the SDK does, unless the value type has a
 * default (`absent`: bytes default to empty).
 */
function readMapEntry<T>(r: Reader, limit: number, into: Record<string, T>, readValue: (end: number) => T, absent?: () => T): void {
  const end = r.delimited(limit);
  let key = '';
  let value: T | undefined = absent?.();
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ENTRY.key) key = r.key(r.delimited(end));
    else if (t === ENTRY.value) {
      const e = r.delimited(end);
      value = readValue(e);
      r.pos = e;
    } else r.skipUnknown('MapEntry', t, end);
  }
  if (r.pos !== end) throw new WireError('decoding a map entry: a field runs past its end');
  if (value !== undefined) setOwn(into, key, value);
}

function readRequestMeta(r: Reader, end: number): NonNullable<RunFunctionRequest['meta']> {
  const meta: NonNullable<RunFunctionRequest['meta']> = { tag: '', capabilities: [] };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === META.tag) meta.tag = r.string(r.delimited(end));
    else if (tag === META_CAPABILITY_UNPACKED) meta.capabilities.push(r.int32());
    else if (tag === META.capabilities) {
      // Packed repeated enum.
      const e = r.delimited(end);
      while (r.pos < e) meta.capabilities.push(r.int32());
      if (r.pos !== e) throw new WireError('decoding RequestMeta.capabilities: a varint runs past the packed field');
    } else r.skipUnknown('RequestMeta', tag, end);
  }
  if (r.pos !== end) throw new WireError('decoding RequestMeta: a field runs past its end');
  return meta;
}

function readState(r: Reader, end: number, projection: StructProjection | undefined): NonNullable<RunFunctionRequest['observed']> {
  const state: NonNullable<RunFunctionRequest['observed']> = { composite: undefined, resources: {} };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === STATE.composite) {
      const e = r.delimited(end);
      // The composite resource is never projected: its spec and status drive everything.
      state.composite = readResource(r, e, undefined);
      r.pos = e;
    } else if (tag === STATE.resources) {
      readMapEntry(r, end, state.resources, (e) => readResource(r, e, projection));
    } else r.skipUnknown('State', tag, end);
  }
  if (r.pos !== end) throw new WireError('decoding State: a field runs past its end');
  return state;
}

function readResources(r: Reader, end: number, projection: StructProjection | undefined): Resources {
  const items: Resource[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === RESOURCES.items) {
      const e = r.delimited(end);
      items.push(readResource(r, e, projection));
      r.pos = e;
    } else r.skipUnknown('Resources', tag, end);
  }
  if (r.pos !== end) throw new WireError('decoding Resources: a field runs past its end');
  return { items };
}

function readResource(r: Reader, end: number, projection: StructProjection | undefined): Resource {
  const res: Resource = { resource: undefined, connectionDetails: {}, ready: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === RESOURCE.resource) {
      const e = r.delimited(end);
      res.resource = readStruct(r, e, projection);
      r.pos = e;
    } else if (tag === RESOURCE.connectionDetails) {
      readMapEntry(
        r,
        end,
        res.connectionDetails,
        (e) => Buffer.from(r.buf.subarray(r.pos, e)),
        () => Buffer.alloc(0),
      );
    } else if (tag === RESOURCE.ready) {
      res.ready = r.int32();
    } else r.skipUnknown('Resource', tag, end);
  }
  if (r.pos !== end) throw new WireError('decoding Resource: a field runs past its end');
  return res;
}
