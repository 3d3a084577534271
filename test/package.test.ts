// The packages build with the real `crossplane xpkg build`, and the API
// validates with the real `crossplane beta validate`: the generated XRDs
// accept good LambdaCanaries and reject bad ones, the Compositions and XRDs
// are valid Crossplane objects, and the ACK Alias shape we render matches the
// ACK v1.14.1 CRDs vendored in test/fixtures/ack-lambda-crds.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, CLI_VERSIONS, type CliVersion, crossplaneBinary, REPO_ROOT, tempDir, validate } from './support/crossplane.js';
import { ACK_CRDS_DIR as ACK_CRDS } from './support/ack-schema.js';

const FIX = 'test/fixtures/validate';
const XRD_V1 = 'package/configuration-v1/xrd.yaml';
const XRD_V2 = 'package/configuration-v2/xrd.yaml';
const FUNCTION_ROOT = 'package/function';
const INPUT_CRD = `${FUNCTION_ROOT}/input.yaml`;

/** A non-empty regular file. */
function expectPackage(path: string): void {
  expect(existsSync(path), `${path} exists`).toBe(true);
  expect(statSync(path).size, `${path} size`).toBeGreaterThan(1024);
}

describe('crossplane xpkg build', () => {
  let work: string;
  // The Function package root as committed: its metadata and the Input CRD, nothing else.
  const functionRoot = join(REPO_ROOT, FUNCTION_ROOT);

  beforeAll(() => {
    for (const v of CLI_VERSIONS) crossplaneBinary(v); // fail loudly, never skip
    work = tempDir('package-test');
  });

  it('package/function holds exactly the Function metadata and the Input CRD (the build packs every YAML file there)', () => {
    expect(
      readdirSync(functionRoot)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort(),
    ).toEqual(['crossplane.yaml', 'input.yaml']);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const cli of CLI_VERSIONS) {
    describe(`with the ${cli} CLI`, () => {
      // No Docker engine here, so no runtime image to embed: the README's
      // command adds --embed-runtime-image; the package is otherwise the same.
      it('builds the Function package from package/function as committed (metadata + Input CRD, no runtime image)', () => {
        const out = join(work, `function-${cli}.xpkg`);
        const r = buildPackage(cli, functionRoot, out);
        expect(r.exitCode, r.stderr).toBe(0);
        expectPackage(out);
      });

      it('builds the v1 Configuration package', () => {
        const out = join(work, `configuration-v1-${cli}.xpkg`);
        const r = buildPackage(cli, join(REPO_ROOT, 'package/configuration-v1'), out);
        expect(r.exitCode, r.stderr).toBe(0);
        expectPackage(out);
      });
    });
  }

  it('builds the v2 Configuration package with the v2.2.1 CLI', () => {
    const out = join(work, 'configuration-v2.xpkg');
    const r = buildPackage('v2.2.1', join(REPO_ROOT, 'package/configuration-v2'), out);
    expect(r.exitCode, r.stderr).toBe(0);
    expectPackage(out);
  });

  it('cannot build the v2 Configuration with the v1.16.0 CLI: its XRD is apiextensions.crossplane.io/v2, hence crossplane >=v2.0.0', () => {
    const r = buildPackage('v1.16.0', join(REPO_ROOT, 'package/configuration-v2'), join(work, 'never.xpkg'));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/no kind "CompositeResourceDefinition" is registered for version "apiextensions.crossplane.io\/v2"/);
  });

  it('refuses a Function package that carries a Composition (the CLI lints package contents)', () => {
    const bad = join(work, 'bad-function-root');
    mkdirSync(bad);
    copyFileSync(join(functionRoot, 'crossplane.yaml'), join(bad, 'crossplane.yaml'));
    copyFileSync(join(REPO_ROOT, 'package/configuration-v2/composition.yaml'), join(bad, 'composition.yaml'));
    const r = buildPackage('v2.2.1', bad, join(work, 'bad.xpkg'));
    expect(r.exitCode, r.stdout + r.stderr).not.toBe(0);
  });
});

describe('crossplane beta validate', () => {
  beforeAll(() => {
    for (const v of CLI_VERSIONS) crossplaneBinary(v);
    expect(existsSync(join(ACK_CRDS, 'lambda.services.k8s.aws_aliases.yaml')), `ACK CRDs at ${ACK_CRDS}`).toBe(true);
  });

  describe('the v2 XRD (v2.2.1 CLI)', () => {
    it('accepts valid LambdaCanaries', () => {
      const r = validate([XRD_V2], `${FIX}/lambdacanary-v2.yaml`, 'v2.2.1');
      expect(r.ok, r.output).toBe(true);
      expect(r.output).toMatch(/Total 2 resources: 0 missing schemas, 2 success cases, 0 failure cases/);
    });

    it('rejects each broken LambdaCanary, with the schema and CEL messages', () => {
      const r = validate([XRD_V2], `${FIX}/lambdacanary-v2-invalid.yaml`, 'v2.2.1');
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(/Total 3 resources: 0 missing schemas, 0 success cases, 3 failure cases/);
      expect(r.output).toMatch(/both-modes : spec: Invalid value: use either stable\/canary or rollout, not both/);
      expect(r.output).toMatch(/numeric-alias : spec\.alias\.name: Invalid value: "123"/);
      expect(r.output).toMatch(/two-functions : spec\.function: Invalid value: set exactly one of name or ref/);
    });

    it('reports LambdaCanaries it has no schema for as a failure', () => {
      // The v1 fixture has XLambdaCanary, which the v2 XRD does not define.
      const r = validate([XRD_V2], `${FIX}/lambdacanary-v1.yaml`, 'v2.2.1');
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(/could not find CRD\/XRD for: canary\.lambda\.fn\.crossplane\.io\/v1alpha1, Kind=XLambdaCanary/);
    });

    it("validates the XRD and the Composition themselves against Crossplane v2.2.1's CRDs", () => {
      const xrd = validate([], XRD_V2, 'v2.2.1');
      expect(xrd.ok, xrd.output).toBe(true);
      expect(xrd.output).toMatch(/Kind=CompositeResourceDefinition, lambdacanaries\.canary\.lambda\.fn\.crossplane\.io validated successfully/);
      const comp = validate([], 'package/configuration-v2/composition.yaml', 'v2.2.1');
      expect(comp.ok, comp.output).toBe(true);
      expect(comp.output).toMatch(/Kind=Composition, .* validated successfully/);
    });
  });

  for (const cli of CLI_VERSIONS) {
    describe(`the v1 XRD (${cli} CLI)`, () => {
      it('accepts a valid XLambdaCanary and LambdaCanary claim', () => {
        const r = validate([XRD_V1], `${FIX}/lambdacanary-v1.yaml`, cli);
        expect(r.ok, r.output).toBe(true);
        expect(r.output).toMatch(/Kind=XLambdaCanary, checkout-live validated successfully/);
        expect(r.output).toMatch(/Kind=LambdaCanary, checkout-live validated successfully/);
      });

      it("validates the v1 XRD and Composition against Crossplane's own CRDs", () => {
        const xrd = validate([], XRD_V1, cli);
        expect(xrd.ok, xrd.output).toBe(true);
        const comp = validate([], 'package/configuration-v1/composition.yaml', cli);
        expect(comp.ok, comp.output).toBe(true);
      });
    });
  }

  describe('the Input CRD', () => {
    for (const cli of CLI_VERSIONS) {
      it(`accepts a valid Input and rejects an unknown mode (${cli})`, () => {
        const good = validate([INPUT_CRD], `${FIX}/input.yaml`, cli);
        expect(good.ok, good.output).toBe(true);
        const bad = validate([INPUT_CRD], `${FIX}/input-invalid.yaml`, cli);
        expect(bad.ok).toBe(false);
        expect(bad.output).toMatch(/mode: Unsupported value: "Rollback"/);
      });
    }
  });

  describe('ACK Alias fixtures against the ACK CRDs', () => {
    for (const cli of CLI_VERSIONS) {
      it(`accepts the Alias shape the function renders (${cli})`, () => {
        const r = validate([ACK_CRDS], `${FIX}/ack-alias.yaml`, cli);
        expect(r.ok, r.output).toBe(true);
        expect(r.output).toMatch(/Kind=Alias, checkout-live validated successfully/);
      });

      it(`rejects an Alias without functionVersion (${cli})`, () => {
        const r = validate([ACK_CRDS], `${FIX}/ack-alias-invalid.yaml`, cli);
        expect(r.ok).toBe(false);
        expect(r.output).toMatch(/spec\.functionVersion: Required value/);
      });
    }
  });

  it('does not call an empty resource file valid', () => {
    const dir = tempDir('empty-resources');
    try {
      const file = join(dir, 'none.yaml');
      writeFileSync(file, '');
      for (const cli of CLI_VERSIONS) {
        const r = validate([XRD_V1], file, cli);
        expect(r.output).toMatch(/Total 0 resources/);
        expect(r.ok, cli).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells CLI versions apart: only v2.2.1 reports unknown fields', () => {
    // A typo'd field in an otherwise valid Alias. v1.16.0's validate prunes
    // silently; v2.2.1's reports it. Tests that care about typos use v2.2.1.
    const dir = tempDir('unknown-field');
    try {
      const file = join(dir, 'alias.yaml');
      writeFileSync(file, readFileSync(join(REPO_ROOT, FIX, 'ack-alias.yaml'), 'utf8').replace('  functionName:', '  functionNmae: typo\n  functionName:'));
      const results: Record<CliVersion, boolean> = {
        'v1.16.0': validate([ACK_CRDS], file, 'v1.16.0').ok,
        'v2.2.1': validate([ACK_CRDS], file, 'v2.2.1').ok,
      };
      expect(results).toEqual({ 'v1.16.0': true, 'v2.2.1': false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
