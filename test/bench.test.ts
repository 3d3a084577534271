// The benchmark in its tiny mode (1 s cells, one scale cell): checks that the
// compiled bench runs its five servers, and the paired comparison with an
// older build (this build standing in for it), (ours with the image's V8 heap sizes
// and with V8's defaults, the no-op with our codec and with the SDK's,
// function-go-templating from scripts/install-functions.sh)
// end to end, prints a figure in every cell
// and sees no failed call; and that `npm run load`'s soak runs for 3 s with no
// failed call. Timings are printed, never asserted.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Runs a compiled bench script from the repo root with extra environment, collecting its output. */
async function runScript(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [join(repo, script)], { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
  return { code, stdout, stderr };
}
import { beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  results: {
    errors: number;
    runs: {
      server: string;
      purpose: string;
      readyMs: number;
      stop: { code: number | null; ok: boolean };
      cells: { request: string; inFlight: number; count: number; errors: number }[];
    }[];
    codec?: { request: string }[];
    paired?: {
      results: { inFlight: number; sides: { server: string; count: number; errors: number; serverCpuMsPerCall?: number; peakRssMiB?: number }[] }[];
      stops: { server: string; stop: { code: number | null; ok: boolean } }[];
    };
  };
}

let run: Run;

beforeAll(async () => {
  // The same build `npm run bench` does first: tsc, then the bundle the bench runs as "ours".
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: repo, stdio: 'pipe', timeout: 240_000 });
  execFileSync(process.execPath, [join(repo, 'dist/scripts/bundle.js')], { cwd: repo, stdio: 'pipe', timeout: 240_000 });
  const resultsFile = join(mkdtempSync(join(tmpdir(), 'fn-bench-')), 'bench-results.json');
  // The paired comparison with an older build, with this build standing in for it (BENCH_BASELINE).
  const { code, stdout, stderr } = await runScript('dist/bench/bench.js', {
    BENCH_QUICK: '1',
    BENCH_SECONDS: '1',
    BENCH_RESULTS: resultsFile,
    BENCH_BASELINE: join(repo, 'dist/function-lambda-canary.mjs'),
  });
  run = { code, stdout, stderr, results: JSON.parse(readFileSync(resultsFile, 'utf8')) as Run['results'] };
}, 300_000);

/** Rows of the first table: server, request, in-flight, req/s, p50, p99, peak RSS, srv CPU, other CPU, errors. */
function cellRows(stdout: string): string[][] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => /^server\s+request\s+in-flight/.test(l));
  expect(start, stdout).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (line.trim() === '' || line.startsWith('(')) break;
    rows.push(line.trim().split(/\s+/));
  }
  return rows;
}

describe('npm run bench (BENCH_QUICK=1, BENCH_SECONDS=1)', () => {
  it('exits 0 and reports no errors', () => {
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).not.toMatch(/^error:/m);
    expect(run.results.errors).toBe(0);
  });

  it('prints figures for all five servers at both in-flight levels, and a scale cell', () => {
    const rows = cellRows(run.stdout);
    const key = (r: string[]) => `${r[0]} ${r[1]} ${r[2]}`;
    expect(rows.map(key).sort()).toEqual(
      [
        'no-op reference 1',
        'no-op reference 64',
        'no-op-sdk reference 1',
        'no-op-sdk reference 64',
        'ours reference 1',
        'ours reference 64',
        'ours-v8-default reference 1',
        'ours-v8-default reference 64',
        'go-templating reference 1',
        'go-templating reference 64',
        'ours scale-10 1',
        'ours-v8-default scale-10 1',
      ].sort(),
    );
    for (const r of rows) {
      expect(r, r.join(' ')).toHaveLength(10);
      // req/s, p50, p99, peak RSS are measured numbers; errors is zero.
      for (const figure of r.slice(3, 7)) expect(Number(figure), r.join(' ')).toBeGreaterThan(0);
      expect(r[9], r.join(' ')).toBe('0');
    }
  });

  it('prints the ours/no-op, ours/no-op-sdk and ours/go-templating ratios and the ready time of each server', () => {
    for (const other of ['no-op', 'no-op-sdk', 'go-templating']) {
      const ratios = new RegExp(
        `^ours / ${other} \\(reference request\\):\\n  in-flight 1: p50 x\\d+\\.\\d+, throughput x\\d+\\.\\d+, server CPU per call x\\d+\\.\\d+\\n` +
          '  in-flight 64: p50 x\\d+\\.\\d+, throughput x\\d+\\.\\d+, server CPU per call x\\d+\\.\\d+$',
        'm',
      );
      expect(run.stdout).toMatch(ratios);
    }
    const servers = run.results.runs.map((r) => `${r.server}/${r.purpose}`).sort();
    expect(servers).toEqual([
      'go-templating/reference',
      'no-op-sdk/reference',
      'no-op/reference',
      'ours-v8-default/reference',
      'ours-v8-default/scale',
      'ours/reference',
      'ours/scale',
    ]);
    for (const r of run.results.runs) {
      expect(r.readyMs).toBeGreaterThan(0);
      // Ours and the no-op drain and exit 0; go-templating is ended by the signal.
      expect(r.stop.ok, `${r.server} stop ${JSON.stringify(r.stop)}`).toBe(true);
      if (r.server !== 'go-templating') expect(r.stop.code).toBe(0);
      for (const c of r.cells) {
        expect(c.count).toBeGreaterThan(0);
        expect(c.errors).toBe(0);
      }
    }
    expect(run.stdout).toMatch(/^ours\s+reference\s+\d+\s+\d+/m);
    expect(run.stdout).toMatch(/^no-op\s+reference\s+\d+\s+\d+/m);
    expect(run.stdout).toMatch(/^no-op-sdk\s+reference\s+\d+\s+\d+/m);
    expect(run.stdout).toMatch(/^go-templating\s+reference\s+\d+\s+-\s+/m);
  });

  it('runs ours and the BENCH_BASELINE build paired (loaded in turns, at the same time) and prints their ratios', () => {
    const paired = run.results.paired;
    expect(paired?.results.map((r) => r.inFlight)).toEqual([1, 64]);
    for (const r of paired!.results) {
      expect(r.sides.map((side) => side.server)).toEqual(['ours', 'baseline']);
      for (const side of r.sides) {
        expect(side.count, JSON.stringify(side)).toBeGreaterThan(0);
        expect(side.errors).toBe(0);
        expect(side.serverCpuMsPerCall).toBeGreaterThan(0);
        expect(side.peakRssMiB).toBeGreaterThan(0);
      }
    }
    expect(paired!.stops.map((s) => [s.server, s.stop.code])).toEqual([
      ['ours', 0],
      ['baseline', 0],
    ]);
    expect(run.stdout).toMatch(
      /^ours \/ baseline \(paired, reference request\):\n {2}in-flight 1: p50 x\d+\.\d+, throughput x\d+\.\d+, server CPU per call x\d+\.\d+, peak RSS x\d+\.\d+\n {2}in-flight 64: /m,
    );
  });

  it("prints the wire codec figures: ours and the SDK's on the reference request, after checking they encode alike", () => {
    expect(run.stdout).toMatch(/^wire codec in this process, mean us per call/m);
    expect(run.stdout).toMatch(/^reference\s+\d+\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+x\d+\.\d+\s+\d+\.\d\s+\d+\.\d\s+x\d+\.\d+$/m);
    expect(run.results.codec?.[0]?.request).toBe('reference');
  });

  it('fails, saying how to install it, when the go-templating binary is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'fn-bench-tools-'));
    const r = spawnSync(process.execPath, [join(repo, 'dist/bench/bench.js')], {
      cwd: repo,
      env: { ...process.env, FLC_TOOLS_DIR: empty, BENCH_RESULTS: join(empty, 'out.json') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^error: function-go-templating v0\.4\.1 is not installed at .*: run scripts\/install-functions\.sh/m);
  });

  it('checked that go-templating renders the same Alias as ours', () => {
    expect(run.stdout).toMatch(
      /^go-templating output = ours on the reference request .*Alias spec \{.*"functionVersion":"\d+".*"additionalVersionWeights":\{"\d+":0\.\d+\}/m,
    );
  });
});

describe('npm run load (SOAK_SECONDS=3, SOAK_WARMUP_SECONDS=1)', () => {
  let soak: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    const { code, stdout, stderr } = await runScript('dist/bench/soak.js', { SOAK_SECONDS: '3', SOAK_WARMUP_SECONDS: '1' });
    soak = { code, stdout, stderr };
  }, 120_000);

  it('exits 0 with zero errors and prints requests, rate, latency, RSS and a verdict', () => {
    const all = `${soak.stdout}\n${soak.stderr}`;
    expect(soak.code, all).toBe(0);
    expect(soak.stdout, all).not.toMatch(/^error:/m);
    expect(Number(/^requests\s+(\d+)/m.exec(soak.stdout)?.[1]), all).toBeGreaterThan(0);
    expect(soak.stdout, all).toMatch(/^errors\s+0$/m);
    expect(Number(/^req\/s\s+(\d+)/m.exec(soak.stdout)?.[1]), all).toBeGreaterThan(0);
    expect(soak.stdout, all).toMatch(/^latency\s+p50 \d+\.\d+ ms, p99 \d+\.\d+ ms/m);
    const rss = /^RSS MB\s+start \(after warm-up\) (\d+\.\d), peak (\d+\.\d), end (\d+\.\d)$/m.exec(soak.stdout);
    expect(rss, all).not.toBeNull();
    for (const v of rss!.slice(1)) expect(Number(v)).toBeGreaterThan(0);
    expect(soak.stdout, all).toMatch(/^verdict: RSS (stayed flat|did NOT stay flat) after warm-up: /m);
    expect(soak.stdout, all).toMatch(/^SIGTERM\s+0 in \d+ ms$/m);
  });
});
