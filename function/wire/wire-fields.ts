// The field numbers of every message the wire codec (protobuf.ts, request.ts,
// response.ts) reads or writes, in one table: the codec takes its tags from
// here and from nowhere else. The protocol is Crossplane's run_function.proto
// as the SDK dependency encodes it; test/wire-fields.test.ts derives each
// number and wire type below from the SDK's generated encoder and fails when
// they differ, and fails when the SDK's messages and this table no longer have
// the same fields (a field the SDK gained that the codec would skip on decode
// or never write on encode, or one it lost).
//
// Field names are the SDK's (its generated TypeScript names, camelCase).

/** Protobuf wire types. */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const START_GROUP = 3;
export const END_GROUP = 4;
export const I32 = 5;
export type WireType = typeof VARINT | typeof I64 | typeof LEN | typeof START_GROUP | typeof END_GROUP | typeof I32;

/** What a field holds: a scalar type, or the name of a message in this table (or one the SDK decodes for us). */
export type FieldType = 'string' | 'bytes' | 'bool' | 'double' | 'int32' | 'int64' | 'enum' | MessageName | DelegatedMessageName;

/** The messages of the table below. */
export type MessageName =
  | 'RunFunctionRequest'
  | 'RequestMeta'
  | 'Resources'
  | 'RunFunctionResponse'
  | 'ResponseMeta'
  | 'Requirements'
  | 'ResourceSelector'
  | 'MatchLabels'
  | 'SchemaSelector'
  | 'State'
  | 'Resource'
  | 'Result'
  | 'Condition'
  | 'Duration'
  | 'Struct'
  | 'Value'
  | 'ListValue'
  | 'MapEntry';

export interface Field {
  /** The field number. */
  readonly no: number;
  /** The wire type the SDK writes (packed repeated scalars are LEN). */
  readonly wire: WireType;
  /** The tag the SDK writes: no << 3 | wire. */
  readonly tag: number;
  readonly type: FieldType;
  /** repeated: the field occurs once per element. */
  readonly repeated?: true;
  /** map<string, type>: each entry is a MapEntry message (key 1, value 2). */
  readonly map?: true;
}

function field(no: number, wire: WireType, type: FieldType, kind?: 'repeated' | 'map'): Field {
  return {
    no,
    wire,
    tag: (no << 3) | wire,
    type,
    ...(kind === 'repeated' ? { repeated: true as const } : {}),
    ...(kind === 'map' ? { map: true as const } : {}),
  };
}

/**
 * Messages the codec does not look inside: it hands their bytes to the SDK's
 * generated decoder (request.ts), so a field added to them is decoded the
 * way the SDK decodes it. The drift guard checks only that they still exist.
 */
export const DELEGATED_TO_SDK = ['Credentials', 'CredentialData', 'Schema'] as const;
export type DelegatedMessageName = (typeof DELEGATED_TO_SDK)[number];

export const WIRE_FIELDS = {
  RunFunctionRequest: {
    meta: field(1, LEN, 'RequestMeta'),
    observed: field(2, LEN, 'State'),
    desired: field(3, LEN, 'State'),
    input: field(4, LEN, 'Struct'),
    context: field(5, LEN, 'Struct'),
    extraResources: field(6, LEN, 'Resources', 'map'),
    credentials: field(7, LEN, 'Credentials', 'map'),
    requiredResources: field(8, LEN, 'Resources', 'map'),
    requiredSchemas: field(9, LEN, 'Schema', 'map'),
  },
  RequestMeta: {
    tag: field(1, LEN, 'string'),
    // Packed repeated enum; the decoder also accepts the unpacked form (one VARINT per element), as protobuf requires.
    capabilities: field(2, LEN, 'enum', 'repeated'),
  },
  Resources: {
    items: field(1, LEN, 'Resource', 'repeated'),
  },
  RunFunctionResponse: {
    meta: field(1, LEN, 'ResponseMeta'),
    desired: field(2, LEN, 'State'),
    results: field(3, LEN, 'Result', 'repeated'),
    context: field(4, LEN, 'Struct'),
    requirements: field(5, LEN, 'Requirements'),
    conditions: field(6, LEN, 'Condition', 'repeated'),
    output: field(7, LEN, 'Struct'),
  },
  ResponseMeta: {
    tag: field(1, LEN, 'string'),
    ttl: field(2, LEN, 'Duration'),
  },
  Requirements: {
    extraResources: field(1, LEN, 'ResourceSelector', 'map'),
    resources: field(2, LEN, 'ResourceSelector', 'map'),
    schemas: field(3, LEN, 'SchemaSelector', 'map'),
  },
  ResourceSelector: {
    apiVersion: field(1, LEN, 'string'),
    kind: field(2, LEN, 'string'),
    matchName: field(3, LEN, 'string'),
    matchLabels: field(4, LEN, 'MatchLabels'),
    namespace: field(5, LEN, 'string'),
  },
  MatchLabels: {
    labels: field(1, LEN, 'string', 'map'),
  },
  SchemaSelector: {
    apiVersion: field(1, LEN, 'string'),
    kind: field(2, LEN, 'string'),
  },
  State: {
    composite: field(1, LEN, 'Resource'),
    resources: field(2, LEN, 'Resource', 'map'),
  },
  Resource: {
    resource: field(1, LEN, 'Struct'),
    connectionDetails: field(2, LEN, 'bytes', 'map'),
    ready: field(3, VARINT, 'enum'),
  },
  Result: {
    severity: field(1, VARINT, 'enum'),
    message: field(2, LEN, 'string'),
    reason: field(3, LEN, 'string'),
    target: field(4, VARINT, 'enum'),
  },
  Condition: {
    type: field(1, LEN, 'string'),
    status: field(2, VARINT, 'enum'),
    reason: field(3, LEN, 'string'),
    message: field(4, LEN, 'string'),
    target: field(5, VARINT, 'enum'),
  },
  // google/protobuf/duration.proto
  Duration: {
    seconds: field(1, VARINT, 'int64'),
    nanos: field(2, VARINT, 'int32'),
  },
  // google/protobuf/struct.proto
  Struct: {
    fields: field(1, LEN, 'Value', 'map'),
  },
  Value: {
    nullValue: field(1, VARINT, 'enum'),
    numberValue: field(2, I64, 'double'),
    stringValue: field(3, LEN, 'string'),
    boolValue: field(4, VARINT, 'bool'),
    structValue: field(5, LEN, 'Struct'),
    listValue: field(6, LEN, 'ListValue'),
  },
  ListValue: {
    values: field(1, LEN, 'Value', 'repeated'),
  },
  /**
   * Every map<string, T> entry (the SDK's *Entry messages): key 1, value 2.
   * The value's type is the map field's; every map the protocol has holds
   * messages, strings or bytes, all LEN.
   */
  MapEntry: {
    key: field(1, LEN, 'string'),
    value: field(2, LEN, 'bytes'),
  },
} as const satisfies Record<MessageName, Record<string, Field>>;

/** A message's tags by field name, for the codec's switch statements. */
export type Tags<M extends MessageName> = { readonly [F in keyof (typeof WIRE_FIELDS)[M]]: number };

export function tagsOf<M extends MessageName>(message: M): Tags<M> {
  const fields = WIRE_FIELDS[message] as Record<string, Field>;
  return Object.fromEntries(Object.entries(fields).map(([name, f]) => [name, f.tag])) as Tags<M>;
}
