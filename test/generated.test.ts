// The YAML under package/ that scripts/generate-crds.ts writes must be exactly
// what the zod schemas in function/api/schema.ts generate now.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generatedFiles, inputCrd, structuralSchema, toStructural, xrdV1, xrdV2 } from '../scripts/generate-crds.js';
import { ALIAS_NAME, DURATION } from '../function/api/schema.js';
import { REPO_ROOT } from './support/crossplane.js';

const files = generatedFiles();

describe('generated package YAML', () => {
  it('generates the three documents', () => {
    expect(Object.keys(files).sort()).toEqual(['package/configuration-v1/xrd.yaml', 'package/configuration-v2/xrd.yaml', 'package/function/input.yaml']);
  });

  for (const [rel, want] of Object.entries(files)) {
    it(`${rel} is up to date`, () => {
      let committed: string;
      try {
        committed = readFileSync(join(REPO_ROOT, rel), 'utf8');
      } catch {
        throw new Error(`${rel} does not exist: run npm run generate`);
      }
      if (committed !== want) {
        // Show the first differing line; the full diff is what `git diff` after `npm run generate` shows.
        const a = committed.split('\n');
        const b = want.split('\n');
        const i = a.findIndex((line, n) => line !== b[n]);
        const at = i === -1 ? Math.min(a.length, b.length) : i;
        throw new Error(
          `${rel} differs from what function/api/schema.ts generates: run npm run generate\n` +
            `first difference at line ${at + 1}:\n  committed: ${JSON.stringify(a[at])}\n  generated: ${JSON.stringify(b[at])}`,
        );
      }
    });
  }
});

/** The openAPIV3Schema of an XRD's only version. */
function xrdSchema(xrd: any): any {
  expect(xrd.spec.versions).toHaveLength(1);
  return xrd.spec.versions[0].schema.openAPIV3Schema;
}

/** Every schema node, with its path. */
function* nodes(schema: any, at = '$'): Generator<[string, any]> {
  yield [at, schema];
  for (const [k, v] of Object.entries(schema.properties ?? {})) yield* nodes(v, `${at}.${k}`);
  if (schema.items) yield* nodes(schema.items, `${at}[]`);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    yield* nodes(schema.additionalProperties, `${at}{}`);
  }
}

describe('schema facts survive generation', () => {
  const committedV2 = parse(readFileSync(join(REPO_ROOT, 'package/configuration-v2/xrd.yaml'), 'utf8'));
  const committedV1 = parse(readFileSync(join(REPO_ROOT, 'package/configuration-v1/xrd.yaml'), 'utf8'));

  for (const [name, xrd] of [
    ['v2 XRD', committedV2],
    ['v1 XRD', committedV1],
  ] as const) {
    describe(name, () => {
      const root = xrdSchema(xrd);
      const spec = root.properties.spec;
      const status = root.properties.status;

      it('keeps the alias name pattern and bounds', () => {
        const aliasName = spec.properties.alias.properties.name;
        expect(aliasName).toMatchObject({ type: 'string', pattern: ALIAS_NAME.source, minLength: 1, maxLength: 128 });
      });

      it('requires function and alias', () => {
        expect(spec.required).toEqual(['function', 'alias']);
        expect(root.required).toEqual(['spec']);
      });

      it('keeps the CEL rules of function, stable, canary, strategy and spec', () => {
        expect(spec.properties.function['x-kubernetes-validations']).toEqual([
          { rule: 'has(self.name) != has(self.ref)', message: 'set exactly one of name or ref' },
        ]);
        expect(spec.properties.stable['x-kubernetes-validations']).toEqual([
          { rule: 'has(self.version) != has(self.versionRef)', message: 'set exactly one of version or versionRef' },
        ]);
        expect(spec.properties.canary['x-kubernetes-validations']).toHaveLength(1);
        expect(spec.properties.rollout.properties.strategy['x-kubernetes-validations']).toHaveLength(1);
        expect(spec['x-kubernetes-validations']).toHaveLength(2);
      });

      it('keeps enums, bounds and descriptions', () => {
        const steps = spec.properties.rollout.properties.strategy.properties.steps;
        expect(steps).toMatchObject({ type: 'array', minItems: 1, maxItems: 100 });
        expect(steps.items.properties.weight).toMatchObject({ type: 'number', minimum: 0, maximum: 100 });
        expect(steps.items.properties.pause.properties.duration.pattern).toBe(DURATION.source);
        expect(spec.properties.rollout.properties.strategy.properties.preset.enum).toContain('Canary10Percent5Minutes');
        expect(status.properties.rollout.properties.phase.enum).toEqual(['Stable', 'Progressing', 'Paused', 'Promoted', 'Aborted', 'Held']);
        expect(spec.properties.alias.description).toMatch(/alias/i);
      });

      it('is structural: every node typed, no JSON-schema-only keywords, no pruning opt-outs on spec/status', () => {
        for (const [at, node] of nodes(root)) {
          expect(node.type, at).toBeTypeOf('string');
          for (const k of ['$schema', '$ref', '$defs', 'const', 'anyOf', 'oneOf', 'allOf', 'not', 'uniqueItems']) {
            expect(node, `${at} has ${k}`).not.toHaveProperty(k);
          }
          if (node.properties) expect(node, `${at}: additionalProperties beside properties`).not.toHaveProperty('additionalProperties');
          if (node.type === 'object') expect(node.properties ?? node.additionalProperties ?? node['x-kubernetes-preserve-unknown-fields'], at).toBeDefined();
        }
        expect(spec).not.toHaveProperty('x-kubernetes-preserve-unknown-fields');
        expect(status).not.toHaveProperty('x-kubernetes-preserve-unknown-fields');
        // z.number().int()'s ±2^53-1 bounds are dropped.
        expect(status.properties.rollout.properties.step).toEqual({
          description: 'Current step, 1-based; 0 before the first step.',
          type: 'integer',
        });
      });

      it('has the printer columns', () => {
        expect(xrd.spec.versions[0].additionalPrinterColumns.map((c: any) => `${c.name}=${c.jsonPath}`)).toEqual([
          'STABLE=.status.stableVersion',
          'CANARY=.status.canaryVersion',
          'WEIGHT=.status.canaryWeight',
          'STEP=.status.rollout.step',
          'PHASE=.status.rollout.phase',
          'ANALYSIS=.status.rollout.analysis.result',
        ]);
      });
    });
  }

  it('names the v2 XR and the v1 XR/claim as asked', () => {
    expect(xrdV2()).toMatchObject({
      apiVersion: 'apiextensions.crossplane.io/v2',
      metadata: { name: 'lambdacanaries.canary.lambda.fn.crossplane.io' },
      spec: { group: 'canary.lambda.fn.crossplane.io', scope: 'Namespaced', names: { kind: 'LambdaCanary', plural: 'lambdacanaries' } },
    });
    expect(xrdV2().spec).not.toHaveProperty('claimNames');
    expect(xrdV1()).toMatchObject({
      apiVersion: 'apiextensions.crossplane.io/v1',
      metadata: { name: 'xlambdacanaries.canary.lambda.fn.crossplane.io' },
      spec: {
        group: 'canary.lambda.fn.crossplane.io',
        names: { kind: 'XLambdaCanary', plural: 'xlambdacanaries' },
        claimNames: { kind: 'LambdaCanary', plural: 'lambdacanaries' },
      },
    });
    expect((xrdV2().spec as any).versions[0]).toMatchObject({ name: 'v1alpha1', served: true, referenceable: true });
  });

  it('makes the Input CRD from inputSchema, with its defaults', () => {
    const crd = inputCrd() as any;
    expect(crd).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'inputs.lambdacanary.fn.crossplane.io' },
      spec: { group: 'lambdacanary.fn.crossplane.io', scope: 'Namespaced', names: { kind: 'Input' } },
    });
    const v = crd.spec.versions[0];
    expect(v).toMatchObject({ name: 'v1beta1', served: true, storage: true });
    const props = v.schema.openAPIV3Schema.properties;
    expect(Object.keys(props)).toEqual(['apiVersion', 'kind', 'metadata', 'mode', 'resolver']);
    expect(props.mode).toMatchObject({ type: 'string', enum: ['LambdaCanary', 'Resolver'], default: 'LambdaCanary' });
    expect(props.resolver.properties.keepFunctionVersionRef).toMatchObject({ type: 'boolean', default: false });
    expect(props.apiVersion).not.toHaveProperty('enum');
  });
});

describe('the zod -> structural converter', () => {
  it('maps records, nullables and exclusive bounds', () => {
    const s = structuralSchema(z.object({ labels: z.record(z.string(), z.string()), ratio: z.number().gt(0).nullable(), any: z.looseObject({}) }), 'input');
    expect(s.properties).toEqual({
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      ratio: { nullable: true, type: 'number', minimum: 0, exclusiveMinimum: true },
      any: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    });
  });

  it('refuses what has no structural form, naming the field', () => {
    expect(() => structuralSchema(z.object({ v: z.union([z.string(), z.number()]) }), 'input')).toThrow(/\$\.properties\.v: .*anyOf/);
    expect(() => toStructural({ type: 'object', properties: { a: { description: 'untyped' } } })).toThrow(/\$\.properties\.a: structural schemas need a type/);
    expect(() => toStructural({ type: 'array', items: { type: 'string' }, uniqueItems: true })).toThrow(/x-kubernetes-list-type/);
  });
});
