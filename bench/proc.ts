// Process plumbing shared by `npm run bench` (bench.ts) and `npm run load`
// (soak.ts): free loopback ports, /proc readings (RSS, CPU), spawning a
// server and waiting until it answers a real RunFunction. Linux-only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { rawClient, type LoadResult, type Protocol } from './load.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
export const mib = (kib: number) => kib / 1024;

/**
 * The NODE_OPTIONS the image sets (the Dockerfile's ENV line: V8 heap sizes),
 * so the bench and the soak run the function's Node as deployed.
 */
export function imageNodeOptions(): string {
  // This file runs as dist/bench/proc.js, or from bench/proc.ts under vitest.
  const here = resolve(fileURLToPath(import.meta.url), '..');
  const dockerfile = [join(here, '..', 'Dockerfile'), join(here, '..', '..', 'Dockerfile')].find((f) => existsSync(f)) ?? join(here, '..', 'Dockerfile');
  const m = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(dockerfile, 'utf8'));
  if (m === null) throw new Error(`${dockerfile} has no ENV NODE_OPTIONS="..." line`);
  return m[1]!;
}

let clockTicks: number | undefined;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || undefined;
} catch {
  clockTicks = undefined;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('finding a free port failed'))));
    });
  });
}

/** VmRSS of a live process, in KiB; undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** User+system CPU time of a process, in ms. */
export function cpuMs(pid: number): number | undefined {
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
export function machineBusyMs(): number | undefined {
  if (clockTicks === undefined) return undefined;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / clockTicks) * 1000;
  } catch {
    return undefined;
  }
}

/** Where scripts/install-functions.sh puts an upstream function's binary. */
export function upstreamFunctionBinary(name: string, version: string): string {
  const tools = process.env['FLC_TOOLS_DIR'] || join(homedir(), '.cache', 'function-lambda-canary', 'tools');
  return join(tools, `${name}-${version}`, name);
}

/** The binary, or an error that says how to install it. */
export function requireUpstreamFunction(name: string, version: string): string {
  const bin = upstreamFunctionBinary(name, version);
  if (!existsSync(bin)) {
    throw new Error(`${name} ${version} is not installed at ${bin}: run scripts/install-functions.sh (npm test does this too), then run this again`);
  }
  return bin;
}

export interface Spawned {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  listeningAt: () => number | undefined;
}

/** Starts a server process; keeps the tail of its output and notes its "listening" log line, if it writes one. */
export function spawnServer(command: string, args: string[], env: Record<string, string> = {}): Spawned {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let tail = '';
  let listeningAt: number | undefined;
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (listeningAt === undefined && /"msg":"listening"/.test(text)) listeningAt = nowMs();
    tail = (tail + text).slice(-8_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  return { proc, exited, output: () => tail, listeningAt: () => listeningAt };
}

/**
 * Polls with a real RunFunction until one succeeds; fresh channel per try, so
 * no reconnect backoff. Returns when it answered and the answer.
 */
export async function waitReady(
  target: string,
  body: Buffer,
  check: (rsp: RunFunctionResponse) => string | undefined,
  s: Spawned,
  opts: { protocol?: Protocol; timeoutMs?: number } = {},
): Promise<{ at: number; rsp: RunFunctionResponse }> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = nowMs() + timeoutMs;
  let last = '';
  while (nowMs() < deadline) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) throw new Error(`server exited before it was ready:\n${s.output()}`);
    const client = rawClient(target, {}, opts.protocol);
    try {
      const rsp = await client.call(body, 5_000);
      const problem = check(rsp);
      if (problem !== undefined) throw new Error(`first response is wrong: ${problem}`);
      return { at: nowMs(), rsp };
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      if (last.startsWith('first response is wrong')) throw err;
    } finally {
      client.close();
    }
    await sleep(5);
  }
  throw new Error(`server not ready after ${timeoutMs} ms (last error: ${last}):\n${s.output()}`);
}

export interface LoadPhaseHooks {
  /** The load process finished its warm-up; the measured window starts. */
  onMeasuring?: () => void;
  /** The measured window ended. */
  onMeasured?: () => void;
}

/**
 * Runs bench/load.js (given its arguments, which must include --announce) as
 * its own process, calls the hooks on the phase events it prints as JSON
 * lines, and resolves with its result. Killed after timeoutMs.
 */
export function runLoadProcess<T = LoadResult>(args: string[], timeoutMs: number, hooks: LoadPhaseHooks = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const killer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    let out = '';
    let err = '';
    let result: T | undefined;
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let msg: { event?: string; result?: T };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          err += `unexpected output: ${line}\n`;
          continue;
        }
        if (msg.event === 'measuring') hooks.onMeasuring?.();
        else if (msg.event === 'measured') hooks.onMeasured?.();
        else if (msg.event === 'result') result = msg.result;
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    proc.once('exit', (code, signal) => {
      clearTimeout(killer);
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`load process failed (${code ?? signal}): ${err.trim()}`));
    });
  });
}
