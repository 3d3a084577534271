// End to end, Resolver mode: a platform team's existing Composition whose
// step 1 is the REAL upstream function-patch-and-transform (built by
// scripts/install-functions.sh, run here as a child process) and whose step 2
// is our real server in Resolver mode. Both examples/resolver-* render through
// the REAL Crossplane CLIs v1.16.0 and v2.2.1; every rendered ACK object
// validates against the ACK v1.14.1 CRDs, which the Alias step 1 renders (with
// reference fields) does not.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../function/server/server.js';
import { freePort, startLoopbackServer } from './support/server.js';
import { CLI_VERSIONS, REPO_ROOT, render, toolsDir, validate, type CliVersion, type RenderResult } from './support/crossplane.js';
import { ACK_CRDS_DIR as ACK_CRDS } from './support/ack-schema.js';

const PT_NAME = 'function-patch-and-transform';
const PT_VERSION = 'v0.5.0';
const OURS = 'function-lambda-canary';
const EXAMPLES = ['resolver-patch-and-transform', 'resolver-pending'] as const;
type Example = (typeof EXAMPLES)[number];

// ---------------------------------------------------------------------------
// The upstream function, as a child process

function ptBinary(): string {
  const bin = join(toolsDir(), `${PT_NAME}-${PT_VERSION}`, PT_NAME);
  if (!existsSync(bin)) {
    throw new Error(`${PT_NAME} ${PT_VERSION} is not installed at ${bin}: run scripts/install-functions.sh (npm test does this before vitest).`);
  }
  return bin;
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const sock = connect({ host: '127.0.0.1', port }, () => {
      sock.destroy();
      ok(true);
    });
    sock.once('error', () => ok(false));
  });
}

interface Child {
  target: string;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `bin --insecure --address=127.0.0.1:<free port>` and waits until it accepts connections. */
async function startChild(bin: string): Promise<Child> {
  const port = await freePort();
  const proc = spawn(bin, ['--insecure', `--address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  let exited: string | undefined;
  const exit = new Promise<void>((ok) =>
    proc.once('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      ok();
    }),
  );
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (exited !== undefined || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${bin} did not start listening on 127.0.0.1:${port} (${exited ?? 'timed out'}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    target: `127.0.0.1:${port}`,
    proc,
    output: () => out,
    stop: async () => {
      if (exited !== undefined) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------

let server: RunningServer;
let pt: Child;

beforeAll(async () => {
  const bin = ptBinary();
  server = await startLoopbackServer();
  pt = await startChild(bin);
});
afterAll(async () => {
  await pt?.stop();
  await server?.shutdown(1000);
});

async function renderDir(cli: CliVersion, exampleDir: string): Promise<RenderResult> {
  const r = await render({ cli, exampleDir, target: `127.0.0.1:${server.port}`, targets: { [PT_NAME]: pt.target } });
  expect(r.exitCode, `${r.command}\n${r.stderr}\n${PT_NAME} output:\n${pt.output()}`).toBe(0);
  return r;
}

/**
 * A copy of an example whose pipeline stops after step 1 (patch-and-transform
 * alone): what the platform's Composition rendered before it added our step.
 */
function stepOneOnly(example: Example): string {
  const dir = mkdtempSync(join(tmpdir(), 'flc-step1-'));
  cpSync(join(REPO_ROOT, 'examples', example), dir, { recursive: true });
  const composition = parse(readFileSync(join(dir, 'composition.yaml'), 'utf8'));
  expect(composition.spec.pipeline.map((s: any) => s.functionRef.name)).toEqual([PT_NAME, OURS]);
  composition.spec.pipeline = composition.spec.pipeline.slice(0, 1);
  writeFileSync(join(dir, 'composition.yaml'), stringify(composition));
  const fns = readFileSync(join(dir, 'functions.yaml'), 'utf8')
    .split(/^---$/m)
    .filter((d) => d.includes(`name: ${PT_NAME}`));
  writeFileSync(join(dir, 'functions.yaml'), fns.join('---\n'));
  return dir;
}

/** A copy of an example whose XR has `weight` as spec.release.canaryWeight. */
function withCanaryWeight(example: Example, weight: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'flc-weight-'));
  cpSync(join(REPO_ROOT, 'examples', example), dir, { recursive: true });
  const xr = parse(readFileSync(join(dir, 'xr.yaml'), 'utf8'));
  xr.spec.release.canaryWeight = weight;
  writeFileSync(join(dir, 'xr.yaml'), stringify(xr));
  return dir;
}

/** `crossplane beta validate` (v2.2.1, which reports unknown fields) of objects against the ACK CRDs. */
function validateAck(objects: any[]): ReturnType<typeof validate> {
  const dir = mkdtempSync(join(tmpdir(), 'flc-rendered-'));
  try {
    const file = join(dir, 'rendered.yaml');
    writeFileSync(file, objects.map((o) => `---\n${stringify(o)}`).join(''));
    return validate([ACK_CRDS], file, 'v2.2.1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isAck = (o: any) => String(o?.apiVersion ?? '').startsWith('lambda.services.k8s.aws/');
const byKind = (r: RenderResult, kind: string) => r.composed.filter((o) => o.kind === kind);
const one = (r: RenderResult, kind: string) => {
  const list = byKind(r, kind);
  expect(list, `exactly one ${kind}`).toHaveLength(1);
  return list[0];
};
const messages = (r: RenderResult, severity: string) => r.results.filter((x) => x.severity === severity).map((x) => String(x.message));
/** Function conditions reach the XR only on Crossplane >= v1.17. */
const condition = (r: RenderResult, type: string) => (r.xr.status?.conditions ?? []).find((c: any) => c.type === type);

/** What each example's README promises. */
const CHECKS: Record<Example, (r: RenderResult, cli: CliVersion) => void> = {
  'resolver-patch-and-transform': (r, cli) => {
    const a = one(r, 'Alias');
    expect(a.metadata).toMatchObject({
      name: 'orders-live',
      namespace: 'team-a',
      annotations: { 'crossplane.io/composition-resource-name': 'alias', 'services.k8s.aws/region': 'us-east-1' },
    });
    // References resolved into ACK's own fields, and gone.
    expect(a.spec).toEqual({
      name: 'live',
      description: 'Production traffic',
      functionName: 'orders-api',
      functionVersion: '41',
      routingConfig: { additionalVersionWeights: { '42': 0.1 } },
    });
    expect(messages(r, 'SEVERITY_WARNING')).toEqual([]);
    expect(messages(r, 'SEVERITY_FATAL')).toEqual([]);
    if (cli !== 'v1.16.0') {
      expect(condition(r, 'VersionsResolved')).toMatchObject({ status: 'True', reason: 'Resolved' });
      // Not yet: the live Alias still routes 100% to 41 until ACK applies this.
      expect(condition(r, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'NotYetRouted' });
    }
  },
  'resolver-pending': (r, cli) => {
    const a = one(r, 'Alias');
    expect(a.metadata).toMatchObject({ name: 'orders-live', namespace: 'team-a' });
    // Held exactly as observed: neither the new stable (42) nor a split to the
    // unpublished 43; the reference fields are still rewritten away.
    expect(a.spec).toEqual({
      name: 'live',
      description: 'Production traffic',
      functionName: 'orders-api',
      functionVersion: '41',
      routingConfig: { additionalVersionWeights: { '42': 0.1 } },
    });
    const warnings = messages(r, 'SEVERITY_WARNING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('keeping alias live: 90% to version 41, 10% to version 42');
    expect(warnings[0]).toContain('Alias orders-live');
    expect(warnings[0]).toContain('ACK Version team-a/orders-api-v43 has not been published yet');
    expect(r.results.find((x) => x.severity === 'SEVERITY_WARNING')).toMatchObject({ step: 'resolve-lambda-versions' });
    if (cli !== 'v1.16.0') {
      expect(condition(r, 'VersionsResolved')).toMatchObject({ status: 'False', reason: 'Pending' });
      expect(condition(r, 'VersionsResolved').message).toContain('team-a/orders-api-v43');
      expect(condition(r, 'TrafficRouted')).toMatchObject({ status: 'False', reason: 'NotYetRouted' });
    }
  },
};

describe('resolver examples', () => {
  it('each has a README with the exact render commands for both CLIs, and both functions on the Development runtime', () => {
    for (const e of EXAMPLES) {
      const readme = readFileSync(join(REPO_ROOT, 'examples', e, 'README.md'), 'utf8');
      expect(readme).toContain(
        'crossplane render xr.yaml composition.yaml functions.yaml --observed-resources=observed.yaml --required-resources=required-resources.yaml --include-function-results',
      );
      expect(readme).toContain(
        'crossplane beta render xr.yaml composition.yaml functions.yaml --observed-resources=observed.yaml --extra-resources=required-resources.yaml --include-function-results',
      );
      expect(readme).toContain(`${PT_NAME} --insecure --address=127.0.0.1:9444`);
      const fns = readFileSync(join(REPO_ROOT, 'examples', e, 'functions.yaml'), 'utf8');
      expect(fns).toMatch(new RegExp(`name: ${PT_NAME}\\n\\s+annotations:\\n\\s+render.crossplane.io/runtime: Development`));
      expect(fns).toMatch(new RegExp(`name: ${OURS}\\n\\s+annotations:\\n\\s+render.crossplane.io/runtime: Development`));
      expect(fns).toContain(`crossplane-contrib/${PT_NAME}:${PT_VERSION}`);
    }
  });

  for (const e of EXAMPLES) {
    it(`${e}: composition.yaml is a valid Composition, and both steps' inputs are valid for their Input CRDs`, () => {
      // patch-and-transform's Input CRD comes from its module source (install-functions.sh); ours is generated from zod.
      const ptInput = join(toolsDir(), `${PT_NAME}-${PT_VERSION}`, 'input');
      const v = validate([ptInput, 'package/function/input.yaml'], join('examples', e, 'composition.yaml'), 'v2.2.1');
      expect(v.ok, v.output).toBe(true);
      expect(v.output).toMatch(/Total 3 resources: 0 missing schemas, 3 success cases, 0 failure cases/);
    });
  }
});

for (const cli of CLI_VERSIONS) {
  describe(`resolver examples rendered by the real crossplane ${cli} (${PT_NAME} ${PT_VERSION} -> function-lambda-canary)`, () => {
    for (const example of EXAMPLES) {
      it(example, async () => {
        const r = await renderDir(cli, `examples/${example}`);
        CHECKS[example](r, cli);

        // No reference field survives anywhere in the output.
        expect(r.stdout).not.toMatch(/functionVersionRef|additionalVersionWeightRefs/);

        // Every rendered ACK object is valid for the ACK v1.14.1 CRDs.
        const ack = r.composed.filter(isAck);
        expect(ack.length).toBeGreaterThan(0);
        const v = validateAck(ack);
        expect(v.ok, `rendered ACK objects of ${example} against the ACK CRDs:\n${v.output}`).toBe(true);

        // Step 1 alone: what patch-and-transform rendered before our step.
        const step1 = stepOneOnly(example);
        try {
          const before = await renderDir(cli, step1);
          const input = one(before, 'Alias');
          // The real upstream function wrote the references from the XR.
          const xr = parse(readFileSync(join(REPO_ROOT, 'examples', example, 'xr.yaml'), 'utf8'));
          expect(input.spec.functionVersionRef).toEqual({ from: { name: xr.spec.release.stable } });
          expect(input.spec.routingConfig).toEqual({
            additionalVersionWeightRefs: [{ versionRef: { from: { name: xr.spec.release.canary } }, weight: xr.spec.release.canaryWeight }],
          });
          expect(input.spec.functionVersion).toBeUndefined();

          // Everything but the Alias passes through our step untouched.
          const others = (x: RenderResult) => x.composed.filter((o) => o.kind !== 'Alias');
          expect(others(r)).toEqual(others(before));
          expect(one(r, 'ConfigMap').data).toEqual({ LOG_LEVEL: 'info', FUNCTION_NAME: 'orders-api', OWNER: 'team-a@example.org' });
          // So do the Alias's metadata and its fields that are not references.
          const { spec: _s, ...inputMeta } = input;
          const { spec: _o, ...outputMeta } = one(r, 'Alias');
          expect(outputMeta).toEqual(inputMeta);
          for (const f of ['name', 'description', 'functionName']) expect(one(r, 'Alias').spec[f]).toEqual(input.spec[f]);

          // The reason for this step: the ACK CRDs reject the Alias with references.
          if (cli === 'v2.2.1') {
            const rejected = validateAck([input]);
            expect(rejected.ok, rejected.output).toBe(false);
            expect(rejected.output).toMatch(/functionVersionRef/);
            expect(rejected.output).toMatch(/additionalVersionWeightRefs/);
          }
        } finally {
          rmSync(step1, { recursive: true, force: true });
        }
      });
    }

    it('a malformed reference (a percentage where a fraction belongs) is a Fatal result naming the resource and field', async () => {
      const dir = withCanaryWeight('resolver-patch-and-transform', 10);
      try {
        const r = await render({ cli, exampleDir: dir, target: `127.0.0.1:${server.port}`, targets: { [PT_NAME]: pt.target } });
        expect(r.exitCode, r.stdout).not.toBe(0);
        expect(r.stderr).toMatch(/fatal result/);
        expect(r.stderr).toContain('invalid references in desired resource alias (Alias orders-live)');
        expect(r.stderr).toContain('spec.routingConfig.additionalVersionWeightRefs[0].weight: must be below 1');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
