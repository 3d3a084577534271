#!/usr/bin/env node
// The paired load generator: two (or more) servers, running at the same time,
// take the load in turns. Every slice (250 ms by default) sends all calls in
// flight to one server, then the next slice to the next, in alternating
// order, so that both see the same machine: on a shared VM the speed of the
// whole machine drifts by 10-30% within seconds, which servers measured one
// after the other (bench.ts's cells) cannot tell from a difference between
// them. Same-binary runs of this agree within 1-2% (docs/performance.md).
//
//   node dist/bench/paired.js --server ours=127.0.0.1:9443@1234 --server baseline=127.0.0.1:9444@1235 \
//     --request reference --in-flight 1 --seconds 30 [--warmup-seconds 2] [--slice-ms 250] [--announce]
//
// Each --server is name=host:port@pid: the pid is read from /proc for the
// server's CPU (user+system, all threads) at the start and end of each of
// its slices, and its RSS at the end. Every response is decoded and checked
// as bench/load.ts does (--verify ours: both must be this function).
// Prints one line of JSON (with --announce: {"event":"result","result":...}).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { checkResponse, checkedCall, loadRequest, percentile, rawClient } from './load.js';
import { cpuMs, nowMs, rssKiB } from './proc.js';
import { expectedVersions } from './reference-request.js';

export interface PairedServer {
  name: string;
  target: string;
  pid: number;
}

export interface PairedOptions {
  servers: PairedServer[];
  request: string;
  inFlight: number;
  /** Measured seconds in all, shared by the servers. */
  seconds: number;
  /** Seconds of the same alternation before measuring, not counted. */
  warmupSeconds: number;
  sliceMs: number;
}

export interface PairedSide {
  server: string;
  /** Successful calls in the measured slices. */
  count: number;
  errors: number;
  errorSamples: string[];
  /** Time this server had the load, ms. */
  activeMs: number;
  /** Calls per second of the time it had the load. */
  rps: number;
  latencyMs: { p50: number; p99: number };
  /** Its CPU in its own measured slices per successful call, ms. */
  serverCpuMsPerCall: number | undefined;
  peakRssMiB: number | undefined;
}

export interface PairedResult {
  request: string;
  inFlight: number;
  seconds: number;
  sliceMs: number;
  slices: number;
  sides: PairedSide[];
}

export async function runPaired(opts: PairedOptions): Promise<PairedResult> {
  if (opts.servers.length < 2) throw new Error('paired load needs at least two --server');
  const req = loadRequest(opts.request, 'ours');
  const body = Buffer.from(RunFunctionRequest.encode(req).finish());
  const want = expectedVersions(opts.request === 'reference' ? 'reference' : 'scale');
  const verify = (rsp: RunFunctionResponse) => checkResponse('ours', req, rsp, want);
  interface Side {
    server: PairedServer;
    client: ReturnType<typeof rawClient>;
    count: number;
    errors: number;
    errorSamples: string[];
    activeMs: number;
    /** Undefined once a /proc read failed: then no figure rather than a wrong one. */
    cpuMs: number | undefined;
    peakKiB: number | undefined;
    latencies: number[];
  }
  const sides = opts.servers.map((server): Side => ({
    server,
    client: rawClient(server.target),
    count: 0,
    errors: 0,
    errorSamples: [],
    activeMs: 0,
    cpuMs: 0,
    peakKiB: undefined,
    latencies: [],
  }));

  const slice = async (side: Side, record: boolean): Promise<void> => {
    const start = nowMs();
    const end = start + opts.sliceMs;
    const cpu0 = record ? cpuMs(side.server.pid) : undefined;
    const worker = async () => {
      while (nowMs() < end) {
        const call = await checkedCall(side.client, body, verify);
        if ('problem' in call) {
          // Warm-up failures count too: a failing call is a failure whenever it happens.
          side.errors++;
          if (side.errorSamples.length < 5) side.errorSamples.push(call.problem);
        } else if (record) {
          side.count++;
          side.latencies.push(call.ms);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight }, worker));
    if (!record) return;
    side.activeMs += nowMs() - start;
    const cpu1 = cpuMs(side.server.pid);
    side.cpuMs = cpu0 !== undefined && cpu1 !== undefined && side.cpuMs !== undefined ? side.cpuMs + (cpu1 - cpu0) : undefined;
    const kib = rssKiB(side.server.pid);
    if (kib !== undefined) side.peakKiB = Math.max(side.peakKiB ?? 0, kib);
  };

  // Alternate the order every round (A B, B A, ...) so neither side always follows the other.
  const rounds = async (ms: number, record: boolean): Promise<number> => {
    const end = nowMs() + ms;
    let n = 0;
    while (nowMs() < end) {
      const order = n % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) await slice(side, record);
      n++;
    }
    return n * sides.length;
  };

  try {
    await rounds(opts.warmupSeconds * 1000, false);
    const slices = await rounds(opts.seconds * 1000, true);
    return {
      request: opts.request,
      inFlight: opts.inFlight,
      seconds: opts.seconds,
      sliceMs: opts.sliceMs,
      slices,
      sides: sides.map((s) => {
        s.latencies.sort((a, b) => a - b);
        return {
          server: s.server.name,
          count: s.count,
          errors: s.errors,
          errorSamples: s.errorSamples,
          activeMs: s.activeMs,
          rps: s.count / (s.activeMs / 1000),
          latencyMs: { p50: percentile(s.latencies, 50), p99: percentile(s.latencies, 99) },
          serverCpuMsPerCall: s.cpuMs !== undefined && s.count > 0 ? s.cpuMs / s.count : undefined,
          peakRssMiB: s.peakKiB !== undefined ? s.peakKiB / 1024 : undefined,
        };
      }),
    };
  } finally {
    for (const s of sides) s.client.close();
  }
}

const OPTIONS = {
  server: { type: 'string', multiple: true },
  request: { type: 'string' },
  'in-flight': { type: 'string' },
  seconds: { type: 'string' },
  'warmup-seconds': { type: 'string' },
  'slice-ms': { type: 'string' },
  announce: { type: 'boolean' },
} as const;

export function parsePairedArgs(argv: string[]): PairedOptions & { announce: boolean } {
  const { values } = parseArgs({ args: argv, options: OPTIONS });
  const num = (name: 'in-flight' | 'seconds' | 'warmup-seconds' | 'slice-ms', dflt: number, min: number): number => {
    const v = values[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}, got "${v}"`);
    return n;
  };
  const servers = (values.server ?? []).map((s): PairedServer => {
    const m = /^([^=]+)=(.+:\d+)@(\d+)$/.exec(s);
    if (m === null) throw new Error(`--server must be name=host:port@pid, got "${s}"`);
    return { name: m[1]!, target: m[2]!, pid: Number(m[3]) };
  });
  if (servers.length < 2) throw new Error('give at least two --server name=host:port@pid');
  const inFlight = num('in-flight', 1, 1);
  if (!Number.isInteger(inFlight)) throw new Error('--in-flight must be a whole number');
  return {
    servers,
    request: values.request ?? 'reference',
    inFlight,
    seconds: num('seconds', 30, 0.1),
    warmupSeconds: num('warmup-seconds', 2, 0),
    sliceMs: num('slice-ms', 250, 10),
    announce: values.announce === true,
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  try {
    const opts = parsePairedArgs(process.argv.slice(2));
    const result = await runPaired(opts);
    process.stdout.write(`${JSON.stringify(opts.announce ? { event: 'result', result } : result)}\n`);
    process.exitCode = 0;
  } catch (err) {
    process.stderr.write(`paired: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
