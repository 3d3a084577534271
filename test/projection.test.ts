// The request projection (server/request-projection.ts REQUEST_PROJECTION, from core/ack.ts STATUS_FIELDS_READ) must never
// change an answer: the function decodes observed composed and required
// resources with most of their status skipped on the wire, so these tests
// check that (1) every response is byte-identical to the one for the fully
// decoded request, and (2) the planners read no status field the projection
// drops, even one no generated request happens to carry.
import fc from 'fast-check';
import { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { describe, expect, it } from 'vitest';
import { STATUS_FIELDS_READ } from '../function/core/ack.js';
import { REQUEST_PROJECTION } from '../function/server/request-projection.js';
import { runFunction } from '../function/handler.js';
import { decodeRunFunctionRequest } from '../function/wire/request.js';
import { encodeRunFunctionResponse } from '../function/wire/response.js';
import { crossesTheWire, fuzzCaseArb, lambdaCanaryCases, resolverCaseArb, validSpecArb, type FuzzCase } from './support/arbitraries.js';
import { referenceRequest, scaleRequest } from '../bench/reference-request.js';
import { NOW } from './support/fixtures.js';

const SEED = 424242;

function answers(c: FuzzCase): { full: Buffer; projected: Buffer } {
  const bytes = Buffer.from(RunFunctionRequest.encode(c.req).finish());
  const now = () => c.now;
  return {
    full: encodeRunFunctionResponse(runFunction(decodeRunFunctionRequest(bytes), { now })),
    projected: encodeRunFunctionResponse(runFunction(decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), { now })),
  };
}

describe('the request projection', () => {
  for (const [what, arb, runs] of [
    ['mixed generated requests', fuzzCaseArb, 800],
    ['valid specs against every Version state and odd Aliases', lambdaCanaryCases(validSpecArb), 400],
    ['resolver mode', resolverCaseArb, 200],
  ] as const) {
    it(`gives byte-identical responses to the fully decoded request: ${what} (fast-check, ${runs} runs)`, () => {
      fc.assert(
        fc.property(arb, (c) => {
          fc.pre(crossesTheWire(c.req));
          const { full, projected } = answers(c);
          expect(projected.equals(full)).toBe(true);
        }),
        { seed: SEED, numRuns: runs },
      );
    });
  }

  // The benchmark's requests carry the ~4 KB status ACK really writes (environment, layers, VPC, signing).
  const realistic = (): [string, RunFunctionRequest][] => [
    ['reference', referenceRequest()],
    ['scale-10', scaleRequest(10)],
  ];

  it('gives byte-identical responses for the benchmark requests, whose ACK status is realistic', () => {
    for (const [name, req] of realistic()) {
      const { full, projected } = answers({ req, now: NOW });
      expect(projected.equals(full), name).toBe(true);
    }
  });

  it('keeps every status field the planners read: reads of observed and required status are recorded', () => {
    const read = new Set<string>();
    const record = (obj: unknown): unknown => {
      if (typeof obj !== 'object' || obj === null) return obj;
      const o = obj as Record<string, unknown>;
      if (typeof o['status'] !== 'object' || o['status'] === null || Array.isArray(o['status'])) return obj;
      const status = new Proxy(o['status'] as Record<string, unknown>, {
        get(target, key, receiver) {
          if (typeof key === 'string') read.add(key);
          return Reflect.get(target, key, receiver) as unknown;
        },
        has(target, key) {
          if (typeof key === 'string') read.add(key);
          return Reflect.has(target, key);
        },
        ownKeys(target) {
          read.add('*');
          return Reflect.ownKeys(target);
        },
      });
      return { ...o, status };
    };
    const cases = [...realistic().map(([, req]) => ({ req, now: NOW })), ...fc.sample(fuzzCaseArb, { seed: SEED, numRuns: 400 })];
    for (const { req, now } of cases) {
      const wrapped: RunFunctionRequest = {
        ...req,
        observed: req.observed && {
          ...req.observed,
          resources: Object.fromEntries(
            Object.entries(req.observed.resources).map(([k, r]) => [k, { ...r, resource: record(r.resource) as Record<string, unknown> }]),
          ),
        },
        requiredResources: Object.fromEntries(
          Object.entries(req.requiredResources).map(([k, list]) => [
            k,
            { items: list.items.map((r) => ({ ...r, resource: record(r.resource) as Record<string, unknown> })) },
          ]),
        ),
        extraResources: Object.fromEntries(
          Object.entries(req.extraResources).map(([k, list]) => [
            k,
            { items: list.items.map((r) => ({ ...r, resource: record(r.resource) as Record<string, unknown> })) },
          ]),
        ),
      };
      runFunction(wrapped, { now: () => now });
    }
    // Something was read (the recorder works), and nothing outside the list.
    expect(read.has('version')).toBe(true);
    expect(read.has('conditions')).toBe(true);
    const allowed = new Set<string>(STATUS_FIELDS_READ);
    expect([...read].filter((k) => !allowed.has(k))).toEqual([]);
  });

  it('would catch a projection that drops a field the planners read', () => {
    // The differential check above against a projection without status.version: the answers differ.
    const broken = { children: { status: { only: new Set(STATUS_FIELDS_READ.filter((f) => f !== 'version')) } } };
    const bytes = Buffer.from(RunFunctionRequest.encode(referenceRequest()).finish());
    const now = () => NOW;
    const full = encodeRunFunctionResponse(runFunction(decodeRunFunctionRequest(bytes), { now }));
    const projected = encodeRunFunctionResponse(runFunction(decodeRunFunctionRequest(bytes, { observedResource: broken }), { now }));
    expect(projected.equals(full)).toBe(false);
  });
});
