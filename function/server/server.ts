// The gRPC shell around the pure handler: transport security, both API
// versions Crossplane may call, health, limits, per-call logging and draining.
// Everything here is plumbing; composition logic lives in handler.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FunctionRunnerServiceService, fatal, to, type RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import type { Logger } from 'pino';
import { REQUEST_PROJECTION } from './request-projection.js';
import { parseCertificateBundle } from './client-cert.js';
import { runFunction, runFunctionWithMeasurements } from '../handler.js';
import type { Measurer } from '../aws/cloudwatch.js';
import { HealthService } from './health.js';
import type { CallFacts, FunctionMetrics } from './metrics.js';
import { decodeRunFunctionRequest, type RequestProjection } from '../wire/request.js';
import { encodeRunFunctionResponse } from '../wire/response.js';
import { listenMutualTls, type ServerTls, type TlsListener } from './tls-listener.js';

export const SERVICE_V1 = 'apiextensions.fn.proto.v1.FunctionRunnerService';
// Crossplane before v1.17 only speaks v1beta1; the messages are identical on the wire.
export const SERVICE_V1BETA1 = 'apiextensions.fn.proto.v1beta1.FunctionRunnerService';
export const DEFAULT_GRACE_MS = 10_000;

export type FunctionHandler = (req: RunFunctionRequest) => RunFunctionResponse | Promise<RunFunctionResponse>;

export interface FunctionServerOptions {
  /** host:port (port 0 picks a free port) or unix:/path. */
  address: string;
  insecure: boolean;
  /** Holds tls.crt, tls.key and ca.crt; ignored when insecure. */
  tlsServerCertsDir: string;
  maxRecvMsgSize: number;
  logger: Logger;
  /** Defaults to the real handler. May be async so tests can hold calls in flight. */
  handler?: FunctionHandler;
  /** Clock handed to the default handler. */
  now?: () => Date;
  /**
   * Answers the rollout analysis's CloudWatch queries for the default handler
   * (one per process, shared by every XR); unset: the handler plans without
   * measurements.
   */
  measurer?: Measurer;
  /** How long one call's measurements may take, in ms (the handler's default when unset). */
  measureDeadlineMs?: number;
  /** Where per-call gRPC metrics and the responses' domain metrics go; none recorded when unset. */
  metrics?: FunctionMetrics;
  /**
   * What of observed composed and required resources to decode. Defaults to
   * what the real handler reads (request-projection.ts) when `handler` is unset, and to
   * everything when a custom handler is given, since it may read anything.
   */
  projection?: RequestProjection;
  /**
   * The wire codec. Defaults to ours (request.ts, response.ts, with
   * `projection`); the benchmark passes the SDK's generated one to show what
   * ours saves.
   */
  codec?: WireCodec;
}

export interface WireCodec {
  // Properties, not methods: the server passes them on unbound (requestDeserialize).
  decode: (bytes: Buffer) => RunFunctionRequest;
  encode: (rsp: RunFunctionResponse) => Buffer;
}

export interface RunningServer {
  /** The port actually bound (useful when the address asked for port 0). */
  port: number;
  server: grpc.Server;
  /**
   * Refuses new calls, marks health NOT_SERVING, lets in-flight calls finish,
   * and cancels whatever is still running after graceMs. Idempotent.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** The server's side of one API version: the SDK's method definition with `codec` on the wire. */
function runnerDefinition(path: string, codec: WireCodec) {
  const sdk = FunctionRunnerServiceService.runFunction;
  return {
    runFunction: {
      ...sdk,
      path,
      requestDeserialize: codec.decode,
      // The call handler encodes the response itself so that an unencodable
      // response becomes a Fatal result instead of an opaque INTERNAL error.
      responseSerialize: (value: Buffer) => value,
    },
  } satisfies grpc.ServiceDefinition;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fatalResponse(req: RunFunctionRequest, what: string, err: unknown): RunFunctionResponse {
  const rsp = to(req);
  fatal(rsp, `function-lambda-canary: ${what}: ${describe(err)}`);
  // The SDK's fatal() sets no reason; ours says what happened.
  const result = rsp.results[rsp.results.length - 1];
  if (result !== undefined) result.reason = 'InternalError';
  return rsp;
}

function readTlsFile(dir: string, name: string): Buffer {
  const file = join(dir, name);
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${describe(err)})`;
    throw new Error(
      `loading TLS server certificates: ${file} ${why}; mount the function's TLS secret ` +
        `(tls.crt, tls.key, ca.crt) there, point --tls-server-certs-dir or TLS_SERVER_CERTS_DIR ` +
        `at the right directory, or pass --insecure for local development`,
    );
  }
}

/**
 * The server's certificate, key and trusted client CAs from dir, checked
 * here so that a bad file fails startup with an error naming it. The
 * listener (tls-listener.ts) refuses any client without a certificate signed
 * by a CA in ca.crt.
 */
export function loadServerTls(dir: string): ServerTls {
  const cert = readTlsFile(dir, 'tls.crt');
  const key = readTlsFile(dir, 'tls.key');
  const ca = readTlsFile(dir, 'ca.crt');
  try {
    createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new Error(
      `loading TLS server certificates from ${dir}: tls.crt, tls.key and ca.crt must be PEM ` + `and tls.key must match tls.crt: ${describe(err)}`,
    );
  }
  let cas;
  try {
    cas = parseCertificateBundle(ca, join(dir, 'ca.crt'));
  } catch (err) {
    throw new Error(`loading TLS server certificates from ${dir}: ca.crt must be PEM: ${describe(err)}`);
  }
  return { cert, key, ca, cas };
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new Error(`binding the gRPC server to ${address}: ${err.message}`));
      else resolve(port);
    });
  });
}

export async function startFunctionServer(opts: FunctionServerOptions): Promise<RunningServer> {
  const { logger } = opts;
  const tls = opts.insecure ? undefined : loadServerTls(opts.tlsServerCertsDir);

  const now = opts.now ?? (() => new Date());
  const { measurer, measureDeadlineMs } = opts;
  const custom = opts.handler;
  // The real handler, told the call's one clock reading and watched for measurements,
  // so the metrics can tell an analysis run in this call (metrics.ts CallFacts).
  // The handler logs only on internal errors, and its log lines carry the tag itself.
  const handle = (req: RunFunctionRequest, facts: CallFacts): RunFunctionResponse | Promise<RunFunctionResponse> => {
    if (custom !== undefined) return custom(req);
    const at = now();
    facts.plannedAt = at;
    const clock = () => at;
    if (measurer === undefined) {
      return runFunction(req, {
        now: clock,
        logger,
        measurements: () => {
          facts.measured = true;
          return {};
        },
      });
    }
    const watched: Measurer = {
      measure: (queries, o) => {
        facts.measured = true;
        return measurer.measure(queries, o);
      },
    };
    return runFunctionWithMeasurements(req, {
      now: clock,
      logger,
      measurer: watched,
      ...(measureDeadlineMs !== undefined ? { deadlineMs: measureDeadlineMs } : {}),
    });
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxRecvMsgSize,
    // Channelz keeps per-call counters and traces nobody reads here: measurable on every call.
    'grpc.enable_channelz': 0,
  });

  const serveRunFunction =
    (service: string): grpc.handleUnaryCall<RunFunctionRequest, Buffer> =>
    (call, callback) => {
      const started = process.hrtime.bigint();
      const handled = opts.metrics?.startCall(service);
      const req = call.request;
      const tag = req.meta?.tag ?? '';
      void (async () => {
        let rsp: RunFunctionResponse;
        const facts: CallFacts = { request: req };
        try {
          const out = await handle(req, facts);
          if (out === null || typeof out !== 'object') throw new Error(`handler returned ${String(out)}`);
          rsp = out;
        } catch (err) {
          logger.error({ service, tag, err }, 'RunFunction handler failed; returning a Fatal result');
          rsp = fatalResponse(req, 'running the RunFunction handler failed', err);
        }
        let body: Buffer;
        try {
          body = codec.encode(rsp);
        } catch (err) {
          logger.error({ service, tag, err }, 'encoding the RunFunction response failed; returning a Fatal result');
          rsp = fatalResponse(req, 'encoding the RunFunction response failed', err);
          body = codec.encode(rsp);
        }
        // Built only when it will be written: this runs on every call.
        if (logger.isLevelEnabled('debug')) {
          logger.debug(
            {
              service,
              tag,
              peer: call.getPeer(),
              durationMs: Number(process.hrtime.bigint() - started) / 1e6,
              responseBytes: body.length,
              results: (Array.isArray(rsp.results) ? rsp.results : []).map((r) => ({
                severity: r.severity,
                message: r.message,
              })),
            },
            'RunFunction',
          );
        }
        opts.metrics?.observeResponse(rsp, facts);
        handled?.(grpc.status.OK);
        callback(null, body);
      })().catch((err: unknown) => {
        // Only reachable if logging itself throws; the caller still gets an answer.
        handled?.(grpc.status.INTERNAL);
        callback({ code: grpc.status.INTERNAL, details: `serving RunFunction: ${describe(err)}` });
      });
    };

  for (const service of [SERVICE_V1, SERVICE_V1BETA1]) opts.metrics?.initCall(service);
  // The real handler reads little of observed status (request-projection.ts); a custom handler may read anything.
  const projection = opts.projection ?? (opts.handler === undefined ? REQUEST_PROJECTION : {});
  const codec: WireCodec = opts.codec ?? {
    decode: (bytes) => decodeRunFunctionRequest(bytes, projection, opts.metrics?.unknownFields),
    encode: encodeRunFunctionResponse,
  };
  server.addService(runnerDefinition(`/${SERVICE_V1}/RunFunction`, codec), { runFunction: serveRunFunction(SERVICE_V1) });
  server.addService(runnerDefinition(`/${SERVICE_V1BETA1}/RunFunction`, codec), {
    runFunction: serveRunFunction(SERVICE_V1BETA1),
  });

  const health = new HealthService({ '': 'SERVING', [SERVICE_V1]: 'SERVING', [SERVICE_V1BETA1]: 'SERVING' });
  health.addToServer(server);

  let port: number;
  let listener: TlsListener | undefined;
  try {
    if (tls === undefined) {
      port = await bind(server, opts.address, grpc.ServerCredentials.createInsecure());
    } else {
      // TLS is terminated by our own listener, which verifies client
      // certificates as Go does (see tls-listener.ts and client-cert.ts), and
      // the accepted connections are injected into grpc-js as plaintext
      // HTTP/2. grpc-js tracks injected sessions like bound ones: tryShutdown
      // and forceShutdown close them.
      const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      listener = await listenMutualTls({
        address: opts.address,
        tls,
        logger,
        onAccepted: (socket) => injector.injectConnection(socket),
      }).catch((err: unknown) => {
        throw new Error(`binding the gRPC server to ${opts.address}: ${describe(err)}`);
      });
      port = listener.port;
    }
  } catch (err) {
    server.forceShutdown();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = DEFAULT_GRACE_MS): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      // Stop accepting first, so nothing is injected into a server that is draining.
      listener?.close();
      for (const name of ['', SERVICE_V1, SERVICE_V1BETA1]) health.setStatus(name, 'NOT_SERVING');
      // Watch streams never end on their own and would hold tryShutdown for
      // the whole grace period.
      health.endWatches();
      const timer = setTimeout(() => {
        logger.warn({ graceMs }, 'calls still in flight after the shutdown grace period; cancelling them');
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown((err) => {
        clearTimeout(timer);
        if (err) logger.warn({ err }, 'draining the gRPC server reported an error');
        resolve();
      });
    });
    return stopping;
  };

  return { port, server, shutdown };
}
