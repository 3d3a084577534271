// Drives the real Crossplane CLIs that scripts/install-crossplane.sh builds:
//
//   crossplaneBinary(version)          path of the CLI; throws when it is not installed
//   runCrossplane(version, args)       run it synchronously
//   buildPackage(version, root, out)   `crossplane xpkg build`
//   validate(schemas, resources, v)    `crossplane beta validate`, offline
//   render({cli, exampleDir, target})  `crossplane [beta] render` against a running function
//
// Nothing here skips: a missing CLI is an error that says how to install it.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { FunctionRunnerServiceService, type RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { parseAllDocuments, stringify } from 'yaml';

export type CliVersion = 'v1.16.0' | 'v2.2.1';
export const CLI_VERSIONS: readonly CliVersion[] = ['v1.16.0', 'v2.2.1'];

/** The repository root (this file is test/support/crossplane.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** Where scripts/install-crossplane.sh puts the CLIs. */
export function toolsDir(): string {
  return process.env.FLC_TOOLS_DIR || join(homedir(), '.cache', 'function-lambda-canary', 'tools');
}

/** The crossplane CLI of `version`; throws when it is absent. */
export function crossplaneBinary(version: CliVersion): string {
  const bin = join(toolsDir(), `crossplane-${version}`, 'crossplane');
  if (!existsSync(bin)) {
    throw new Error(`The Crossplane CLI ${version} is not installed at ${bin}: run scripts/install-crossplane.sh ` + `(npm test does this before vitest).`);
  }
  return bin;
}

/**
 * Crossplane's own CRDs (Composition, CompositeResourceDefinition, Function,
 * ...) of `version`, copied from the module source by install-crossplane.sh.
 */
export function crossplaneCrdsDir(version: CliVersion): string {
  const dir = join(toolsDir(), `crossplane-${version}`, 'crds');
  if (!existsSync(join(dir, 'apiextensions.crossplane.io_compositions.yaml'))) {
    throw new Error(`Crossplane ${version}'s CRDs are missing from ${dir}: run scripts/install-crossplane.sh.`);
  }
  return dir;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment the CLIs run in. Every proxy variable points at a closed
 * local port, so a command that would reach for a registry (validate
 * downloading package schemas, xpkg build pulling a runtime image) fails at
 * once instead of hanging or leaving the machine.
 */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) env[k] = 'http://127.0.0.1:9';
  for (const k of ['NO_PROXY', 'no_proxy']) env[k] = 'localhost,127.0.0.1,::1';
  // DOCKER_HOST would send `render` to a Docker runtime; we only use Development.
  delete env.DOCKER_HOST;
  return { ...env, ...extra };
}

function result(r: ReturnType<typeof spawnSync>): CliResult {
  if (r.error) throw r.error;
  return {
    exitCode: r.status ?? (r.signal ? 128 : 1),
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? '') + (r.signal ? `\n(killed by ${r.signal})` : ''),
  };
}

/** Runs the CLI synchronously. Do not use it to render against an in-process server: that would block its event loop. */
export function runCrossplane(version: CliVersion, args: string[], opts: { cwd?: string; timeoutMs?: number; input?: string } = {}): CliResult {
  const r = spawnSync(crossplaneBinary(version), args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cliEnv(),
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return result(r);
}

/** A fresh temporary directory; callers remove it (or leave it to the OS's tmp cleaning). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `flc-${prefix}-`));
}

// ---------------------------------------------------------------------------
// xpkg build

export interface BuildResult extends CliResult {
  /** The package file; exists when exitCode is 0. */
  xpkg: string;
}

/**
 * `crossplane xpkg build --package-root=<root> -o <out>`, with an empty
 * --examples-root (the default, ./examples of the working directory, would
 * pack whatever happens to be there). Neither CLI needs a runtime image:
 * --embed-runtime-image / --embed-runtime-image-tarball are optional, and a
 * Function package without one is what `crossplane xpkg push` accepts too.
 */
export function buildPackage(version: CliVersion, packageRoot: string, outFile: string): BuildResult {
  const work = tempDir('xpkg');
  try {
    const examples = join(work, 'no-examples');
    mkdirSync(examples);
    const r = runCrossplane(version, ['xpkg', 'build', `--package-root=${resolve(packageRoot)}`, `--examples-root=${examples}`, '-o', resolve(outFile)], {
      cwd: work,
    });
    return { ...r, xpkg: resolve(outFile) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// beta validate

export interface ValidateResult {
  /** True when there was at least one resource, and every resource had a schema and validated. */
  ok: boolean;
  /** The CLI's stdout and stderr. */
  output: string;
  exitCode: number;
}

/** The Crossplane image whose CRDs v2's validate always loads (--crossplane-image). */
const CROSSPLANE_IMAGE = 'xpkg.crossplane.io/crossplane/crossplane';

/**
 * `crossplane beta validate <schemaPaths joined by ,> <resourcePath>`, offline.
 *
 * - The cache (--cache-dir) is a fresh temporary directory.
 * - Crossplane's own CRDs are always available, as a real `validate` has
 *   them: v2.2.1 loads them from the cache entry of --crossplane-image, which
 *   is seeded here from the CLI's module source (so it never downloads
 *   them); v1.16.0, which has no such mechanism, gets them as extensions. So
 *   Compositions and XRDs can be validated as resources too.
 * - Only give schemas that are files or directories of CRDs/XRDs: a
 *   Provider, Function or Configuration among them makes validate download
 *   packages, which fails here (the proxies point at a closed port).
 * - ok is false when a resource has no schema (v2.2.1:
 *   --error-on-missing-schemas; v1.16.0 lacks the flag, so its summary line
 *   is read), not only when one fails validation.
 *
 * Note that v1.16.0 does not report unknown fields; v2.2.1 does.
 */
export function validate(schemaPaths: string[], resourcePath: string, version: CliVersion = 'v2.2.1'): ValidateResult {
  const extensions = schemaPaths.map((p) => resolve(REPO_ROOT, p));
  for (const p of [...extensions, resourcePath]) {
    if (p.includes(',')) throw new Error(`validate: paths cannot contain ",": ${p}`);
    if (!existsSync(resolve(REPO_ROOT, p))) throw new Error(`validate: no such file or directory: ${p}`);
  }
  const work = tempDir('validate');
  try {
    const cache = join(work, 'cache');
    const args = ['beta', 'validate'];
    let sources = extensions;
    if (version === 'v1.16.0') {
      // v1.16.0 takes one extension source, not a comma-separated list: stage
      // copies of all of them (and Crossplane's CRDs) in one directory, which
      // it walks recursively.
      const staged = join(work, 'extensions');
      [...extensions, crossplaneCrdsDir(version)].forEach((src, i) => {
        const dest = join(staged, String(i));
        mkdirSync(dest, { recursive: true });
        if (statSync(src).isDirectory()) cpSync(src, dest, { recursive: true });
        else cpSync(src, join(dest, basename(src)));
      });
      sources = [staged];
    } else {
      const image = `${CROSSPLANE_IMAGE}:${version}`;
      const seeded = join(cache, `${CROSSPLANE_IMAGE}@${version}`);
      mkdirSync(seeded, { recursive: true });
      cpSync(crossplaneCrdsDir(version), seeded, { recursive: true });
      args.push(`--crossplane-image=${image}`, '--error-on-missing-schemas');
    }
    if (sources.length === 0) {
      // Only Crossplane's own CRDs: an empty extension directory.
      sources = [join(work, 'no-extensions')];
      mkdirSync(sources[0]!);
    }
    args.push(`--cache-dir=${cache}`, sources.join(','), resolve(REPO_ROOT, resourcePath));
    const r = runCrossplane(version, args, { cwd: work });
    const output = r.stdout + r.stderr;
    if (/schemas does not exist, downloading/.test(output)) {
      throw new Error(`crossplane ${version} beta validate tried to download schemas; it must run offline:\n${output}`);
    }
    const summary = /Total (\d+) resources: (\d+) missing schemas, (\d+) success cases, (\d+) failure cases/.exec(output);
    const ok =
      r.exitCode === 0 &&
      summary !== null &&
      Number(summary[1]) > 0 && // validating nothing proves nothing
      Number(summary[2]) === 0 &&
      Number(summary[4]) === 0;
    return { ok, output, exitCode: r.exitCode };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// render

export interface RenderOptions {
  cli: CliVersion;
  /**
   * A folder with xr.yaml, composition.yaml, functions.yaml and optionally
   * observed.yaml (--observed-resources) and required-resources.yaml
   * (v1.16.0: --extra-resources; v2.2.1: --required-resources).
   */
  exampleDir: string;
  /** gRPC target (host:port) of the running function; replaces every Function's development target. */
  target: string;
  /** Per-Function targets by Function name, for pipelines of several functions. */
  targets?: Record<string, string>;
  /** More CLI flags, e.g. ['-x'] (--include-full-xr) or ['--include-context']. */
  extraFlags?: string[];
  /** Kill the CLI after this long (it has its own --timeout, 1m by default). */
  timeoutMs?: number;
}

export interface RenderResult extends CliResult {
  /** stdout's YAML stream, as plain objects, in order: the XR, composed resources, then Results. */
  objects: any[];
  /** The first object: the XR as the pipeline left it. */
  xr: any;
  /** Everything that is neither the XR nor a Result/Context. */
  composed: any[];
  /** kind: Result objects (the CLI emits them with --include-function-results). */
  results: any[];
  /** The exact command line, for failure messages. */
  command: string;
}

const RUNTIME = 'render.crossplane.io/runtime';
const RUNTIME_TARGET = 'render.crossplane.io/runtime-development-target';

/**
 * functions.yaml with every Function's development target replaced (and, for
 * the v1.16 CLI, pkg.crossplane.io/v1 Functions written as v1beta1).
 */
function retargetFunctions(cli: CliVersion, text: string, file: string, target: string, targets: Record<string, string>): string {
  const docs = parseAllDocuments(text);
  const out: string[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const fn = doc.toJS();
    if (fn === null || fn === undefined) continue;
    if (fn.kind !== 'Function') throw new Error(`${file}: expected only Function objects, found kind ${fn.kind}`);
    const annotations = (fn.metadata ??= {}).annotations ?? {};
    if (annotations[RUNTIME] !== 'Development') {
      throw new Error(
        `${file}: Function ${fn.metadata.name} must have the annotation ${RUNTIME}: Development ` +
          `(the harness runs functions itself; there is no Docker here)`,
      );
    }
    annotations[RUNTIME_TARGET] = targets[fn.metadata.name] ?? target;
    // The v1.16 CLI reads only pkg.crossplane.io/v1beta1 Functions; v2 reads both.
    if (cli === 'v1.16.0' && fn.apiVersion === 'pkg.crossplane.io/v1') fn.apiVersion = 'pkg.crossplane.io/v1beta1';
    fn.metadata.annotations = annotations;
    out.push(stringify(fn));
  }
  if (out.length === 0) throw new Error(`${file}: no Function objects`);
  return out.map((d) => `---\n${d}`).join('');
}

/** Parses the CLI's YAML stream. */
export function parseYamlStream(text: string): any[] {
  const objects: any[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`cannot parse render output: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

/**
 * Runs the real `crossplane render` (v2.2.1) or `crossplane beta render`
 * (v1.16.0) on an example folder, against a function that is already
 * listening at `target`.
 *
 * Always passes --include-function-results (-r), so the function's Results
 * are part of the output. It does not pass --include-full-xr (-x): without
 * it the XR in the output is exactly what the pipeline desired (status, and
 * nothing copied from the input), which is what assertions should look at;
 * add '-x' through extraFlags when piping the output to `beta validate`,
 * which needs the XR's spec.
 *
 * Asynchronous on purpose: the function under test usually runs in the test's
 * own process, whose event loop must keep serving while the CLI waits.
 */
export async function render(opts: RenderOptions): Promise<RenderResult> {
  const dir = resolve(REPO_ROOT, opts.exampleDir);
  for (const f of ['xr.yaml', 'composition.yaml', 'functions.yaml']) {
    if (!existsSync(join(dir, f))) throw new Error(`render: ${join(dir, f)} is missing`);
  }
  const bin = crossplaneBinary(opts.cli);
  const work = tempDir('render');
  const fnFile = join(work, 'functions.yaml');
  writeFileSync(
    fnFile,
    retargetFunctions(opts.cli, readFileSync(join(dir, 'functions.yaml'), 'utf8'), join(dir, 'functions.yaml'), opts.target, opts.targets ?? {}),
  );

  const args = opts.cli === 'v1.16.0' ? ['beta', 'render'] : ['render'];
  args.push(join(dir, 'xr.yaml'), join(dir, 'composition.yaml'), fnFile, '--include-function-results');
  const observed = join(dir, 'observed.yaml');
  if (existsSync(observed)) args.push(`--observed-resources=${observed}`);
  const required = join(dir, 'required-resources.yaml');
  if (existsSync(required)) {
    // v1.16 calls them extra resources; v2 renamed the flag (--extra-resources
    // is kept there as a deprecated alias).
    args.push(opts.cli === 'v1.16.0' ? `--extra-resources=${required}` : `--required-resources=${required}`);
  }
  args.push(...(opts.extraFlags ?? []));
  const command = [bin, ...args].join(' ');

  return new Promise<RenderResult>((resolvePromise, reject) => {
    const child = spawn(bin, args, { cwd: work, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(render harness: killed after ${opts.timeoutMs ?? 90_000} ms)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 90_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      rmSync(work, { recursive: true, force: true });
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(work, { recursive: true, force: true });
      const exitCode = code ?? (signal ? 128 : 1);
      let objects: any[] = [];
      if (exitCode === 0) {
        try {
          objects = parseYamlStream(stdout);
        } catch (err) {
          reject(new Error(`${(err as Error).message}\ncommand: ${command}\nstdout:\n${stdout}`));
          return;
        }
      }
      const results = objects.filter((o) => o?.kind === 'Result');
      const xr = objects[0];
      const composed = objects.slice(1).filter((o) => o?.kind !== 'Result' && o?.kind !== 'Context');
      resolvePromise({ exitCode, stdout, stderr, objects, xr, composed, results, command });
    });
  });
}

/** Lists the example folders (those with an xr.yaml) under `dir`. */
export function exampleDirs(dir: string): string[] {
  const root = resolve(REPO_ROOT, dir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((d) => join(root, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, 'xr.yaml')))
    .sort();
}

// ---------------------------------------------------------------------------
// A function server for render tests

export type RunFunctionHandler = (req: RunFunctionRequest) => RunFunctionResponse | Promise<RunFunctionResponse>;

export interface ServedFunction {
  /** host:port to give render() as its target. */
  target: string;
  /** The gRPC method path of every call, in order. */
  calls: string[];
  close(): Promise<void>;
}

/** The path Crossplane v1.x (v1beta1 protocol) calls; v2 calls FunctionRunnerServiceService's v1 path. */
export const V1BETA1_RUN_FUNCTION_PATH = '/apiextensions.fn.proto.v1beta1.FunctionRunnerService/RunFunction';

/**
 * Serves `handler` over insecure gRPC on 127.0.0.1 at a free port, under
 * both RunFunction paths: apiextensions.fn.proto.v1 (Crossplane 1.17+ and
 * v2) and apiextensions.fn.proto.v1beta1 (what the v1.16 CLI calls; the
 * messages are the same on the wire).
 */
export async function serveFunction(handler: RunFunctionHandler): Promise<ServedFunction> {
  const server = new grpc.Server();
  const calls: string[] = [];
  const unary =
    (path: string): grpc.handleUnaryCall<RunFunctionRequest, RunFunctionResponse> =>
    (call, callback) => {
      calls.push(path);
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (rsp) => callback(null, rsp),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: String(err) }, null),
        );
    };
  const v1 = FunctionRunnerServiceService.runFunction;
  server.addService(FunctionRunnerServiceService, { runFunction: unary(v1.path) });
  server.addService({ runFunction: { ...v1, path: V1BETA1_RUN_FUNCTION_PATH } }, { runFunction: unary(V1BETA1_RUN_FUNCTION_PATH) });
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : ok(p))),
  );
  return {
    target: `127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((ok) => {
        server.tryShutdown(() => ok());
        setTimeout(() => {
          server.forceShutdown();
          ok();
        }, 2000).unref();
      }),
  };
}
