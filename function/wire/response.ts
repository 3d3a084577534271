// Encodes a RunFunctionResponse to the wire: the same bytes the SDK's
// RunFunctionResponse.encode produces (test/protobuf.test.ts compares them),
// written in one pass into one growing buffer instead of the SDK's forked
// writers and wrapped Value messages.
import {
  Ready,
  Severity,
  Status,
  type Condition,
  type Requirements,
  type Resource,
  type ResourceSelector,
  type Result,
  type RunFunctionResponse,
  type SchemaSelector,
  type State,
} from '@crossplane-org/function-sdk-typescript';
import { Writer, writeStruct } from './protobuf.js';
import { tagsOf } from './wire-fields.js';

// Tags, from the one table of field numbers (wire-fields.ts).
const RESPONSE = tagsOf('RunFunctionResponse');
const META = tagsOf('ResponseMeta');
const DURATION = tagsOf('Duration');
const STATE = tagsOf('State');
const RESOURCE = tagsOf('Resource');
const RESULT = tagsOf('Result');
const CONDITION = tagsOf('Condition');
const REQUIREMENTS = tagsOf('Requirements');
const SELECTOR = tagsOf('ResourceSelector');
const MATCH_LABELS = tagsOf('MatchLabels');
const SCHEMA_SELECTOR = tagsOf('SchemaSelector');
const ENTRY = tagsOf('MapEntry');

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
    const m = w.begin(RESPONSE.meta);
    if (rsp.meta.tag !== '') w.stringField(META.tag, rsp.meta.tag);
    if (rsp.meta.ttl !== undefined) {
      const d = w.begin(META.ttl);
      if (rsp.meta.ttl.seconds !== 0) {
        w.uint32(DURATION.seconds);
        w.int64(rsp.meta.ttl.seconds);
      }
      if (rsp.meta.ttl.nanos !== 0) w.int32Field(DURATION.nanos, rsp.meta.ttl.nanos);
      w.finish(d);
    }
    w.finish(m);
  }
  if (rsp.desired !== undefined) {
    const s = w.begin(RESPONSE.desired);
    writeState(w, rsp.desired);
    w.finish(s);
  }
  for (const result of rsp.results) {
    const m = w.begin(RESPONSE.results);
    writeResult(w, result);
    w.finish(m);
  }
  if (rsp.context !== undefined) {
    const m = w.begin(RESPONSE.context);
    writeStruct(w, rsp.context);
    w.finish(m);
  }
  if (rsp.requirements !== undefined) {
    const m = w.begin(RESPONSE.requirements);
    writeRequirements(w, rsp.requirements);
    w.finish(m);
  }
  for (const condition of rsp.conditions) {
    const m = w.begin(RESPONSE.conditions);
    writeCondition(w, condition);
    w.finish(m);
  }
  if (rsp.output !== undefined) {
    const m = w.begin(RESPONSE.output);
    writeStruct(w, rsp.output);
    w.finish(m);
  }
}

/** map<string, Message> entry: key = 1 (omitted when empty), value = 2. */
function writeEntry<T>(w: Writer, tag: number, key: string, value: T | undefined, writeValue: (w: Writer, v: T) => void): void {
  const e = w.begin(tag);
  if (key !== '') w.stringField(ENTRY.key, key);
  if (value !== undefined) {
    const v = w.begin(ENTRY.value);
    writeValue(w, value);
    w.finish(v);
  }
  w.finish(e);
}

function writeState(w: Writer, state: State): void {
  if (state.composite !== undefined) {
    const m = w.begin(STATE.composite);
    writeResource(w, state.composite);
    w.finish(m);
  }
  for (const [key, value] of Object.entries(state.resources)) {
    writeEntry(w, STATE.resources, key, value, writeResource);
  }
}

function writeResource(w: Writer, res: Resource): void {
  if (res.resource !== undefined) {
    const m = w.begin(RESOURCE.resource);
    writeStruct(w, res.resource);
    w.finish(m);
  }
  for (const [key, value] of Object.entries(res.connectionDetails)) {
    if (value === undefined) continue;
    const e = w.begin(RESOURCE.connectionDetails);
    if (key !== '') w.stringField(ENTRY.key, key);
    if (value.length !== 0) {
      w.uint32(ENTRY.value);
      w.bytes(value);
    }
    w.finish(e);
  }
  if (res.ready !== Ready.READY_UNSPECIFIED) w.int32Field(RESOURCE.ready, res.ready);
}

function writeResult(w: Writer, r: Result): void {
  if (r.severity !== Severity.SEVERITY_UNSPECIFIED) w.int32Field(RESULT.severity, r.severity);
  if (r.message !== '') w.stringField(RESULT.message, r.message);
  if (r.reason !== undefined) w.stringField(RESULT.reason, r.reason);
  if (r.target !== undefined) w.int32Field(RESULT.target, r.target);
}

function writeCondition(w: Writer, c: Condition): void {
  if (c.type !== '') w.stringField(CONDITION.type, c.type);
  if (c.status !== Status.STATUS_CONDITION_UNSPECIFIED) w.int32Field(CONDITION.status, c.status);
  if (c.reason !== '') w.stringField(CONDITION.reason, c.reason);
  if (c.message !== undefined) w.stringField(CONDITION.message, c.message);
  if (c.target !== undefined) w.int32Field(CONDITION.target, c.target);
}

function writeRequirements(w: Writer, req: Requirements): void {
  for (const [key, value] of Object.entries(req.extraResources)) {
    writeEntry(w, REQUIREMENTS.extraResources, key, value, writeResourceSelector);
  }
  for (const [key, value] of Object.entries(req.resources)) {
    writeEntry(w, REQUIREMENTS.resources, key, value, writeResourceSelector);
  }
  for (const [key, value] of Object.entries(req.schemas)) {
    writeEntry(w, REQUIREMENTS.schemas, key, value, writeSchemaSelector);
  }
}

function writeResourceSelector(w: Writer, s: ResourceSelector): void {
  if (s.apiVersion !== '') w.stringField(SELECTOR.apiVersion, s.apiVersion);
  if (s.kind !== '') w.stringField(SELECTOR.kind, s.kind);
  if (s.matchName !== undefined) w.stringField(SELECTOR.matchName, s.matchName);
  if (s.matchLabels !== undefined) {
    const m = w.begin(SELECTOR.matchLabels);
    for (const [key, value] of Object.entries(s.matchLabels.labels)) {
      const e = w.begin(MATCH_LABELS.labels);
      if (key !== '') w.stringField(ENTRY.key, key);
      if (value !== '') w.stringField(ENTRY.value, value);
      w.finish(e);
    }
    w.finish(m);
  }
  if (s.namespace !== undefined) w.stringField(SELECTOR.namespace, s.namespace);
}

function writeSchemaSelector(w: Writer, s: SchemaSelector): void {
  if (s.apiVersion !== '') w.stringField(SCHEMA_SELECTOR.apiVersion, s.apiVersion);
  if (s.kind !== '') w.stringField(SCHEMA_SELECTOR.kind, s.kind);
}
