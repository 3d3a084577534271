// The function's real gRPC server, in-process on a free loopback port, as the
// end-to-end and fault suites use it: insecure, silent logs, an optional
// injected clock, handler or CloudWatch measurer.
import { pino } from 'pino';
import type { Measurer } from '../../function/aws/cloudwatch.js';
import { startFunctionServer, type FunctionHandler, type RunningServer, type WireCodec } from '../../function/server/server.js';

export interface LoopbackServerOptions {
  now?: () => Date;
  handler?: FunctionHandler;
  maxRecvMsgSize?: number;
  codec?: WireCodec;
  /** Answers rollout analysis (a CloudWatchMeasurer pointed at moto, say); unset: the synchronous handler, no CloudWatch. */
  measurer?: Measurer;
  measureDeadlineMs?: number;
}

export function startLoopbackServer(opts: LoopbackServerOptions = {}): Promise<RunningServer> {
  return startFunctionServer({
    address: '127.0.0.1:0',
    insecure: true,
    tlsServerCertsDir: '',
    maxRecvMsgSize: opts.maxRecvMsgSize ?? 4 * 1024 * 1024,
    logger: pino({ level: 'silent' }),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
    ...(opts.handler !== undefined ? { handler: opts.handler } : {}),
    ...(opts.codec !== undefined ? { codec: opts.codec } : {}),
    ...(opts.measurer !== undefined ? { measurer: opts.measurer } : {}),
    ...(opts.measureDeadlineMs !== undefined ? { measureDeadlineMs: opts.measureDeadlineMs } : {}),
  });
}

// The benchmark's helper: a loopback port nothing listens on right now.
export { freePort } from '../../bench/proc.js';

/** Starts an HTTP server on a free loopback port; close() ends its connections and stops it. */
export async function listenOnLoopback(server: import('node:http').Server): Promise<{ endpoint: string; close: () => Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
