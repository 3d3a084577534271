// The render harness (test/support/crossplane.ts) drives both real CLIs,
// `crossplane beta render` (v1.16.0) and `crossplane render` (v2.2.1), against
// a function served in this process. The function here is a trivial one, so
// that this test says something about the harness and the CLIs only.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromObject, normal, setDesiredCompositeStatus, to, type RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import {
  CLI_VERSIONS,
  crossplaneBinary,
  render,
  REPO_ROOT,
  serveFunction,
  tempDir,
  V1BETA1_RUN_FUNCTION_PATH,
  type ServedFunction,
} from './support/crossplane.js';

const EXAMPLE = 'test/fixtures/render-sanity';
const V1_PATH = '/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction';

/**
 * Composes one ConfigMap from the XR's spec.greeting and the step input's
 * suffix, asks for the ConfigMap "sanity-required", and reports in the XR's
 * status what it saw.
 */
function sanityFunction(req: RunFunctionRequest): RunFunctionResponse {
  const rsp = to(req);
  const xr = req.observed?.composite?.resource ?? {};
  const suffix = String(req.input?.suffix ?? '');
  const observed = Object.keys(req.observed?.resources ?? {});

  const selector = { apiVersion: 'v1', kind: 'ConfigMap', matchName: 'sanity-required' };
  // v1.16 reads requirements.extra_resources; v2 reads requirements.resources.
  rsp.requirements = { extraResources: { answer: selector }, resources: { answer: selector }, schemas: {} };
  const offered = req.requiredResources?.answer?.items ?? req.extraResources?.answer?.items ?? [];
  const answer = offered[0]?.resource?.data?.answer;

  rsp.desired!.resources.greeting = fromObject({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'sanity-greeting' },
    data: { greeting: `${xr.spec?.greeting}-${suffix}` },
  });
  setDesiredCompositeStatus({
    rsp,
    status: { rendered: true, observedResources: observed.join(','), answer: answer ?? 'none' },
  });
  normal(rsp, `sanity function rendered ${xr.kind}/${xr.metadata?.name}`);
  return rsp;
}

describe('render harness', () => {
  let fn: ServedFunction;

  beforeAll(async () => {
    for (const v of CLI_VERSIONS) crossplaneBinary(v); // throws, never skips
    fn = await serveFunction(sanityFunction);
  });
  afterAll(async () => fn?.close());

  for (const cli of CLI_VERSIONS) {
    describe(`crossplane ${cli}`, () => {
      it('renders the sanity example through the served function', async () => {
        const before = fn.calls.length;
        const out = await render({ cli, exampleDir: EXAMPLE, target: fn.target });
        expect(out.exitCode, `${out.command}\n${out.stderr}`).toBe(0);

        // The protocol each CLI speaks.
        const calls = fn.calls.slice(before);
        expect(calls.length).toBeGreaterThanOrEqual(2); // once, then again with the required resource
        expect(new Set(calls)).toEqual(new Set([cli === 'v1.16.0' ? V1BETA1_RUN_FUNCTION_PATH : V1_PATH]));

        // The XR as the pipeline left it: status only, no spec (no --include-full-xr).
        expect(out.xr).toMatchObject({ apiVersion: 'render-sanity.example.org/v1alpha1', kind: 'XSanity', metadata: { name: 'sanity' } });
        expect(out.xr.status).toMatchObject({
          rendered: true,
          observedResources: 'greeting', // observed.yaml reached the function
          answer: '42', // required-resources.yaml reached the function
        });
        expect(out.xr.spec?.greeting).toBeUndefined();

        // The composed ConfigMap, with the input's suffix.
        expect(out.composed).toHaveLength(1);
        expect(out.composed[0]).toMatchObject({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          data: { greeting: 'hello-from-input' },
          metadata: { annotations: { 'crossplane.io/composition-resource-name': 'greeting' } },
        });

        // --include-function-results
        expect(out.results.map((r) => r.message)).toContain('sanity function rendered XSanity/sanity');
        expect(out.objects).toHaveLength(1 + out.composed.length + out.results.length);
      });

      it('passes extra flags (--include-full-xr copies the XR spec)', async () => {
        const out = await render({ cli, exampleDir: EXAMPLE, target: fn.target, extraFlags: ['--include-full-xr'] });
        expect(out.exitCode, out.stderr).toBe(0);
        expect(out.xr.spec).toEqual({ greeting: 'hello' });
      });

      it('reports a failed render instead of hiding it', async () => {
        // Nothing listens on port 9 (discard) of the loopback.
        const out = await render({ cli, exampleDir: EXAMPLE, target: '127.0.0.1:9', extraFlags: ['--timeout=2s'] });
        expect(out.exitCode).not.toBe(0);
        expect(out.objects).toEqual([]);
        expect(out.stderr).toMatch(/function-render-sanity|connect|unavailable|deadline/i);
      });
    });
  }

  it('rejects an example whose Function does not use the Development runtime', async () => {
    const dir = tempDir('render-no-dev');
    try {
      cpSync(join(REPO_ROOT, EXAMPLE), dir, { recursive: true });
      const f = join(dir, 'functions.yaml');
      writeFileSync(f, readFileSync(f, 'utf8').replace('render.crossplane.io/runtime: Development', 'render.crossplane.io/runtime: Docker'));
      await expect(render({ cli: 'v2.2.1', exampleDir: dir, target: fn.target })).rejects.toThrow(/runtime: Development/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
