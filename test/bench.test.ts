// The benchmark in its tiny mode (1 s cells, one scale cell): checks that the
// compiled bench runs both servers end to end, prints a figure in every cell
// and sees no failed call. Timings are printed, never asserted.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  results: {
    errors: number;
    runs: { server: string; purpose: string; readyMs: number; stop: { code: number | null }; cells: { request: string; inFlight: number; count: number; errors: number }[] }[];
  };
}

let run: Run;

beforeAll(async () => {
  // The same build `npm run bench` does first.
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: repo, stdio: 'pipe', timeout: 240_000 });
  const resultsFile = join(mkdtempSync(join(tmpdir(), 'fn-bench-')), 'bench-results.json');
  const proc = spawn(process.execPath, [join(repo, 'dist/bench/bench.js')], {
    cwd: repo,
    env: { ...process.env, BENCH_QUICK: '1', BENCH_SECONDS: '1', BENCH_RESULTS: resultsFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
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

  it('prints figures for both servers at both in-flight levels, and a scale cell', () => {
    const rows = cellRows(run.stdout);
    const key = (r: string[]) => `${r[0]} ${r[1]} ${r[2]}`;
    expect(rows.map(key).sort()).toEqual(
      ['no-op reference 1', 'no-op reference 64', 'ours reference 1', 'ours reference 64', 'ours scale-10 1'].sort(),
    );
    for (const r of rows) {
      expect(r, r.join(' ')).toHaveLength(10);
      // req/s, p50, p99, peak RSS are measured numbers; errors is zero.
      for (const figure of r.slice(3, 7)) expect(Number(figure), r.join(' ')).toBeGreaterThan(0);
      expect(r[9], r.join(' ')).toBe('0');
    }
  });

  it('prints the ours/no-op ratios and the ready time of each server', () => {
    expect(run.stdout).toMatch(/in-flight 1: p50 x\d+\.\d+, throughput x\d+\.\d+/);
    expect(run.stdout).toMatch(/in-flight 64: p50 x\d+\.\d+, throughput x\d+\.\d+/);
    const servers = run.results.runs.map((r) => `${r.server}/${r.purpose}`).sort();
    expect(servers).toEqual(['no-op/reference', 'ours/reference', 'ours/scale']);
    for (const r of run.results.runs) {
      expect(r.readyMs).toBeGreaterThan(0);
      expect(r.stop.code).toBe(0);
      for (const c of r.cells) {
        expect(c.count).toBeGreaterThan(0);
        expect(c.errors).toBe(0);
      }
    }
    expect(run.stdout).toMatch(/^ours\s+reference\s+\d+\s+\d+/m);
    expect(run.stdout).toMatch(/^no-op\s+reference\s+\d+\s+\d+/m);
  });
});
