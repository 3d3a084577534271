// Mirrors the Dockerfile: build from tsconfig.json + function/ +
// scripts/bundle.ts (tsc, then the esbuild bundle), copy only the bundle (and
// its map, licences and chunks) into an empty directory, run it there. Catches what unit tests cannot: a
// dependency the bundle left out or cannot load without node_modules, a file
// the image forgets to copy, broken ESM/CJS interop, signal handling.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionClient, healthClient } from './support/grpc-client.js';
import { freePort } from './support/server.js';
import { imageNodeOptions } from '../bench/proc.js';

const repo = resolve(import.meta.dirname, '..');
const ENTRY = 'dist/function-lambda-canary.mjs';
const CHUNKS = 'function-lambda-canary-chunks';
const SHIPPED = [CHUNKS, 'function-lambda-canary.licenses.txt', 'function-lambda-canary.mjs', 'function-lambda-canary.mjs.map'];
let app: string;
let child: ChildProcess | undefined;

function run(cmd: string, args: string[], cwd: string): void {
  try {
    execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} in ${cwd} failed: ${e.message}\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
  }
}

beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'fn-smoke-'));

  // Build stage: COPY package*.json; npm ci; COPY tsconfig.json function/
  // scripts/bundle.ts; npm run build. The repo's node_modules stands in for
  // the build stage's full `npm ci`.
  const build = join(root, 'build');
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(repo, f), join(build, f));
  cpSync(join(repo, 'function'), join(build, 'function'), { recursive: true });
  cpSync(join(repo, 'scripts/bundle.ts'), join(build, 'scripts/bundle.ts'));
  symlinkSync(join(repo, 'node_modules'), join(build, 'node_modules'), 'dir');
  run('npm', ['run', 'build'], build);

  // Runtime stage: COPY --from=build the bundle, its map, licences and
  // chunks into dist/; nothing else (no package.json, no node_modules).
  app = join(root, 'app');
  mkdirSync(join(app, 'dist'), { recursive: true });
  for (const f of SHIPPED) cpSync(join(build, 'dist', f), join(app, 'dist', f), { recursive: true });
}, 300_000);

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('production image smoke test', () => {
  it('ships the bundle alone, with the production dependencies inside it', () => {
    expect(readdirSync(app)).toEqual(['dist']);
    expect(readdirSync(join(app, 'dist')).sort()).toEqual(SHIPPED);
    const { sources } = JSON.parse(readFileSync(join(app, `${ENTRY}.map`), 'utf8')) as { sources: string[] };
    const bundled = (pkg: string) => sources.some((s) => s.includes(`node_modules/${pkg}/`));
    expect(bundled('@grpc/grpc-js')).toBe(true);
    expect(sources).toContain('../function/main.ts');
    // function/server/health.ts serves the health protocol; the package is only the tests' client.
    expect(bundled('grpc-health-check')).toBe(false);
    expect(bundled('vitest')).toBe(false);
    expect(bundled('typescript')).toBe(false);
    expect(readFileSync(join(app, 'dist/function-lambda-canary.licenses.txt'), 'utf8')).toContain('@grpc/grpc-js@');
    expect(readFileSync(join(app, 'dist/function-lambda-canary.licenses.txt'), 'utf8')).toContain('@aws-sdk/client-cloudwatch@');
    // The AWS SDK is not in the bundle, which every process loads, but in its chunks, which only a measuring one does.
    expect(bundled('@aws-sdk/client-cloudwatch')).toBe(false);
    expect(bundled('@smithy/smithy-client')).toBe(false);
  });

  it('loads the CloudWatch client from its chunk with nothing but the shipped files', () => {
    // The bundle's dynamic import of @aws-sdk/client-cloudwatch, as esbuild rewrote it.
    const imports = [...readFileSync(join(app, ENTRY), 'utf8').matchAll(new RegExp(`import\\("\\./(${CHUNKS}/[^"]+\\.mjs)"\\)`, 'g'))].map((m) => m[1]!);
    expect(imports).toHaveLength(1);
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import('./dist/${imports[0]}'); console.log(typeof m.CloudWatchClient, typeof m.GetMetricDataCommand)`],
      { cwd: app, env: { PATH: process.env['PATH'] ?? '' } },
    );
    expect(out.toString().trim()).toBe('function function');
  });

  it('serves RunFunction, reports healthy, and exits 0 after draining on SIGTERM', async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, [ENTRY, '--insecure', '--address', `127.0.0.1:${port}`], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The image's environment: NODE_ENV and the V8 heap sizes its Dockerfile sets.
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', NODE_OPTIONS: imageNodeOptions() },
    });
    child = proc;
    const logs: Record<string, unknown>[] = [];
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));

    const listening = await new Promise<Record<string, unknown>>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no "listening" log line within 20s; stderr: ${stderr}`)), 20_000);
      void exited.then((code) => rej(new Error(`function exited with ${code} before listening; stderr: ${stderr}`)));
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry['msg'] === 'listening') {
          clearTimeout(timer);
          res(entry);
        }
      });
    });
    expect(listening).toMatchObject({ level: 'info', address: `127.0.0.1:${port}`, port });
    // The Dockerfile's --max-old-space-size=512 took effect (V8 adds the young generation on top).
    expect(listening['heapLimitMiB']).toBeGreaterThanOrEqual(512);
    expect(listening['heapLimitMiB']).toBeLessThan(600);

    const target = `127.0.0.1:${port}`;
    const client = functionClient(target, 'v1');
    const health = healthClient(target);
    try {
      const rsp = await client.runFunction(RunFunctionRequest.fromPartial({ meta: { tag: 'smoke' } }));
      expect(rsp.meta?.tag).toBe('smoke');
      expect(rsp.desired).toBeDefined();
      expect(await health.check('')).toBe('SERVING');
    } finally {
      client.close();
      health.close();
    }

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs.map((l) => l['msg'])).toContain('stopped');
    expect(stderr).toBe('');
  }, 60_000);

  it('exits 2 with a clear message on an unknown flag', () => {
    let status: number | null = null;
    let stderr = '';
    try {
      execFileSync(process.execPath, [ENTRY, '--bogus'], { cwd: app, stdio: 'pipe' });
    } catch (err) {
      const e = err as { status: number | null; stderr: Buffer };
      status = e.status;
      stderr = e.stderr.toString();
    }
    expect(status).toBe(2);
    expect(stderr).toContain('unknown flag --bogus');
    expect(stderr).toContain('--insecure');
  });
});
