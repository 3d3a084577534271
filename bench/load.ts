#!/usr/bin/env node
// The load generator, run as its own process so that it never shares an event
// loop with the server it measures. It connects to a function over gRPC (one
// channel, as Crossplane keeps one per function), warms up, then keeps a fixed
// number of RunFunction calls in flight for a bounded time and prints one line
// of JSON: count, errors, latency percentiles (per-request hrtime) and rate.
//
//   node dist/bench/load.js --target 127.0.0.1:9443 --request reference \
//     --in-flight 64 --seconds 10 [--warmup-seconds 2] [--verify ours|noop|go-templating]
//     [--protocol v1|v1beta1] [--announce]
//
// The request is encoded once with the SDK's RunFunctionRequest.encode (the
// server's decode cost is what matters, not the load generator's encode);
// every response is decoded with RunFunctionResponse.decode and checked, after
// its latency is taken: the latency is the server's answer arriving, not the
// client's SDK decoding it (Crossplane decodes in Go).
//
// --verify go-templating drives function-go-templating v0.4.1: the request
// then carries bench/go-templating/template.yaml as the step's input (as
// Crossplane sends a step's input with every call), and the call goes to the
// v1beta1 service, the only one that release serves (v1 and v1beta1 messages
// are wire-identical, so the same bytes are sent).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { FunctionRunnerServiceService, RunFunctionRequest, RunFunctionResponse, Severity, Status } from '@crossplane-org/function-sdk-typescript';
import { ALIAS_RESOURCE_NAME } from '../function/api/names.js';
import { CONDITION_VERSIONS_RESOLVED } from '../function/core/plan-contract.js';
import { buildRequest, expectedVersions, repoRoot } from './reference-request.js';

export const SERVICE = 'apiextensions.fn.proto.v1.FunctionRunnerService';
export const SERVICE_V1BETA1 = 'apiextensions.fn.proto.v1beta1.FunctionRunnerService';
const CALL_DEADLINE_MS = 30_000;

/** What a correct response looks like: the real function's answer, the no-op's echo, or the go-templating template's render. */
export type Verify = 'ours' | 'noop' | 'go-templating';
/** Which RunFunction service to call. */
export type Protocol = 'v1' | 'v1beta1';

/** The GoTemplate input the go-templating server is sent with every call. */
export const GO_TEMPLATE_FILE = join('bench', 'go-templating', 'template.yaml');

export function goTemplatingInput(): Record<string, unknown> {
  const file = join(repoRoot(), GO_TEMPLATE_FILE);
  const input = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (typeof input !== 'object' || input === null || (input as { kind?: unknown }).kind !== 'GoTemplate') {
    throw new Error(`${file} is not a GoTemplate input`);
  }
  return input as Record<string, unknown>;
}

/** The named request as a server of this kind is sent it. */
export function loadRequest(name: string, verify: Verify): RunFunctionRequest {
  const req = buildRequest(name);
  if (verify === 'go-templating') req.input = goTemplatingInput();
  return req;
}

export interface LoadOptions {
  target: string;
  request: string;
  inFlight: number;
  seconds: number;
  warmupSeconds: number;
  verify: Verify;
  /** Default: v1beta1 for go-templating, v1 otherwise. */
  protocol?: Protocol;
  /** Called as the measured window opens and closes (the orchestrator reads server CPU then). */
  onPhase?: (phase: 'measuring' | 'measured') => void;
}

export interface LoadResult {
  target: string;
  request: string;
  requestBytes: number;
  inFlight: number;
  seconds: number;
  warmupSeconds: number;
  warmupCount: number;
  count: number;
  errors: number;
  errorSamples: string[];
  elapsedMs: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU the load process itself used during the measured window, ms. */
  loadCpuMs: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * A client that sends pre-encoded requests. `callBytes` returns the response's
 * bytes as they arrive, so a latency measured around it stops before the
 * client decodes them; `call` also decodes them with the SDK.
 */
export function rawClient(target: string, options: grpc.ClientOptions = {}, protocol: Protocol = 'v1') {
  const service = protocol === 'v1beta1' ? SERVICE_V1BETA1 : SERVICE;
  const def = {
    runFunction: {
      ...FunctionRunnerServiceService.runFunction,
      path: `/${service}/RunFunction`,
      requestSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };
  const Ctor = grpc.makeGenericClientConstructor(def, service);
  const client = new Ctor(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    ...options,
  });
  const callBytes = (body: Buffer, deadlineMs = CALL_DEADLINE_MS): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      (client as unknown as Record<string, (...args: unknown[]) => unknown>)['runFunction']!.call(
        client,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (err: grpc.ServiceError | null, rsp: Buffer) => (err ? reject(err) : resolve(rsp)),
      );
    });
  const call = async (body: Buffer, deadlineMs = CALL_DEADLINE_MS): Promise<RunFunctionResponse> =>
    RunFunctionResponse.decode(await callBytes(body, deadlineMs));
  return { call, callBytes, close: () => client.close(), raw: client };
}

/** Why a response is wrong, or undefined when it is what the server should answer. */
export function checkResponse(verify: Verify, req: RunFunctionRequest, rsp: RunFunctionResponse, want: { stable: string; canary: string }): string | undefined {
  const tag = req.meta?.tag ?? '';
  if (rsp.meta?.tag !== tag) return `response tag ${JSON.stringify(rsp.meta?.tag)}, want ${JSON.stringify(tag)}`;
  const fatal = rsp.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
  if (fatal) return `Fatal result: ${fatal.message}`;
  if (verify === 'noop') return rsp.results.length === 0 ? undefined : `no-op answered ${rsp.results.length} results`;
  if (verify === 'go-templating') return checkGoTemplating(req, rsp, want);

  const resolved = rsp.conditions.find((c) => c.type === CONDITION_VERSIONS_RESOLVED);
  if (resolved?.status !== Status.STATUS_CONDITION_TRUE) {
    return `VersionsResolved is not True: ${resolved?.message ?? 'condition missing'}`;
  }
  const status = rsp.desired?.composite?.resource?.['status'] as { stable?: { version?: string }; canary?: { version?: string } } | undefined;
  if (status?.stable?.version !== want.stable || status?.canary?.version !== want.canary) {
    return `XR status routes ${status?.stable?.version}/${status?.canary?.version}, want ${want.stable}/${want.canary}`;
  }
  if (!rsp.desired?.resources[ALIAS_RESOURCE_NAME]?.resource) return 'no desired Alias';
  return undefined;
}

/** The template must route the Alias like ours: functionVersion = stable, {canary: weight/100}. */
function checkGoTemplating(req: RunFunctionRequest, rsp: RunFunctionResponse, want: { stable: string; canary: string }): string | undefined {
  const xrSpec = req.observed?.composite?.resource?.['spec'] as { canary?: { weight?: number }; versions?: { name: string }[] } | undefined;
  const weight = xrSpec?.canary?.weight ?? 0;
  const alias = rsp.desired?.resources[ALIAS_RESOURCE_NAME]?.resource as
    { spec?: { functionVersion?: string; routingConfig?: { additionalVersionWeights?: Record<string, number> } } } | undefined;
  if (!alias) return 'no desired Alias';
  const weights = alias.spec?.routingConfig?.additionalVersionWeights ?? {};
  const wantWeights = weight > 0 ? { [want.canary]: weight / 100 } : {};
  if (alias.spec?.functionVersion !== want.stable || JSON.stringify(weights) !== JSON.stringify(wantWeights)) {
    return `Alias routes ${alias.spec?.functionVersion} + ${JSON.stringify(weights)}, want ${want.stable} + ${JSON.stringify(wantWeights)}`;
  }
  const resources = Object.keys(rsp.desired?.resources ?? {}).length;
  const wantResources = (xrSpec?.versions?.length ?? 0) + 1;
  if (resources !== wantResources) return `${resources} desired resources, want ${wantResources}`;
  return undefined;
}

/**
 * One call and the check of its answer: the latency in ms, or why it failed
 * (the call's error or what is wrong with the answer). The clock stops when
 * the answer has arrived; decoding it for the check is the client's work.
 */
export async function checkedCall(
  client: ReturnType<typeof rawClient>,
  body: Buffer,
  verify: (rsp: RunFunctionResponse) => string | undefined,
): Promise<{ ms: number } | { problem: string }> {
  const t0 = process.hrtime.bigint();
  try {
    const bytes = await client.callBytes(body);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const problem = verify(RunFunctionResponse.decode(bytes));
    return problem !== undefined ? { problem } : { ms };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const req = loadRequest(opts.request, opts.verify);
  const body = Buffer.from(RunFunctionRequest.encode(req).finish());
  // What the XR's references must resolve to, read from the example files once.
  const want = expectedVersions(opts.request === 'reference' ? 'reference' : 'scale');
  const verify = (rsp: RunFunctionResponse) => checkResponse(opts.verify, req, rsp, want);
  const client = rawClient(opts.target, {}, opts.protocol ?? (opts.verify === 'go-templating' ? 'v1beta1' : 'v1'));
  const errorSamples: string[] = [];
  let errors = 0;
  const fail = (what: string) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(what);
  };

  const phase = async (seconds: number, latencies: number[] | undefined): Promise<{ count: number; elapsedMs: number }> => {
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(seconds * 1e9));
    let count = 0;
    const worker = async () => {
      while (process.hrtime.bigint() < end) {
        const call = await checkedCall(client, body, verify);
        if ('problem' in call) fail(call.problem);
        else {
          count++;
          latencies?.push(call.ms);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.inFlight }, worker));
    return { count, elapsedMs: Number(process.hrtime.bigint() - start) / 1e6 };
  };

  try {
    const warm = opts.warmupSeconds > 0 ? await phase(opts.warmupSeconds, undefined) : { count: 0, elapsedMs: 0 };
    const latencies: number[] = [];
    opts.onPhase?.('measuring');
    const cpu0 = process.cpuUsage();
    const run = await phase(opts.seconds, latencies);
    const cpu = process.cpuUsage(cpu0);
    opts.onPhase?.('measured');
    latencies.sort((a, b) => a - b);
    const sum = latencies.reduce((a, b) => a + b, 0);
    return {
      target: opts.target,
      request: opts.request,
      requestBytes: body.length,
      inFlight: opts.inFlight,
      seconds: opts.seconds,
      warmupSeconds: opts.warmupSeconds,
      warmupCount: warm.count,
      count: run.count,
      // Warm-up errors count too: a failing call is a failure whenever it happens.
      errors: errors,
      errorSamples,
      elapsedMs: run.elapsedMs,
      rps: run.count / (run.elapsedMs / 1000),
      latencyMs: {
        p50: percentile(latencies, 50),
        p90: percentile(latencies, 90),
        p99: percentile(latencies, 99),
        max: latencies.length > 0 ? latencies[latencies.length - 1]! : NaN,
        mean: latencies.length > 0 ? sum / latencies.length : NaN,
      },
      loadCpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    client.close();
  }
}

const LOAD_OPTIONS = {
  target: { type: 'string' },
  request: { type: 'string' },
  'in-flight': { type: 'string' },
  seconds: { type: 'string' },
  'warmup-seconds': { type: 'string' },
  verify: { type: 'string' },
  protocol: { type: 'string' },
  announce: { type: 'boolean' },
} as const;

function parseLoadArgs(argv: string[]): LoadOptions {
  let values;
  try {
    values = parseArgs({ args: argv, options: LOAD_OPTIONS }).values;
  } catch (err) {
    const flags = Object.keys(LOAD_OPTIONS)
      .map((f) => `--${f}`)
      .join(', ');
    throw new Error(`${(err as Error).message} (flags: ${flags})`);
  }
  const get = (name: keyof typeof values): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const num = (name: keyof typeof values, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${v}"`);
    return n;
  };
  const target = get('target');
  if (target === undefined) throw new Error('--target host:port is required');
  const verify = get('verify') ?? 'ours';
  if (verify !== 'ours' && verify !== 'noop' && verify !== 'go-templating') {
    throw new Error(`--verify must be ours, noop or go-templating, got "${verify}"`);
  }
  const protocol = get('protocol');
  if (protocol !== undefined && protocol !== 'v1' && protocol !== 'v1beta1') throw new Error(`--protocol must be v1 or v1beta1, got "${protocol}"`);
  const inFlight = num('in-flight', 1);
  if (!Number.isInteger(inFlight) || inFlight < 1) throw new Error('--in-flight must be a whole number of at least 1');
  return {
    target,
    request: get('request') ?? 'reference',
    inFlight,
    seconds: num('seconds', Number(process.env['BENCH_SECONDS'] ?? 10)),
    warmupSeconds: num('warmup-seconds', 2),
    verify,
    ...(protocol !== undefined ? { protocol } : {}),
    ...(values.announce === true ? { onPhase: (phase: 'measuring' | 'measured') => process.stdout.write(`${JSON.stringify({ event: phase })}\n`) } : {}),
  };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  try {
    const opts = parseLoadArgs(process.argv.slice(2));
    const result = await runLoad(opts);
    // With --announce every line is an event; otherwise the one line is the result.
    process.stdout.write(`${JSON.stringify(opts.onPhase ? { event: 'result', result } : result)}\n`);
    process.exitCode = 0;
  } catch (err) {
    process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
