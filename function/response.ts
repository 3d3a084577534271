// Encodes a RunFunctionResponse to the wire: the same bytes the SDK's
// RunFunctionResponse.encode produces (test/protobuf.test.ts compares them),
// written in one pass into one growing buffer instead of the SDK's forked
// writers and wrapped Value messages.
import type {
  Condition,
  Requirements,
  Resource,
  ResourceSelector,
  Result,
  RunFunctionResponse,
  SchemaSelector,
  State,
} from '@crossplane-org/function-sdk-typescript';
import { Writer, writeStruct } from './protobuf.js';

// Reused across calls: encoding is synchronous and `take` copies the result out.
let scratch: Writer | undefined;

export function encodeRunFunctionResponse(rsp: RunFunctionResponse): Buffer {
  const w = (scratch ??= new Writer(64 * 1024));
  w.pos = 0;
  try {
    writeResponse(w, rsp);
    return w.take();
  } finally {
    // Do not keep a buffer grown for one huge response.
    if (w.buf.length > 1024 * 1024) scratch = undefined;
  }
}

function writeResponse(w: Writer, rsp: RunFunctionResponse): void {
  if (rsp.meta !== undefined) {
    const m = w.begin(10);
    if (rsp.meta.tag !== '') w.stringField(10, rsp.meta.tag);
    if (rsp.meta.ttl !== undefined) {
      const d = w.begin(18);
      if (rsp.meta.ttl.seconds !== 0) {
        w.uint32(8);
        w.int64(rsp.meta.ttl.seconds);
      }
      if (rsp.meta.ttl.nanos !== 0) w.int32Field(16, rsp.meta.ttl.nanos);
      w.finish(d);
    }
    w.finish(m);
  }
  if (rsp.desired !== undefined) {
    const s = w.begin(18);
    writeState(w, rsp.desired);
    w.finish(s);
  }
  for (const result of rsp.results) {
    const m = w.begin(26);
    writeResult(w, result);
    w.finish(m);
  }
  if (rsp.context !== undefined) {
    const m = w.begin(34);
    writeStruct(w, rsp.context);
    w.finish(m);
  }
  if (rsp.requirements !== undefined) {
    const m = w.begin(42);
    writeRequirements(w, rsp.requirements);
    w.finish(m);
  }
  for (const condition of rsp.conditions) {
    const m = w.begin(50);
    writeCondition(w, condition);
    w.finish(m);
  }
  if (rsp.output !== undefined) {
    const m = w.begin(58);
    writeStruct(w, rsp.output);
    w.finish(m);
  }
}

/** map<string, Message> entry: key = 1 (omitted when empty), value = 2. */
function writeEntry<T>(w: Writer, tag: number, key: string, value: T | undefined, writeValue: (w: Writer, v: T) => void): void {
  const e = w.begin(tag);
  if (key !== '') w.stringField(10, key);
  if (value !== undefined) {
    const v = w.begin(18);
    writeValue(w, value);
    w.finish(v);
  }
  w.finish(e);
}

function writeState(w: Writer, state: State): void {
  if (state.composite !== undefined) {
    const m = w.begin(10);
    writeResource(w, state.composite);
    w.finish(m);
  }
  for (const [key, value] of Object.entries(state.resources)) {
    writeEntry(w, 18, key, value, writeResource);
  }
}

function writeResource(w: Writer, res: Resource): void {
  if (res.resource !== undefined) {
    const m = w.begin(10);
    writeStruct(w, res.resource);
    w.finish(m);
  }
  for (const [key, value] of Object.entries(res.connectionDetails)) {
    if (value === undefined) continue;
    const e = w.begin(18);
    if (key !== '') w.stringField(10, key);
    if (value.length !== 0) {
      w.uint32(18);
      w.bytes(value);
    }
    w.finish(e);
  }
  if (res.ready !== 0) w.int32Field(24, res.ready);
}

function writeResult(w: Writer, r: Result): void {
  if (r.severity !== 0) w.int32Field(8, r.severity);
  if (r.message !== '') w.stringField(18, r.message);
  if (r.reason !== undefined) w.stringField(26, r.reason);
  if (r.target !== undefined) w.int32Field(32, r.target);
}

function writeCondition(w: Writer, c: Condition): void {
  if (c.type !== '') w.stringField(10, c.type);
  if (c.status !== 0) w.int32Field(16, c.status);
  if (c.reason !== '') w.stringField(26, c.reason);
  if (c.message !== undefined) w.stringField(34, c.message);
  if (c.target !== undefined) w.int32Field(40, c.target);
}

function writeRequirements(w: Writer, req: Requirements): void {
  for (const [key, value] of Object.entries(req.extraResources)) {
    writeEntry(w, 10, key, value, writeResourceSelector);
  }
  for (const [key, value] of Object.entries(req.resources)) {
    writeEntry(w, 18, key, value, writeResourceSelector);
  }
  for (const [key, value] of Object.entries(req.schemas)) {
    writeEntry(w, 26, key, value, writeSchemaSelector);
  }
}

function writeResourceSelector(w: Writer, s: ResourceSelector): void {
  if (s.apiVersion !== '') w.stringField(10, s.apiVersion);
  if (s.kind !== '') w.stringField(18, s.kind);
  if (s.matchName !== undefined) w.stringField(26, s.matchName);
  if (s.matchLabels !== undefined) {
    const m = w.begin(34);
    for (const [key, value] of Object.entries(s.matchLabels.labels)) {
      const e = w.begin(10);
      if (key !== '') w.stringField(10, key);
      if (value !== '') w.stringField(18, value);
      w.finish(e);
    }
    w.finish(m);
  }
  if (s.namespace !== undefined) w.stringField(42, s.namespace);
}

function writeSchemaSelector(w: Writer, s: SchemaSelector): void {
  if (s.apiVersion !== '') w.stringField(10, s.apiVersion);
  if (s.kind !== '') w.stringField(18, s.kind);
}
