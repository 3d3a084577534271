#!/usr/bin/env node
// `npm run load`: a load soak. The real function runs as its own process
// (dist/function-lambda-canary.mjs, metrics on, as deployed) and a separate
// load process (load.ts) keeps 64 RunFunction calls of the reference request
// in flight for 60 s after a warm-up. The server's RSS is read from /proc
// every second.
//
// Prints requests, errors, req/s, p50/p99, the RSS after warm-up ("start"),
// its peak and its value at the end of the window, the per-second series, and
// a verdict on whether RSS stayed flat after warm-up: the end value within
// SOAK_RSS_TOLERANCE of the start value. Exits non-zero if any call failed,
// the server died or did not exit 0 on SIGTERM; the verdict is reported, not
// enforced (a short soak cannot tell growth from noise).
//
// Environment:
//   SOAK_SECONDS          measured seconds (default 60)
//   SOAK_WARMUP_SECONDS   warm-up seconds before RSS "start" (default 10)
//   SOAK_IN_FLIGHT        calls kept in flight (default 64)
//   SOAK_RSS_TOLERANCE    flat = |end - start| <= this share of start (default 0.10)
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { checkResponse, type LoadResult } from './load.js';
import { cpuMs, freePort, imageNodeOptions, machineBusyMs, mib, nowMs, rssKiB, runLoadProcess, spawnServer, waitReady } from './proc.js';
import { buildRequest, expectedVersions, repoRoot } from './reference-request.js';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

function numberEnv(name: string, dflt: number, opts: { integer?: boolean; zeroOk?: boolean } = {}): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  const ok = Number.isFinite(n) && (opts.zeroOk ? n >= 0 : n > 0) && (!opts.integer || Number.isInteger(n));
  if (!ok) throw new Error(`${name} must be a ${opts.zeroOk ? 'non-negative' : 'positive'} ${opts.integer ? 'whole ' : ''}number, got "${v}"`);
  return n;
}

const SAMPLE_MS = 1_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const REQUEST = 'reference';

interface Sample {
  /** Seconds since the load process started. */
  t: number;
  mib: number;
  phase: 'warm-up' | 'measured' | 'after';
}

function fmt(n: number | undefined, digits = 2): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

async function main(): Promise<number> {
  const seconds = numberEnv('SOAK_SECONDS', 60);
  const warmup = numberEnv('SOAK_WARMUP_SECONDS', 10, { zeroOk: true });
  const inFlight = numberEnv('SOAK_IN_FLIGHT', 64, { integer: true });
  const tolerance = numberEnv('SOAK_RSS_TOLERANCE', 0.1);
  const started = new Date();
  const loadStart = loadavg()[0];

  const target = `127.0.0.1:${await freePort()}`;
  const args = ['--insecure', '--address', target, '--metrics-address', `127.0.0.1:${await freePort()}`];
  const script = join(repoRoot(), 'dist', 'function-lambda-canary.mjs');
  const req = buildRequest(REQUEST);
  const body = Buffer.from(RunFunctionRequest.encode(req).finish());
  const want = expectedVersions('reference');

  process.stderr.write(`soak: starting ${script} on ${target}\n`);
  const t0 = nowMs();
  // As the image runs it: with the Dockerfile's NODE_OPTIONS (V8 heap sizes).
  const nodeOptions = imageNodeOptions();
  const server = spawnServer(process.execPath, [script, ...args], { NODE_OPTIONS: nodeOptions });
  const pid = server.proc.pid!;
  const problems: string[] = [];
  let readyMs: number | undefined;
  let readyMiB: number | undefined;
  let result: LoadResult | undefined;
  const samples: Sample[] = [];
  let rssStart: number | undefined;
  let rssEnd: number | undefined;
  let cpu: { server: number; busy: number } | undefined;
  let loadStartedAt = 0;
  let phase: Sample['phase'] = 'warm-up';
  const sample = (): number | undefined => {
    const kib = rssKiB(pid);
    if (kib !== undefined) samples.push({ t: (nowMs() - loadStartedAt) / 1000, mib: mib(kib), phase });
    return kib === undefined ? undefined : mib(kib);
  };

  try {
    const ready = await waitReady(target, body, (rsp) => checkResponse('ours', req, rsp, want), server, { timeoutMs: READY_TIMEOUT_MS });
    readyMs = ready.at - t0;
    readyMiB = mib(rssKiB(pid) ?? 0);
    process.stderr.write(`soak: ready in ${fmt(readyMs, 0)} ms; ${inFlight} in flight, ${warmup}s warm-up + ${seconds}s\n`);

    loadStartedAt = nowMs();
    const timer = setInterval(sample, SAMPLE_MS);
    let cpuAtStart: { server: number | undefined; busy: number | undefined } | undefined;
    try {
      const loadArgs = [
        join(here, 'load.js'),
        ...['--target', target, '--request', REQUEST, '--in-flight', String(inFlight)],
        ...['--seconds', String(seconds), '--warmup-seconds', String(warmup), '--verify', 'ours', '--announce'],
      ];
      result = await runLoadProcess(loadArgs, (seconds + warmup) * 1000 + 120_000, {
        onMeasuring: () => {
          // The post-warm-up value everything after is compared with.
          phase = 'measured';
          rssStart = sample();
          cpuAtStart = { server: cpuMs(pid), busy: machineBusyMs() };
        },
        onMeasured: () => {
          rssEnd = sample();
          phase = 'after';
          const [s1, b1] = [cpuMs(pid), machineBusyMs()];
          if (cpuAtStart?.server !== undefined && cpuAtStart.busy !== undefined && s1 !== undefined && b1 !== undefined) {
            cpu = { server: s1 - cpuAtStart.server, busy: b1 - cpuAtStart.busy };
          }
        },
      });
    } finally {
      clearInterval(timer);
    }
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) problems.push(`the server exited during the soak:\n${server.output()}`);
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  }

  // Stop the server whatever happened; never leave it running.
  const stopAt = nowMs();
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGTERM');
  const killer = setTimeout(() => server.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
  const exit = await server.exited;
  clearTimeout(killer);
  const stopMs = nowMs() - stopAt;
  if (exit.code !== 0) problems.push(`the server did not exit 0 on SIGTERM (${exit.code ?? exit.signal})`);

  const measured = samples.filter((s) => s.phase === 'measured');
  const peak = Math.max(...measured.map((s) => s.mib), rssStart ?? 0, rssEnd ?? 0);
  const out: string[] = [];
  out.push(`function-lambda-canary load soak, ${started.toISOString()}`);
  out.push(
    `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM; ` +
      `load average (1 min) at start ${fmt(loadStart)}, at end ${fmt(loadavg()[0])}`,
  );
  out.push(
    `server: NODE_OPTIONS="${nodeOptions}" dist/function-lambda-canary.mjs ${args.join(' ')} (own process); load: a separate process, ${REQUEST} request (${body.length} bytes), ` +
      `${inFlight} in flight, ${warmup}s warm-up + ${seconds}s measured`,
  );
  out.push('');
  if (result) {
    out.push(`requests   ${result.count} (+${result.warmupCount} in warm-up)`);
    out.push(`errors     ${result.errors}`);
    out.push(`req/s      ${fmt(result.rps, 0)}`);
    out.push(`latency    p50 ${fmt(result.latencyMs.p50, 3)} ms, p99 ${fmt(result.latencyMs.p99, 3)} ms, max ${fmt(result.latencyMs.max, 3)} ms`);
    if (cpu) {
      out.push(
        `server CPU ${fmt(cpu.server / result.elapsedMs)} cores, ${fmt(cpu.server / Math.max(1, result.count), 3)} ms per call; ` +
          `machine ${fmt(cpu.busy / result.elapsedMs)} of ${availableParallelism()} cores busy`,
      );
    }
  }
  out.push(`ready      ${fmt(readyMs, 0)} ms, RSS at ready ${fmt(readyMiB, 1)} MB`);
  out.push(`RSS MB     start (after warm-up) ${fmt(rssStart, 1)}, peak ${fmt(peak, 1)}, end ${fmt(rssEnd, 1)}`);
  out.push(
    `RSS MB every ${SAMPLE_MS / 1000} s: ${samples
      .filter((s) => s.phase !== 'after')
      .map((s) => `${s.phase === 'warm-up' ? '(' : ''}${fmt(s.mib, 0)}${s.phase === 'warm-up' ? ')' : ''}`)
      .join(' ')}`,
  );
  out.push('  (values in parentheses are during warm-up)');
  if (rssStart !== undefined && rssEnd !== undefined && rssStart > 0) {
    const change = (rssEnd - rssStart) / rssStart;
    const flat = Math.abs(change) <= tolerance;
    out.push(
      `verdict: RSS ${flat ? 'stayed flat' : 'did NOT stay flat'} after warm-up: end ${fmt(rssEnd, 1)} MB is ` +
        `${change >= 0 ? '+' : ''}${fmt(change * 100, 1)}% of the post-warm-up ${fmt(rssStart, 1)} MB ` +
        `(flat = within ${fmt(tolerance * 100, 0)}%); peak ${fmt(peak, 1)} MB`,
    );
  } else {
    out.push('verdict: no RSS readings (the soak did not run)');
  }
  out.push(`SIGTERM    ${exit.code ?? exit.signal} in ${fmt(stopMs, 0)} ms`);
  for (const e of result?.errorSamples ?? []) out.push(`error: ${e}`);
  for (const p of problems) out.push(`error: ${p}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return problems.length > 0 || (result?.errors ?? 1) > 0 ? 1 : 0;
}

process.exitCode = await main();
