#!/usr/bin/env node
// `npm run bench`: the function against a no-op function on the same stack
// and against function-go-templating v0.4.1 doing the same resolution with a
// template (bench/go-templating/template.yaml), each as its own process,
// driven by a separate load process over gRPC.
//
// For each server: spawn it, time spawn -> first successful RunFunction
// (ready time), run the load process at each in-flight level, sample the
// server's RSS from /proc every 100 ms, then stop it with SIGTERM. The
// go-templating server's first answer is compared with ours (same desired
// resources). The real function is also run against required-resource lists
// of growing size. Prints a table and writes bench-results.json; exits
// non-zero if any call failed, any server misbehaved, or the go-templating
// binary is missing (scripts/install-functions.sh builds it).
//
// Environment:
//   BENCH_SECONDS         measured seconds per cell (default 10)
//   BENCH_WARMUP_SECONDS  warm-up seconds per cell (default 2, 0.5 with BENCH_QUICK)
//   BENCH_ROUNDS          rounds of the reference cells, medians reported (default 3, 1 with BENCH_QUICK)
//   BENCH_QUICK=1         fewer cells (scale 10 only, one round), for tests
//   BENCH_IN_FLIGHT       comma list of in-flight levels (default 1,64)
//   BENCH_SCALES          comma list of required Version counts (default 10,100,1000)
//   BENCH_RESULTS         where to write the JSON (default ./bench-results.json)
//   BENCH_BASELINE        the bundle of an older build: run beside ours, paired (bench/paired.ts)
//   BENCH_PAIRED_SECONDS  measured seconds of each paired level, shared by the two (default 40, 2 with BENCH_QUICK)
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { DEFAULT_MAX_RECV_MSG_SIZE } from '../function/server/flags.js';
import { checkResponse, GO_TEMPLATE_FILE, loadRequest, rawClient, type LoadResult, type Protocol, type Verify } from './load.js';
import {
  cpuMs,
  freePort,
  imageNodeOptions,
  machineBusyMs,
  mib,
  nowMs,
  requireUpstreamFunction,
  rssKiB,
  runLoadProcess,
  spawnServer,
  waitReady,
} from './proc.js';
import { codecFigures, type CodecFigures } from './codec.js';
import { analysisCost, analysisCostCloudWatch, type AnalysisCost } from './analysis-cost.js';
import { buildRequest, expectedVersions, repoRoot, versionStatusBytes } from './reference-request.js';
import { ROLLOUT_MEMORY_ANNOTATION } from '../function/core/rollout/memory.js';
import { canonical } from '../function/core/k8s.js';
import type { PairedResult } from './paired.js';

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
// Single cells at one call in flight move by 10-20% from run to run on a
// shared VM; rounds in rotating server order, reported as medians, steady them.
const ROUNDS = numberEnv('BENCH_ROUNDS', QUICK ? 1 : 3);
const RESULTS = resolve(env['BENCH_RESULTS'] ?? join(root, 'bench-results.json'));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const SAMPLE_MS = 100;

/** The upstream function the bench compares with, as scripts/install-functions.sh installs it. */
export const GO_TEMPLATING = { name: 'function-go-templating', version: 'v0.4.1' } as const;

interface ServerSpec {
  name: string;
  /** The executable and the arguments before the common ones. */
  command: string;
  commandArgs: string[];
  verify: Verify;
  protocol: Protocol;
  /** Takes --metrics-address (ours and the no-op do; go-templating has no metrics). */
  metrics: boolean;
  /** Drains and exits 0 on SIGTERM; otherwise being killed by SIGTERM is its normal stop. */
  drains: boolean;
  /** Added to the server's environment. */
  env?: Record<string, string>;
}

// Node servers run with the image's V8 heap settings (Dockerfile NODE_OPTIONS).
const NODE_OPTIONS = imageNodeOptions();
const nodeServer = (name: string, script: string, verify: Verify, env: Record<string, string> = {}): ServerSpec => ({
  name,
  command: process.execPath,
  commandArgs: [script],
  verify,
  protocol: 'v1',
  metrics: true,
  drains: true,
  env: { NODE_OPTIONS, ...env },
});
// The shipped entry point: the bundle `npm run build` writes, as the image runs it.
const OURS = nodeServer('ours', join(root, 'dist', 'function-lambda-canary.mjs'), 'ours');
// Bundled like ours (scripts/bundle.ts), so the two load and start alike.
const NOOP = nodeServer('no-op', join(here, 'noop-function.mjs'), 'noop');
// The same no-op with the SDK's generated codec: the floor of a function built on the SDK as it comes.
const NOOP_SDK = nodeServer('no-op-sdk', join(here, 'noop-function.mjs'), 'noop', { NOOP_CODEC: 'sdk' });
// Ours with V8's default heap sizes: what the image's NODE_OPTIONS trade (memory for CPU under load).
const OURS_V8_DEFAULT: ServerSpec = { ...OURS, name: 'ours-v8-default', env: { NODE_OPTIONS: '' } };
// BENCH_BASELINE: the bundle of an older build (git worktree add /tmp/old <commit> && npm ci && npm run build
// there), measured in the same run on the reference cells, so "no worse than before" is a same-run ratio.
const BASELINE_BUNDLE = env['BENCH_BASELINE'];
const BASELINE: ServerSpec | undefined = BASELINE_BUNDLE ? nodeServer('baseline', resolve(BASELINE_BUNDLE), 'ours') : undefined;
const goTemplating = (binary: string): ServerSpec => ({
  name: 'go-templating',
  command: binary,
  commandArgs: [],
  verify: 'go-templating',
  protocol: 'v1beta1',
  metrics: false,
  drains: false,
});
const LOAD = join(here, 'load.js');
const PAIRED = join(here, 'paired.js');
const PAIRED_SECONDS = numberEnv('BENCH_PAIRED_SECONDS', QUICK ? 2 : 40);

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
  command: string;
  args: string[];
  pid: number;
  /** spawn -> the server's own "listening" log line, ms. */
  listeningMs: number | undefined;
  /** spawn -> first successful RunFunction, ms. */
  readyMs: number;
  rssMiB: { start: number; peak: number; end: number };
  stop: { ms: number; code: number | null; signal: string | null; ok: boolean };
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

/** Runs the load process for one cell; CPU is read when it says the measured window starts. */
function runCell(
  target: string,
  request: string,
  inFlight: number,
  spec: ServerSpec,
  serverPid: number,
): Promise<{ result: LoadResult; cpuStart: number | undefined; cpuEnd: number | undefined; otherMs: number | undefined }> {
  return new Promise((res, rej) => {
    const args = [
      LOAD,
      ...['--target', target, '--request', request, '--in-flight', String(inFlight)],
      ...['--seconds', String(SECONDS), '--warmup-seconds', String(WARMUP_SECONDS)],
      ...['--verify', spec.verify, '--protocol', spec.protocol, '--announce'],
    ];
    let cpuStart: number | undefined;
    let cpuEnd: number | undefined;
    let busyStart: number | undefined;
    let busyEnd: number | undefined;
    let selfStart: NodeJS.CpuUsage | undefined;
    let selfMs: number | undefined;
    runLoadProcess(args, (SECONDS + WARMUP_SECONDS) * 1000 + 120_000, {
      onMeasuring: () => {
        cpuStart = cpuMs(serverPid);
        busyStart = machineBusyMs();
        selfStart = process.cpuUsage();
      },
      onMeasured: () => {
        cpuEnd = cpuMs(serverPid);
        busyEnd = machineBusyMs();
        if (selfStart) {
          const u = process.cpuUsage(selfStart);
          selfMs = (u.user + u.system) / 1000;
        }
      },
    }).then(
      (result) => {
        const known = [busyStart, busyEnd, cpuStart, cpuEnd, selfMs].every((x) => x !== undefined);
        const otherMs = known ? busyEnd! - busyStart! - (cpuEnd! - cpuStart!) - result.loadCpuMs - selfMs! : undefined;
        res({ result, cpuStart, cpuEnd, otherMs });
      },
      (err: unknown) => rej(new Error(`${request} x${inFlight}: ${err instanceof Error ? err.message : String(err)}`)),
    );
  });
}

async function benchServer(
  spec: ServerSpec,
  purpose: string,
  cells: { request: string; inFlight: number }[],
  extraArgs: string[] = [],
  after?: (target: string) => Promise<string[]>,
): Promise<ServerRun & { firstResponse: RunFunctionResponse }> {
  const port = await freePort();
  const target = `127.0.0.1:${port}`;
  // Metrics stay on, as deployed, but on a free loopback port rather than the shared default.
  const metricsArgs = spec.metrics ? ['--metrics-address', `127.0.0.1:${await freePort()}`] : [];
  const args = ['--insecure', '--address', target, ...metricsArgs, ...extraArgs];
  const readyReq = loadRequest(cells[0]!.request, spec.verify);
  const readyBody = Buffer.from(RunFunctionRequest.encode(readyReq).finish());
  const want = expectedVersions(cells[0]!.request === 'reference' ? 'reference' : 'scale');

  process.stderr.write(`bench: starting ${spec.name} (${purpose}) on ${target}\n`);
  const t0 = nowMs();
  const s = spawnServer(spec.command, [...spec.commandArgs, ...args], spec.env);
  const pid = s.proc.pid!;
  const sampler = new Sampler(pid);
  let readyAt: number;
  let firstResponse: RunFunctionResponse;
  try {
    ({ at: readyAt, rsp: firstResponse } = await waitReady(target, readyBody, (rsp) => checkResponse(spec.verify, readyReq, rsp, want), s, {
      protocol: spec.protocol,
      timeoutMs: READY_TIMEOUT_MS,
    }));
  } catch (err) {
    sampler.stop();
    s.proc.kill('SIGKILL');
    throw err;
  }
  const startKiB = sampler.sample() ?? 0;
  const listening = s.listeningAt();

  const results: CellResult[] = [];
  const notes: string[] = [];
  let endKiB: number;
  let stopAt: number;
  try {
    for (const cell of cells) {
      process.stderr.write(`bench:   ${spec.name} ${cell.request} in-flight ${cell.inFlight} (${WARMUP_SECONDS}s warm-up + ${SECONDS}s)\n`);
      const cellStart = nowMs();
      const { result, cpuStart, cpuEnd, otherMs } = await runCell(target, cell.request, cell.inFlight, spec, pid);
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
    command: spec.command,
    args,
    pid,
    listeningMs: listening !== undefined ? listening - t0 : undefined,
    readyMs: readyAt - t0,
    rssMiB: { start: mib(startKiB), peak: mib(peakKiB), end: mib(endKiB) },
    stop: {
      ms: nowMs() - stopAt,
      code: exit.code,
      signal: exit.signal,
      ok: exit.code === 0 || (!spec.drains && exit.signal === 'SIGTERM'),
    },
    cells: results,
    notes,
    firstResponse,
  };
}

/** JSON with object keys sorted, so that two equal objects print the same. */
interface OutputCheck {
  same: boolean;
  /** Composition-resource names both rendered. */
  resources: string[];
  aliasSpec: unknown;
  differences: string[];
}

/**
 * Ours without the rollout's memory annotation: a template resolves versions
 * and has no rollout to remember, so that annotation is ours alone and not
 * part of the resolution compared.
 */
function withoutMemory(resource: unknown): unknown {
  const copy = structuredClone(resource) as { metadata?: { annotations?: Record<string, string> } };
  const annotations = copy.metadata?.annotations;
  if (annotations !== undefined) {
    delete annotations[ROLLOUT_MEMORY_ANNOTATION];
    if (Object.keys(annotations).length === 0) delete copy.metadata!.annotations;
  }
  return copy;
}

/** Compares the desired composed resources (the objects, not readiness) two servers answered to the same request. */
function compareDesired(ours: RunFunctionResponse, theirs: RunFunctionResponse, theirName: string): OutputCheck {
  const a = ours.desired?.resources ?? {};
  const b = theirs.desired?.resources ?? {};
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const differences: string[] = [];
  for (const n of names) {
    if (!a[n]) differences.push(`${n}: only ${theirName} renders it`);
    else if (!b[n]) differences.push(`${n}: ${theirName} does not render it`);
    else if (canonical(withoutMemory(a[n].resource)) !== canonical(b[n].resource)) {
      differences.push(`${n}: ours ${canonical(a[n].resource)} vs ${theirName} ${canonical(b[n].resource)}`);
    }
  }
  const aliasSpec = (a['alias']?.resource as { spec?: unknown } | undefined)?.spec;
  return { same: differences.length === 0, resources: names, aliasSpec, differences };
}

// ---- paired ----

interface PairedRun {
  results: PairedResult[];
  stops: { server: string; purpose: string; stop: ServerRun['stop'] }[];
}

/**
 * Starts the servers side by side and has bench/paired.ts load them in turns
 * at each in-flight level (see there why); stops them with SIGTERM, also on failure.
 */
async function pairedRun(specs: ServerSpec[]): Promise<PairedRun> {
  const req = loadRequest('reference', 'ours');
  const body = Buffer.from(RunFunctionRequest.encode(req).finish());
  const want = expectedVersions('reference');
  const started: { spec: ServerSpec; s: ReturnType<typeof spawnServer>; target: string }[] = [];
  const stops: PairedRun['stops'] = [];
  try {
    for (const spec of specs) {
      const target = `127.0.0.1:${await freePort()}`;
      const args = ['--insecure', '--address', target, '--metrics-address', `127.0.0.1:${await freePort()}`];
      process.stderr.write(`bench: starting ${spec.name} (paired) on ${target}\n`);
      const s = spawnServer(spec.command, [...spec.commandArgs, ...args], spec.env);
      started.push({ spec, s, target });
      await waitReady(target, body, (rsp) => checkResponse(spec.verify, req, rsp, want), s, { protocol: spec.protocol, timeoutMs: READY_TIMEOUT_MS });
    }
    const results: PairedResult[] = [];
    for (const inFlight of IN_FLIGHT) {
      process.stderr.write(`bench:   paired ${specs.map((s) => s.name).join(' / ')} in-flight ${inFlight} (${WARMUP_SECONDS}s + ${PAIRED_SECONDS}s)\n`);
      const args = [
        PAIRED,
        ...started.flatMap(({ spec, s, target }) => ['--server', `${spec.name}=${target}@${s.proc.pid}`]),
        ...['--request', 'reference', '--in-flight', String(inFlight), '--seconds', String(PAIRED_SECONDS)],
        ...['--warmup-seconds', String(WARMUP_SECONDS), '--announce'],
      ];
      results.push(await runLoadProcess<PairedResult>(args, (PAIRED_SECONDS + WARMUP_SECONDS) * 1000 + 120_000));
    }
    return { results, stops };
  } finally {
    for (const { spec, s } of started) {
      const t0 = nowMs();
      if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
      const killer = setTimeout(() => s.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const exit = await s.exited;
      clearTimeout(killer);
      stops.push({ server: spec.name, purpose: 'paired', stop: { ms: nowMs() - t0, code: exit.code, signal: exit.signal, ok: exit.code === 0 } });
    }
  }
}

/** ours / other per in-flight level, from the same paired runs. */
function pairedRatios(results: PairedResult[], ours: string, other: string) {
  return results.flatMap((r) => {
    const o = r.sides.find((s) => s.server === ours);
    const b = r.sides.find((s) => s.server === other);
    if (o === undefined || b === undefined) return [];
    const ratio = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined ? x / y : undefined);
    return [
      {
        inFlight: r.inFlight,
        p50: o.latencyMs.p50 / b.latencyMs.p50,
        rps: o.rps / b.rps,
        cpuPerCall: ratio(o.serverCpuMsPerCall, b.serverCpuMsPerCall),
        peakRss: ratio(o.peakRssMiB, b.peakRssMiB),
      },
    ];
  });
}

// ---- rounds ----

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianOf<T>(items: T[], get: (t: T) => number | undefined): number | undefined {
  const xs = items.map(get).filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length > 0 ? median(xs) : undefined;
}

/** One run per server and purpose: medians over its rounds; peak RSS the highest; counts and errors summed. */
function medianRuns(all: ServerRun[]): ServerRun[] {
  const groups = new Map<string, ServerRun[]>();
  for (const r of all) {
    const key = `${r.server}\u0000${r.purpose}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const first = rs[0]!;
    if (rs.length === 1) return first;
    const cells = first.cells.map((c0) => {
      const same = rs.flatMap((r) => r.cells.filter((c) => c.request === c0.request && c.inFlight === c0.inFlight));
      return {
        ...c0,
        count: same.reduce((a, c) => a + c.count, 0),
        errors: same.reduce((a, c) => a + c.errors, 0),
        errorSamples: same.flatMap((c) => c.errorSamples).slice(0, 5),
        rps: medianOf(same, (c) => c.rps)!,
        latencyMs: {
          p50: medianOf(same, (c) => c.latencyMs.p50)!,
          p90: medianOf(same, (c) => c.latencyMs.p90)!,
          p99: medianOf(same, (c) => c.latencyMs.p99)!,
          max: Math.max(...same.map((c) => c.latencyMs.max)),
          mean: medianOf(same, (c) => c.latencyMs.mean)!,
        },
        peakRssMiB: Math.max(...same.map((c) => c.peakRssMiB)),
        serverCpuMsPerCall: medianOf(same, (c) => c.serverCpuMsPerCall),
        serverCpuCores: medianOf(same, (c) => c.serverCpuCores),
        otherCpuCores: medianOf(same, (c) => c.otherCpuCores),
      };
    });
    return {
      ...first,
      listeningMs: medianOf(rs, (r) => r.listeningMs),
      readyMs: medianOf(rs, (r) => r.readyMs)!,
      rssMiB: {
        start: medianOf(rs, (r) => r.rssMiB.start)!,
        peak: Math.max(...rs.map((r) => r.rssMiB.peak)),
        end: medianOf(rs, (r) => r.rssMiB.end)!,
      },
      stop: rs.find((r) => !r.stop.ok)?.stop ?? { ...first.stop, ms: medianOf(rs, (r) => r.stop.ms)! },
      cells,
      notes: rs.flatMap((r) => r.notes),
    };
  });
}

// ---- formatting ----

function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toFixed(digits);
}

/** The columns both load tables share: server, request, in-flight, req/s, p50, p99, peak RSS, server CPU per call. */
function loadFigures(
  server: string,
  request: string,
  inFlight: number,
  f: { rps: number; latencyMs: { p50: number; p99: number }; peakRssMiB: number | undefined; serverCpuMsPerCall: number | undefined },
): string[] {
  return [
    server,
    request,
    String(inFlight),
    fmt(f.rps, 0),
    fmt(f.latencyMs.p50, 3),
    fmt(f.latencyMs.p99, 3),
    fmt(f.peakRssMiB, 1),
    fmt(f.serverCpuMsPerCall, 3),
  ];
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const started = new Date();
  const loadStart = loadavg()[0];
  // The comparison is part of the bench: without the binary it fails rather than skip it.
  let gtBinary: string;
  try {
    gtBinary = requireUpstreamFunction(GO_TEMPLATING.name, GO_TEMPLATING.version);
  } catch (err) {
    process.stdout.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  const GT = goTemplating(gtBinary);
  const refBody = RunFunctionRequest.encode(buildRequest('reference')).finish();
  const gtRefBody = RunFunctionRequest.encode(loadRequest('reference', 'go-templating')).finish();
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
  // Every server run of every round; `runs` (the tables) holds their medians.
  const allRuns: ServerRun[] = [];
  const keep = ({ firstResponse, ...run }: ServerRun & { firstResponse: RunFunctionResponse }) => {
    allRuns.push(run);
    return firstResponse;
  };
  let failure: string | undefined;
  let outputCheck: OutputCheck | undefined;
  let paired: PairedRun | undefined;
  try {
    // What the function does with default flags when the largest scale list is too big (round 1 only).
    const overLimit = async (target: string): Promise<string[]> => {
      if (largest <= DEFAULT_MAX_RECV_MSG_SIZE) return [];
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
    };
    const servers = [OURS, NOOP, NOOP_SDK, OURS_V8_DEFAULT, GT];
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no server always runs first or last (drift in the machine's load).
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      let oursFirst: RunFunctionResponse | undefined;
      let gtFirst: RunFunctionResponse | undefined;
      if (ROUNDS > 1) process.stderr.write(`bench: round ${round + 1} of ${ROUNDS}\n`);
      for (const spec of order) {
        const first = keep(await benchServer(spec, 'reference', refCells, [], spec === OURS && round === 0 ? overLimit : undefined));
        if (spec === OURS) oursFirst = first;
        if (spec === GT) gtFirst = first;
      }
      // Its first answer (the ready call) must render what ours renders for the same XR.
      outputCheck = compareDesired(oursFirst!, gtFirst!, GT.name);
      if (!outputCheck.same) throw new Error(`go-templating renders differently from ours:\n  ${outputCheck.differences.join('\n  ')}`);
    }
    // The older build is compared paired, not in the rounds: its ratio to ours is the figure that matters, and
    // only servers loaded in turns at the same time see the same machine.
    if (BASELINE !== undefined) paired = await pairedRun([OURS, BASELINE]);
    if (SCALES.length > 0) {
      const scaleCells = SCALES.map((n) => ({ request: `scale-${n}`, inFlight: 1 }));
      keep(await benchServer(OURS, 'scale', scaleCells, scaleArgs));
      // Large requests are where the image's heap settings cost most (garbage collection): shown side by side.
      keep(await benchServer(OURS_V8_DEFAULT, 'scale', scaleCells, scaleArgs));
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  const runs = medianRuns(allRuns);

  const cells = runs.flatMap((r) => r.cells);
  const pairedSides = paired?.results.flatMap((r) => r.sides) ?? [];
  const errors = allRuns.flatMap((r) => r.cells).reduce((a, c) => a + c.errors, 0) + pairedSides.reduce((a, s) => a + s.errors, 0);
  const badStops = [...allRuns, ...(paired?.stops ?? [])].filter((r) => !r.stop.ok);

  const out: string[] = [];
  out.push(`function-lambda-canary benchmark, ${started.toISOString()}`);
  out.push(
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM; ` +
      `${SECONDS}s per cell after ${WARMUP_SECONDS}s warm-up; load generator in its own process on the same machine`,
  );
  out.push(`load average (1 min) at start ${fmt(loadStart, 2)}, at end ${fmt(loadavg()[0], 2)}`);
  out.push(
    ROUNDS > 1
      ? `${ROUNDS} rounds of the reference cells, servers in rotating order, each server restarted per round; figures are medians over the rounds (peak RSS: the highest), ratios are of medians`
      : 'one round of the reference cells',
  );
  out.push(`Node servers run with the image's NODE_OPTIONS="${NODE_OPTIONS}" (Dockerfile), except ours-v8-default (V8's default heap sizes)`);
  out.push(`reference request: ${refBody.length} bytes encoded; observed Version status ${statusBytes.join(' and ')} bytes of JSON`);
  out.push(
    `go-templating: ${GO_TEMPLATING.name} ${GO_TEMPLATING.version} (Go, v1beta1 service, no metrics endpoint), sent the reference request ` +
      `plus ${GO_TEMPLATE_FILE} as the step input: ${gtRefBody.length} bytes encoded`,
  );
  if (SCALES.length > 0) {
    out.push(`scale requests: ${[...scaleSizes].map(([n, b]) => `${n} Versions = ${b} bytes`).join(', ')}`);
  }
  out.push('');
  out.push(
    table(
      ['server', 'request', 'in-flight', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'srv CPU ms/call', 'other CPU', 'errors'],
      cells.map((c) => [...loadFigures(c.server, c.request, c.inFlight, c), fmt(c.otherCpuCores, 2), String(c.errors)]),
    ),
  );
  out.push(
    '(no-op = the same process stack as ours answering to(req), decoding whole requests with our codec; no-op-sdk = the same ' +
      "with the SDK's generated codec; srv CPU = the server's user+system CPU per successful call; other CPU = cores busy with " +
      'processes other than the server and the load generator during the measured window, from /proc/stat)',
  );
  out.push('');
  type Ratio = { inFlight: number; p50: number; rps: number; cpuPerCall: number | undefined };
  const ours = runs.find((r) => r.server === 'ours' && r.purpose === 'reference');
  const ratiosTo = (other: string): Ratio[] => {
    const run = runs.find((r) => r.server === other && r.purpose === 'reference');
    const list: Ratio[] = [];
    for (const inFlight of IN_FLIGHT) {
      const o = ours?.cells.find((c) => c.inFlight === inFlight);
      const n = run?.cells.find((c) => c.inFlight === inFlight);
      if (o && n) {
        const cpuPerCall = o.serverCpuMsPerCall !== undefined && n.serverCpuMsPerCall !== undefined ? o.serverCpuMsPerCall / n.serverCpuMsPerCall : undefined;
        list.push({ inFlight, p50: o.latencyMs.p50 / n.latencyMs.p50, rps: o.rps / n.rps, cpuPerCall });
      }
    }
    return list;
  };
  const ratios = ratiosTo('no-op');
  const ratiosSdkNoop = ratiosTo(NOOP_SDK.name);
  const ratiosGoTemplating = ratiosTo('go-templating');
  for (const [label, list] of [
    ['no-op', ratios],
    [NOOP_SDK.name, ratiosSdkNoop],
    ['go-templating', ratiosGoTemplating],
  ] as const) {
    if (list.length === 0) continue;
    out.push(`ours / ${label} (reference request):`);
    for (const r of list) {
      out.push(`  in-flight ${r.inFlight}: p50 x${fmt(r.p50)}, throughput x${fmt(r.rps)}, server CPU per call x${fmt(r.cpuPerCall)}`);
    }
  }
  if (ratios.length + ratiosSdkNoop.length + ratiosGoTemplating.length > 0) out.push('');
  const ratiosBaseline = paired !== undefined ? pairedRatios(paired.results, OURS.name, 'baseline') : [];
  if (paired !== undefined) {
    out.push(
      `paired: ours and baseline (${BASELINE_BUNDLE ?? ''}) running at the same time, taking the reference load in turns ` +
        `(${paired.results[0]?.sliceMs ?? '-'} ms slices, alternating order, ${PAIRED_SECONDS}s measured per level in all, after ${WARMUP_SECONDS}s):`,
    );
    out.push(
      table(
        ['server', 'request', 'in-flight', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'srv CPU ms/call', 'calls', 'errors'],
        paired.results.flatMap((r) =>
          r.sides.map((side) => [...loadFigures(side.server, r.request, r.inFlight, side), String(side.count), String(side.errors)]),
        ),
      ),
    );
    out.push('(req/s = calls per second of the time the server had the load; p50 at 64 in flight includes the queue a slice starts with)');
    out.push('ours / baseline (paired, reference request):');
    for (const r of ratiosBaseline) {
      out.push(
        `  in-flight ${r.inFlight}: p50 x${fmt(r.p50)}, throughput x${fmt(r.rps)}, server CPU per call x${fmt(r.cpuPerCall)}, peak RSS x${fmt(r.peakRss)}`,
      );
    }
    out.push('');
  }
  if (outputCheck?.same) {
    out.push(
      `go-templating output = ours on the reference request (first call, over gRPC): same ${outputCheck.resources.join(', ')}; ` +
        `Alias spec ${canonical(outputCheck.aliasSpec)}`,
    );
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
  out.push(
    '(ready = spawn to first successful RunFunction; listening = spawn to the server\'s "listening" log line, which go-templating does not write; ' +
      'RSS start = at ready; go-templating has no drain and stops on the SIGTERM signal itself)',
  );
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
  let codec: CodecFigures[] = [];
  try {
    codec = codecFigures(['reference', ...SCALES.filter((n) => n <= 100).map((n) => `scale-${n}`)], QUICK ? 50 : 400);
  } catch (err) {
    failure ??= err instanceof Error ? err.message : String(err);
  }
  if (codec.length > 0) {
    out.push('');
    out.push(
      'wire codec in this process, mean us per call (SDK = its generated codec; whole = ours decoding everything, as the no-op does; projected = ours as the function decodes):',
    );
    out.push(
      table(
        ['request', 'bytes', 'decode SDK', 'decode whole', 'decode projected', 'SDK/projected', 'encode SDK', 'encode ours', 'SDK/ours'],
        codec.map((c) => [
          c.request,
          String(c.bytes),
          fmt(c.decodeSdkUs, 1),
          fmt(c.decodeWholeUs, 1),
          fmt(c.decodeProjectedUs, 1),
          `x${fmt(c.decodeSdkUs / c.decodeProjectedUs)}`,
          fmt(c.encodeSdkUs, 1),
          fmt(c.encodeOursUs, 1),
          `x${fmt(c.encodeSdkUs / c.encodeOursUs)}`,
        ]),
      ),
    );
    out.push("(encode: the function's response to that request, the same bytes from both codecs, checked first)");
  }
  let analysis: AnalysisCost[] = [];
  try {
    analysis = analysisCost(QUICK ? 50 : 400);
    analysis.push(...(await analysisCostCloudWatch(QUICK ? 50 : 400)));
  } catch (err) {
    failure ??= err instanceof Error ? err.message : String(err);
  }
  if (analysis.length > 0) {
    out.push('');
    out.push(
      'rollout analysis in this process, mean us per call on a mid-step request (runFunction, CloudWatch answered in memory; ' +
        'then runFunctionWithMeasurements and the real CloudWatchMeasurer against a loopback fake CloudWatch):',
    );
    out.push(
      table(
        ['case', 'us per call', 'queries', 'x no analysis'],
        analysis.map((a) => [a.case, fmt(a.us, 1), String(a.queries), `x${fmt(a.us / analysis[0]!.us)}`]),
      ),
    );
  }
  for (const r of runs) for (const note of r.notes) out.push(`note: ${note}`);
  for (const c of cells) for (const e of c.errorSamples) out.push(`error: ${c.server} ${c.request} x${c.inFlight}: ${e}`);
  for (const r of paired?.results ?? [])
    for (const side of r.sides) for (const e of side.errorSamples) out.push(`error: ${side.server} paired x${r.inFlight}: ${e}`);
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
        nodeOptions: NODE_OPTIONS,
        inFlight: IN_FLIGHT,
        scales: SCALES,
        referenceRequestBytes: refBody.length,
        goTemplating: { ...GO_TEMPLATING, binary: gtBinary, template: GO_TEMPLATE_FILE, requestBytes: gtRefBody.length, outputCheck },
        referenceVersionStatusBytes: statusBytes,
        scaleRequestBytes: Object.fromEntries(scaleSizes),
        rounds: ROUNDS,
        runs,
        allRuns,
        ratios,
        ratiosSdkNoop,
        ratiosGoTemplating,
        paired,
        ratiosBaseline,
        codec,
        analysis,
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
