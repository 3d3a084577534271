// The function's real gRPC server, in-process on a free loopback port, as the
// end-to-end and fault suites use it: insecure, silent logs, an optional
// injected clock or handler.
import { createServer } from 'node:net';
import { pino } from 'pino';
import { startFunctionServer, type FunctionHandler, type RunningServer } from '../../function/server.js';

export interface LoopbackServerOptions {
  now?: () => Date;
  handler?: FunctionHandler;
  maxRecvMsgSize?: number;
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
  });
}

/** A loopback port nothing listens on right now, for child processes to bind. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('finding a free loopback port failed'))));
    });
  });
}
