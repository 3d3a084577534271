// Generates the package's API documents from function/api/schema.ts, the single
// source of the LambdaCanary API and of the function's Input:
//
//   package/configuration-v2/xrd.yaml  apiextensions.crossplane.io/v2 XRD (LambdaCanary, Namespaced)
//   package/configuration-v1/xrd.yaml  apiextensions.crossplane.io/v1 XRD (XLambdaCanary + LambdaCanary claim)
//   package/function/input.yaml        the Input CRD (lambdacanary.fn.crossplane.io/v1beta1)
//
// `npm run generate` writes them; test/generated.test.ts regenerates them in
// memory and fails when the committed files drift.
//
// zod's JSON schema (OpenAPI 3.0 flavour) is converted to a Kubernetes
// *structural* schema: every node typed, no $ref/anyOf/oneOf/allOf/not/const,
// no additionalProperties next to properties (the API server prunes unknown
// fields anyway), no `x-kubernetes-preserve-unknown-fields` on the loose
// top-level objects. Anything the converter does not know how to map is an
// error, so a schema change that cannot be expressed fails here rather than at
// install time in a cluster.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { z } from 'zod';
import { INPUT_API_VERSION, INPUT_KIND, inputSchema, lambdaCanarySpecSchema, lambdaCanaryStatusSchema } from '../function/api/schema.js';

export const XR_GROUP = 'canary.lambda.fn.crossplane.io';
export const XR_VERSION = 'v1alpha1';

/** A Kubernetes JSONSchemaProps object (structural). */
export type K8sSchema = { [key: string]: unknown };

/** Keys passed through unchanged (besides the ones handled structurally). */
const SCALAR_KEYS = new Set([
  'type',
  'description',
  'title',
  'enum',
  'pattern',
  'format',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'default',
  'example',
]);

/** zod's bounds for z.number().int(): noise in a CRD, where integers are int64. */
const SAFE_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * Converts one node of zod's OpenAPI 3.0 output to a structural schema node.
 * `at` is the JSON path of the node, for error messages.
 */
export function toStructural(node: unknown, at = '$'): K8sSchema {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    throw new Error(`${at}: expected a schema object, got ${JSON.stringify(node)}`);
  }
  const src = node as Record<string, unknown>;
  const out: K8sSchema = {};
  for (const [key, value] of Object.entries(src)) {
    if (key === '$schema' || key === '$id') continue;
    if (key === 'properties') {
      const props: Record<string, K8sSchema> = {};
      for (const [name, sub] of Object.entries(value as Record<string, unknown>)) {
        props[name] = toStructural(sub, `${at}.properties.${name}`);
      }
      // `properties: {}` (z.looseObject({})) says nothing; see additionalProperties below.
      if (Object.keys(props).length > 0) out.properties = props;
    } else if (key === 'items') {
      if (Array.isArray(value)) throw new Error(`${at}.items: tuples have no structural-schema form`);
      out.items = toStructural(value, `${at}.items`);
    } else if (key === 'required') {
      if (Array.isArray(value) && value.length > 0) out.required = [...(value as unknown[])];
    } else if (key === 'additionalProperties') {
      // Handled below, once we know whether the node has properties.
    } else if (key.startsWith('x-kubernetes-')) {
      out[key] = structuredClone(value);
    } else if (SCALAR_KEYS.has(key)) {
      if ((key === 'minimum' || key === 'maximum') && src.type === 'integer' && SAFE_INT_BOUNDS.has(value as number)) {
        continue;
      }
      out[key] = structuredClone(value);
    } else if (key === 'uniqueItems') {
      if (value === true) throw new Error(`${at}: uniqueItems is not allowed in CRDs; use x-kubernetes-list-type: set`);
    } else {
      throw new Error(`${at}: JSON-schema keyword "${key}" has no structural-schema mapping in scripts/generate-crds.ts`);
    }
  }

  const additional = src.additionalProperties;
  const hasProps = out.properties !== undefined;
  if (additional !== undefined && additional !== false) {
    const isAny = additional === true || (typeof additional === 'object' && Object.keys(additional as object).length === 0);
    if (hasProps) {
      // looseObject: {properties, additionalProperties: {}}. Emit the known
      // properties only; the API server prunes the rest.
    } else if (isAny) {
      out['x-kubernetes-preserve-unknown-fields'] = true;
    } else {
      out.additionalProperties = toStructural(additional, `${at}.additionalProperties`);
    }
  }

  if (out.type === undefined && out['x-kubernetes-preserve-unknown-fields'] !== true && out['x-kubernetes-int-or-string'] !== true) {
    throw new Error(`${at}: structural schemas need a type on every node`);
  }
  return out;
}

/** The structural schema of a zod schema. */
export function structuralSchema(schema: z.ZodType, io: 'input' | 'output'): K8sSchema {
  const json = z.toJSONSchema(schema, { io, target: 'openapi-3.0', unrepresentable: 'throw', cycles: 'throw' });
  const out = toStructural(json);
  if (out.type !== 'object') throw new Error(`top-level schema must be an object, got ${String(out.type)}`);
  return out;
}

/**
 * Columns this XRD adds. Crossplane appends its own to every XR and claim CRD
 * it derives (SYNCED, READY, COMPOSITION, AGE for XRs; SYNCED, READY,
 * CONNECTION-SECRET, AGE for claims; internal/xcrd), so listing them here
 * would show them twice.
 */
export const PRINTER_COLUMNS = [
  { name: 'STABLE', type: 'string', jsonPath: '.status.stableVersion' },
  { name: 'CANARY', type: 'string', jsonPath: '.status.canaryVersion' },
  { name: 'WEIGHT', type: 'number', jsonPath: '.status.canaryWeight' },
  { name: 'STEP', type: 'integer', jsonPath: '.status.rollout.step' },
  { name: 'PHASE', type: 'string', jsonPath: '.status.rollout.phase' },
  { name: 'ANALYSIS', type: 'string', jsonPath: '.status.rollout.analysis.result', priority: 1 },
];

function xrOpenAPIV3Schema(): K8sSchema {
  const spec = structuralSchema(lambdaCanarySpecSchema, 'input');
  const status = structuralSchema(lambdaCanaryStatusSchema, 'output');
  return {
    type: 'object',
    description:
      'A LambdaCanary splits the traffic of one AWS Lambda alias between a stable and a canary version, ' +
      'rendered as ACK Lambda Alias (and Version) objects.',
    properties: {
      spec: { description: 'The desired alias and traffic split.', ...spec },
      status: { description: 'What the function observed and decided.', ...status },
    },
    required: ['spec'],
  };
}

function xrdVersion(): Record<string, unknown> {
  return {
    name: XR_VERSION,
    served: true,
    referenceable: true,
    additionalPrinterColumns: PRINTER_COLUMNS.map((c) => ({ ...c })),
    schema: { openAPIV3Schema: xrOpenAPIV3Schema() },
  };
}

/** package/configuration-v2/xrd.yaml: Crossplane v2, namespaced XR. */
export function xrdV2(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.crossplane.io/v2',
    kind: 'CompositeResourceDefinition',
    metadata: { name: `lambdacanaries.${XR_GROUP}` },
    spec: {
      group: XR_GROUP,
      names: { kind: 'LambdaCanary', plural: 'lambdacanaries', singular: 'lambdacanary' },
      scope: 'Namespaced',
      versions: [xrdVersion()],
    },
  };
}

/** package/configuration-v1/xrd.yaml: Crossplane v1, cluster XR with a namespaced claim. */
export function xrdV1(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.crossplane.io/v1',
    kind: 'CompositeResourceDefinition',
    metadata: { name: `xlambdacanaries.${XR_GROUP}` },
    spec: {
      group: XR_GROUP,
      names: { kind: 'XLambdaCanary', plural: 'xlambdacanaries', singular: 'xlambdacanary' },
      claimNames: { kind: 'LambdaCanary', plural: 'lambdacanaries', singular: 'lambdacanary' },
      versions: [xrdVersion()],
    },
  };
}

/** package/function/input.yaml: the CRD of the pipeline step's Input. */
export function inputCrd(): Record<string, unknown> {
  const [group, version] = INPUT_API_VERSION.split('/') as [string, string];
  const schema = structuralSchema(inputSchema, 'input');
  const props = { ...(schema.properties as Record<string, K8sSchema>) };
  // As in every CRD: apiVersion and kind are plain strings (the CRD's own
  // group/version/kind pin them), metadata is an object.
  props.apiVersion = {
    description: 'APIVersion defines the versioned schema of this representation of an object. ' + `Must be ${INPUT_API_VERSION}.`,
    type: 'string',
  };
  props.kind = { description: `Kind is the type of this object. Must be ${INPUT_KIND}.`, type: 'string' };
  props.metadata = { type: 'object' };
  const ordered: Record<string, K8sSchema> = {
    apiVersion: props.apiVersion,
    kind: props.kind,
    metadata: props.metadata,
  };
  for (const [k, v] of Object.entries(props)) if (!(k in ordered)) ordered[k] = v;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `inputs.${group}` },
    spec: {
      group,
      names: {
        kind: INPUT_KIND,
        listKind: `${INPUT_KIND}List`,
        plural: 'inputs',
        singular: 'input',
        categories: ['crossplane'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { ...schema, properties: ordered } },
        },
      ],
    },
  };
}

const HEADER = '# Generated by scripts/generate-crds.ts from function/api/schema.ts. Do not edit:\n' + '# change the zod schema and run `npm run generate`.\n';

/** YAML text of a generated document, exactly as committed. */
export function toYaml(doc: unknown): string {
  return HEADER + stringify(doc, { lineWidth: 0 });
}

/** Every generated file, by path relative to the repository root. */
export function generatedFiles(): Record<string, string> {
  return {
    'package/configuration-v2/xrd.yaml': toYaml(xrdV2()),
    'package/configuration-v1/xrd.yaml': toYaml(xrdV1()),
    'package/function/input.yaml': toYaml(inputCrd()),
  };
}

export function writeGenerated(root: string): string[] {
  const written: string[] = [];
  for (const [rel, text] of Object.entries(generatedFiles())) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(rel);
  }
  return written;
}

const invoked = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invoked) {
  // dist/scripts/generate-crds.js -> the repository root is two levels up;
  // an explicit argument wins.
  const root = process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const rel of writeGenerated(root)) console.log(`wrote ${rel}`);
}
