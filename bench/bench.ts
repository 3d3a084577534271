#!/usr/bin/env node
// `npm run bench`: the function against a no-op function on the same stack,
// each as its own process, driven by a separate load process over gRPC.
//
// For each server: spawn it, time spawn -> first successful RunFunction
// (ready time), run the load process at each in-flight level, sample the
// server's RSS from /proc every 100 ms, then stop it with SIGTERM. The real
// function is also run against required-resource lists of growing size.
// Prints a table and writes bench-results.json; exits non-zero if any call
// failed or any server misbehaved.
//
// Environment:
//   BENCH_SECONDS         measured seconds per cell (default 10)
//   BENCH_WARMUP_SECONDS  warm-up seconds per cell (default 2, 0.5 with BENCH_QUICK)
//   BENCH_QUICK=1         fewer cells (scale 10 only), for tests
//   BENCH_IN_FLIGHT       comma list of in-flight levels (default 1,64)
//   BENCH_SCALES          comma list of required Version counts (default 10,100,1000)
//   BENCH_RESULTS         where to write the JSON (default ./bench-results.json)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { DEFAULT_MAX_RECV_MSG_SIZE } from '../function/flags.js';
import { checkResponse, rawClient, type LoadResult } from './load.js';
import { buildRequest, expectedVersions, repoRoot, versionStatusBytes } from './reference-request.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = repoRoot();
const env = process.env;

function numberEnv(name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

function listEnv(name: string, dflt: number[]): number[] {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name} must be a comma list of whole numbers, got "${v}"`);
  return list;
}

const QUICK = env['BENCH_QUICK'] === '1';
const SECONDS = numberEnv('BENCH_SECONDS', 10);
const WARMUP_SECONDS = env['BENCH_WARMUP_SECONDS'] === '0' ? 0 : numberEnv('BENCH_WARMUP_SECONDS', QUICK ? 0.5 : 2);
const IN_FLIGHT = listEnv('BENCH_IN_FLIGHT', [1, 64]);
const SCALES = listEnv('BENCH_SCALES', QUICK ? [10] : [10, 100, 1000]);
const RESULTS = resolve(env['BENCH_RESULTS'] ?? join(root, 'bench-results.json'));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const SAMPLE_MS = 100;

const OURS = { name: 'ours', script: join(root, 'dist', 'function', 'main.js'), verify: 'ours' as const };
const NOOP = { name: 'no-op', script: join(here, 'noop-function.js'), verify: 'noop' as const };
const LOAD = join(here, 'load.js');

let clockTicks: number | undefined;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || undefined;
} catch {
  clockTicks = undefined;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('finding a free port failed'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** VmRSS of a live process, in KiB; undefined once it is gone. */
function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** User+system CPU time of a process, in ms. */
function cpuMs(pid: number): number | undefined {
  if (clockTicks === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1000;
  } catch {
    return undefined;
  }
}

/** Busy CPU time of the whole machine (all cores), ms. */
function machineBusyMs(): number | undefined {
  if (clockTicks === undefined) return undefined;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / clockTicks) * 1000;
  } catch {
    return undefined;
  }
}

interface CellResult extends LoadResult {
  server: string;
  /** Peak VmRSS of the server while this cell ran (warm-up included), MiB. */
  peakRssMiB: number;
  /** Server CPU (user+system) per successful call in the measured window, ms. */
  serverCpuMsPerCall: number | undefined;
  /** Server CPU use in the measured window, in cores. */
  serverCpuCores: number | undefined;
  /** CPU used in the measured window by everything but the server and the load process, in cores. */
  otherCpuCores: number | undefined;
}

interface ServerRun {
  server: string;
  purpose: string;
  args: string[];
  pid: number;
  /** spawn -> the server's own "listening" log line, ms. */
  listeningMs: number | undefined;
  /** spawn -> first successful RunFunction, ms. */
  readyMs: number;
  rssMiB: { start: number; peak: number; end: number };
  stop: { ms: number; code: number | null; signal: string | null };
  cells: CellResult[];
  notes: string[];
}

class Sampler {
  readonly samples: { t: number; kib: number }[] = [];
  private timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }
  sample(): number | undefined {
    const kib = rssKiB(this.pid);
    if (kib !== undefined) this.samples.push({ t: nowMs(), kib });
    return kib;
  }
  peakSince(t: number): number {
    return Math.max(0, ...this.samples.filter((s) => s.t >= t).map((s) => s.kib));
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

const mib = (kib: number) => kib / 1024;

interface Spawned {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  listeningAt: () => number | undefined;
}

function spawnServer(script: string, args: string[]): Spawned {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let listeningAt: number | undefined;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (listeningAt === undefined && /"msg":"listening"/.test(text)) listeningAt = nowMs();
    tail = (tail + text).slice(-8_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal })),
  );
  return { proc, exited, output: () => tail, listeningAt: () => listeningAt };
}

/** Polls with a real RunFunction until one succeeds; fresh channel per try, so no reconnect backoff. */
async function waitReady(target: string, body: Buffer, check: (rsp: Awaited<ReturnType<ReturnType<typeof rawClient>['call']>>) => string | undefined, s: Spawned): Promise<number> {
  const deadline = nowMs() + READY_TIMEOUT_MS;
  let last = '';
  while (nowMs() < deadline) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) throw new Error(`server exited before it was ready:\n${s.output()}`);
    const client = rawClient(target);
    try {
      const rsp = await client.call(body, 5_000);
      const problem = check(rsp);
      if (problem !== undefined) throw new Error(`first response is wrong: ${problem}`);
      return nowMs();
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      if (last.startsWith('first response is wrong')) throw err;
    } finally {
      client.close();
    }
    await sleep(5);
  }
  throw new Error(`server not ready after ${READY_TIMEOUT_MS} ms (last error: ${last}):\n${s.output()}`);
}

/** Runs the load process for one cell; CPU is read when it says the measured window starts. */
function runLoadProcess(
  target: string,
  request: string,
  inFlight: number,
  verify: 'ours' | 'noop',
  serverPid: number,
): Promise<{ result: LoadResult; cpuStart: number | undefined; cpuEnd: number | undefined; otherMs: number | undefined }> {
  return new Promise((res, rej) => {
    const args = [LOAD, '--target', target, '--request', request, '--in-flight', String(inFlight), '--seconds', String(SECONDS), '--warmup-seconds', String(WARMUP_SECONDS), '--verify', verify, '--announce'];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let cpuStart: number | undefined;
    let cpuEnd: number | undefined;
    let busyStart: number | undefined;
    let busyEnd: number | undefined;
    let selfStart: NodeJS.CpuUsage | undefined;
    let selfMs: number | undefined;
    let result: LoadResult | undefined;
    const timer = setTimeout(() => {
      if (proc.pid !== undefined) proc.kill('SIGKILL');
    }, (SECONDS + WARMUP_SECONDS) * 1000 + 120_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let msg: { event?: string; result?: LoadResult };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          err += `unexpected output: ${line}\n`;
          continue;
        }
        if (msg.event === 'measuring') {
          cpuStart = cpuMs(serverPid);
          busyStart = machineBusyMs();
          selfStart = process.cpuUsage();
        } else if (msg.event === 'measured') {
          cpuEnd = cpuMs(serverPid);
          busyEnd = machineBusyMs();
          if (selfStart) {
            const u = process.cpuUsage(selfStart);
            selfMs = (u.user + u.system) / 1000;
          }
        } else if (msg.event === 'result') result = msg.result;
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      const known = [busyStart, busyEnd, cpuStart, cpuEnd, selfMs].every((x) => x !== undefined);
      const otherMs =
        known && result !== undefined ? busyEnd! - busyStart! - (cpuEnd! - cpuStart!) - result.loadCpuMs - selfMs! : undefined;
      if (code === 0 && result !== undefined) res({ result, cpuStart, cpuEnd, otherMs });
      else rej(new Error(`load process for ${request} x${inFlight} failed (${code ?? signal}): ${err.trim()}`));
    });
  });
}

async function benchServer(
  spec: typeof OURS | typeof NOOP,
  purpose: string,
  cells: { request: string; inFlight: number }[],
  extraArgs: string[] = [],
  after?: (target: string) => Promise<string[]>,
): Promise<ServerRun> {
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  // Metrics stay on, as deployed, but on a free loopback port rather than the shared default.
  const metricsArgs = ['--metrics-address', `127.0.0.1:${await freePort()}`];
  const args = ['--insecure', '--address', target, ...metricsArgs, ...extraArgs];
  const readyReq = buildRequest(cells[0]!.request);
  const readyBody = Buffer.from(RunFunctionRequest.encode(readyReq).finish());
  const want = expectedVersions(cells[0]!.request === 'reference' ? 'reference' : 'scale');

  process.stderr.write(`bench: starting ${spec.name} (${purpose}) on ${target}\n`);
  const t0 = nowMs();
  const s = spawnServer(spec.script, args);
  const pid = s.proc.pid!;
  const sampler = new Sampler(pid);
  let readyAt: number;
  try {
    readyAt = await waitReady(target, readyBody, (rsp) => checkResponse(spec.verify, readyReq, rsp, want), s);
  } catch (err) {
    sampler.stop();
    s.proc.kill('SIGKILL');
    throw err;
  }
  const startKiB = sampler.sample() ?? 0;
  const listening = s.listeningAt();

  const results: CellResult[] = [];
  const notes: string[] = [];
  let endKiB = 0;
  let stopAt = 0;
  try {
    for (const cell of cells) {
      process.stderr.write(`bench:   ${spec.name} ${cell.request} in-flight ${cell.inFlight} (${WARMUP_SECONDS}s warm-up + ${SECONDS}s)\n`);
      const cellStart = nowMs();
      const { result, cpuStart, cpuEnd, otherMs } = await runLoadProcess(target, cell.request, cell.inFlight, spec.verify, pid);
      sampler.sample();
      const cpu = cpuStart !== undefined && cpuEnd !== undefined ? cpuEnd - cpuStart : undefined;
      results.push({
        ...result,
        server: spec.name,
        peakRssMiB: mib(sampler.peakSince(cellStart)),
        serverCpuMsPerCall: cpu !== undefined && result.count > 0 ? cpu / result.count : undefined,
        serverCpuCores: cpu !== undefined ? cpu / result.elapsedMs : undefined,
        otherCpuCores: otherMs !== undefined ? Math.max(0, otherMs / result.elapsedMs) : undefined,
      });
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) throw new Error(`${spec.name} exited during ${cell.request}:\n${s.output()}`);
    }
    if (after) notes.push(...(await after(target)));
    endKiB = sampler.sample() ?? 0;
  } finally {
    // Stop the server whether or not the cells succeeded; never leave it running.
    sampler.stop();
    stopAt = nowMs();
    if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
  }
  const peakKiB = Math.max(...sampler.samples.map((x) => x.kib));
  const killer = setTimeout(() => s.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const exit = await s.exited;
  clearTimeout(killer);
  return {
    server: spec.name,
    purpose,
    args,
    pid,
    listeningMs: listening !== undefined ? listening - t0 : undefined,
    readyMs: readyAt - t0,
    rssMiB: { start: mib(startKiB), peak: mib(peakKiB), end: mib(endKiB) },
    stop: { ms: nowMs() - stopAt, code: exit.code, signal: exit.signal },
    cells: results,
    notes,
  };
}

// ---- formatting ----

function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const started = new Date();
  const loadStart = loadavg()[0];
  const refBody = RunFunctionRequest.encode(buildRequest('reference')).finish();
  const scaleSizes = new Map(SCALES.map((n) => [n, RunFunctionRequest.encode(buildRequest(`scale-${n}`)).finish().length]));
  const statusBytes = versionStatusBytes(buildRequest('reference'));
  const largest = Math.max(0, ...scaleSizes.values());
  // A list of n padded Versions can outgrow the function's default receive
  // limit; the scale server then gets a raised --max-recv-msg-size (reported).
  const scaleArgs: string[] = [];
  let scaleLimit = DEFAULT_MAX_RECV_MSG_SIZE;
  while (scaleLimit < largest) scaleLimit *= 2;
  if (scaleLimit !== DEFAULT_MAX_RECV_MSG_SIZE) scaleArgs.push('--max-recv-msg-size', String(scaleLimit));

  const refCells = IN_FLIGHT.map((inFlight) => ({ request: 'reference', inFlight }));
  const runs: ServerRun[] = [];
  let failure: string | undefined;
  try {
    runs.push(
      await benchServer(OURS, 'reference', refCells, [], async (target) => {
        if (largest <= DEFAULT_MAX_RECV_MSG_SIZE) return [];
        // What the function does with default flags when the list is too big.
        const n = [...scaleSizes].find(([, size]) => size === largest)![0];
        const client = rawClient(target);
        try {
          await client.call(Buffer.from(RunFunctionRequest.encode(buildRequest(`scale-${n}`)).finish()));
          return [`scale-${n} (${largest} bytes) was accepted with the default --max-recv-msg-size`];
        } catch (err) {
          return [`scale-${n} (${largest} bytes) with the default --max-recv-msg-size=${DEFAULT_MAX_RECV_MSG_SIZE}: ${(err as Error).message}`];
        } finally {
          client.close();
        }
      }),
    );
    runs.push(await benchServer(NOOP, 'reference', refCells));
    if (SCALES.length > 0) {
      runs.push(await benchServer(OURS, 'scale', SCALES.map((n) => ({ request: `scale-${n}`, inFlight: 1 })), scaleArgs));
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }

  const cells = runs.flatMap((r) => r.cells);
  const errors = cells.reduce((a, c) => a + c.errors, 0);
  const badStops = runs.filter((r) => r.stop.code !== 0);

  const out: string[] = [];
  out.push(`function-lambda-canary benchmark, ${started.toISOString()}`);
  out.push(
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM; ` +
      `${SECONDS}s per cell after ${WARMUP_SECONDS}s warm-up; load generator in its own process on the same machine`,
  );
  out.push(`load average (1 min) at start ${fmt(loadStart, 2)}, at end ${fmt(loadavg()[0], 2)}`);
  out.push(
    `reference request: ${refBody.length} bytes encoded; observed Version status ${statusBytes.join(' and ')} bytes of JSON`,
  );
  if (SCALES.length > 0) {
    out.push(`scale requests: ${[...scaleSizes].map(([n, b]) => `${n} Versions = ${b} bytes`).join(', ')}`);
  }
  out.push('');
  out.push(
    table(
      ['server', 'request', 'in-flight', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'srv CPU ms/call', 'other CPU', 'errors'],
      cells.map((c) => [
        c.server,
        c.request,
        String(c.inFlight),
        fmt(c.rps, 0),
        fmt(c.latencyMs.p50, 3),
        fmt(c.latencyMs.p99, 3),
        fmt(c.peakRssMiB, 1),
        fmt(c.serverCpuMsPerCall, 3),
        fmt(c.otherCpuCores, 2),
        String(c.errors),
      ]),
    ),
  );
  out.push(
    '(srv CPU = the server\'s user+system CPU per successful call; other CPU = cores busy with processes other than ' +
      'the server and the load generator during the measured window, from /proc/stat)',
  );
  out.push('');
  const ratios: { inFlight: number; p50: number; rps: number; cpuPerCall: number | undefined }[] = [];
  const ours = runs.find((r) => r.server === 'ours' && r.purpose === 'reference');
  const noop = runs.find((r) => r.server === 'no-op');
  for (const inFlight of IN_FLIGHT) {
    const o = ours?.cells.find((c) => c.inFlight === inFlight);
    const n = noop?.cells.find((c) => c.inFlight === inFlight);
    if (o && n) {
      const cpuPerCall =
        o.serverCpuMsPerCall !== undefined && n.serverCpuMsPerCall !== undefined ? o.serverCpuMsPerCall / n.serverCpuMsPerCall : undefined;
      ratios.push({ inFlight, p50: o.latencyMs.p50 / n.latencyMs.p50, rps: o.rps / n.rps, cpuPerCall });
    }
  }
  if (ratios.length > 0) {
    out.push('ours / no-op (reference request):');
    for (const r of ratios) {
      out.push(`  in-flight ${r.inFlight}: p50 x${fmt(r.p50)}, throughput x${fmt(r.rps)}, server CPU per call x${fmt(r.cpuPerCall)}`);
    }
    out.push('');
  }
  out.push(
    table(
      ['server', 'run', 'ready ms', 'listening ms', 'RSS start MB', 'RSS peak MB', 'RSS end MB', 'SIGTERM exit'],
      runs.map((r) => [
        r.server,
        r.purpose,
        fmt(r.readyMs, 0),
        fmt(r.listeningMs, 0),
        fmt(r.rssMiB.start, 1),
        fmt(r.rssMiB.peak, 1),
        fmt(r.rssMiB.end, 1),
        `${r.stop.code ?? r.stop.signal} in ${fmt(r.stop.ms, 0)} ms`,
      ]),
    ),
  );
  out.push('(ready = spawn to first successful RunFunction; listening = spawn to the server\'s "listening" log line; RSS start = at ready)');
  if (scaleArgs.length > 0) out.push(`scale server started with ${scaleArgs.join(' ')}: the largest scale request is ${largest} bytes`);
  const sizes = [...scaleSizes].sort(([a], [b]) => a - b);
  if (sizes.length >= 2) {
    const [[n0, b0], [n1, b1]] = [sizes[0]!, sizes[sizes.length - 1]!];
    const perVersion = (b1 - b0) / (n1 - n0);
    out.push(
      `each required Version adds ${fmt(perVersion, 0)} bytes to the request: the default --max-recv-msg-size ` +
        `(${DEFAULT_MAX_RECV_MSG_SIZE} bytes) is reached at about ${fmt((DEFAULT_MAX_RECV_MSG_SIZE - b0) / perVersion + n0, 0)} Versions listed cluster-wide`,
    );
  }
  for (const r of runs) for (const note of r.notes) out.push(`note: ${note}`);
  for (const c of cells) for (const e of c.errorSamples) out.push(`error: ${c.server} ${c.request} x${c.inFlight}: ${e}`);
  for (const r of badStops) out.push(`error: ${r.server} (${r.purpose}) did not exit 0 on SIGTERM`);
  if (failure) out.push(`error: ${failure}`);
  process.stdout.write(`${out.join('\n')}\n`);

  writeFileSync(
    RESULTS,
    `${JSON.stringify(
      {
        date: started.toISOString(),
        node: process.version,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model,
        seconds: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        loadAverage: { start: loadStart, end: loadavg()[0] },
        inFlight: IN_FLIGHT,
        scales: SCALES,
        referenceRequestBytes: refBody.length,
        referenceVersionStatusBytes: statusBytes,
        scaleRequestBytes: Object.fromEntries(scaleSizes),
        runs,
        ratios,
        errors,
        failure,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`results: ${RESULTS}\n`);
  return errors > 0 || badStops.length > 0 || failure !== undefined ? 1 : 0;
}

process.exitCode = await main();
