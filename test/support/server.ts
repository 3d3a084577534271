// The function's real gRPC server, in-process on a free loopback port, as the
// end-to-end and fault suites use it: insecure, silent logs, an optional
// injected clock or handler.
import { pino } from 'pino';
import { startFunctionServer, type FunctionHandler, type RunningServer, type WireCodec } from '../../function/server/server.js';

export interface LoopbackServerOptions {
  now?: () => Date;
  handler?: FunctionHandler;
  maxRecvMsgSize?: number;
  codec?: WireCodec;
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
  });
}

// The benchmark's helper: a loopback port nothing listens on right now.
export { freePort } from '../../bench/proc.js';
