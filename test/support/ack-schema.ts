// A small structural validator for the real ACK Lambda v1.14.1 CRDs vendored
// in test/fixtures/ack-lambda-crds: what the API server checks on create (types,
// required fields, unknown fields: the CRDs are structural, so the API server
// prunes unknown fields, which for us means silently lost settings), plus the
// AWS "Regex Pattern" that ACK documents in field descriptions, which AWS
// enforces when ACK calls it. No CEL.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The ACK Lambda controller v1.14.1 CRDs, vendored in the repository: found
 * above this file, which runs as test/support/ack-schema.ts under vitest and
 * as dist/test/support/ack-schema.js under `npm run fuzz`.
 */
export const ACK_CRDS_DIR = findUp(join('test', 'fixtures', 'ack-lambda-crds'));

function findUp(relative: string): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    if (dirname(dir) === dir) throw new Error(`no ${relative} above ${start}: the ACK CRDs are vendored there in the repository`);
  }
}

export interface JsonSchema {
  type?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const cache = new Map<string, JsonSchema>();

/** The openAPIV3Schema of the v1alpha1 version of an ACK Lambda CRD ("aliases", "versions", "functions"). */
export function ackSchema(plural: 'aliases' | 'versions' | 'functions'): JsonSchema {
  const hit = cache.get(plural);
  if (hit) return hit;
  const crd = parse(readFileSync(`${ACK_CRDS_DIR}/lambda.services.k8s.aws_${plural}.yaml`, 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: JsonSchema } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === 'v1alpha1');
  if (!v) throw new Error(`no v1alpha1 in the ${plural} CRD`);
  cache.set(plural, v.schema.openAPIV3Schema);
  return v.schema.openAPIV3Schema;
}

/** AWS's pattern for a field, as ACK writes it into the description. */
function awsPattern(schema: JsonSchema): RegExp | undefined {
  const m = /Regex Pattern: `([^`]+)`/.exec(schema.description ?? '');
  return m ? new RegExp(m[1]!) : undefined;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Problems with `value` against `schema`, each naming its path; empty when valid. */
export function validate(schema: JsonSchema, value: unknown, path = '$'): string[] {
  const errs: string[] = [];
  switch (schema.type) {
    case 'object': {
      if (typeOf(value) !== 'object') return [`${path}: expected object, got ${typeOf(value)}`];
      const obj = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (obj[r] === undefined) errs.push(`${path}.${r}: required`);
      for (const [k, v] of Object.entries(obj)) {
        const prop = schema.properties?.[k];
        if (prop) errs.push(...validate(prop, v, `${path}.${k}`));
        else if (typeof schema.additionalProperties === 'object') errs.push(...validate(schema.additionalProperties, v, `${path}.${k}`));
        else if (schema.properties !== undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true && schema.additionalProperties !== true) {
          errs.push(`${path}.${k}: unknown field`);
        }
      }
      break;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${path}: expected array, got ${typeOf(value)}`];
      if (schema.items) value.forEach((v, i) => errs.push(...validate(schema.items!, v, `${path}[${i}]`)));
      break;
    case 'string':
      if (typeof value !== 'string') return [`${path}: expected string, got ${typeOf(value)}`];
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
        errs.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
      {
        const aws = awsPattern(schema);
        if (aws && !aws.test(value)) errs.push(`${path}: ${JSON.stringify(value)} does not match AWS pattern ${aws.source}`);
      }
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return [`${path}: expected integer, got ${JSON.stringify(value)}`];
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return [`${path}: expected number, got ${JSON.stringify(value)}`];
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return [`${path}: expected boolean, got ${typeOf(value)}`];
      break;
    default:
      break;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) errs.push(`${path}: ${JSON.stringify(value)} not in enum`);
  return errs;
}

/** Problems with a rendered ACK object (apiVersion, kind, metadata, spec) against its CRD. */
export function validateAck(obj: Record<string, unknown>): string[] {
  const plural = obj.kind === 'Alias' ? 'aliases' : obj.kind === 'Version' ? 'versions' : obj.kind === 'Function' ? 'functions' : undefined;
  if (plural === undefined) return [`$.kind: ${String(obj.kind)} is not an ACK Lambda kind this validator knows`];
  const errs: string[] = [];
  if (obj.apiVersion !== 'lambda.services.k8s.aws/v1alpha1') errs.push(`$.apiVersion: ${String(obj.apiVersion)}`);
  return [...errs, ...validate(ackSchema(plural), obj)];
}
