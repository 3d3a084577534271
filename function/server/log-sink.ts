// Where the function's logs go (stdout), and how the process exits without
// waiting on them forever.
//
// pino's default destination writes stdout asynchronously and, on exit, flushes
// what is left synchronously. That flush retries a failed write in a loop with
// no end (sonic-boom's flushSync sleeps and retries on any error but EAGAIN),
// so once the reader of stdout has gone (EPIPE: a crashed log shipper, a
// closed pipe) the process never exits and needs SIGKILL. Here a write error
// means the logs have nowhere to go: logging stops, and exiting never waits on
// stdout for more than a bounded time.
import { pino, type DestinationStream, type Logger } from 'pino';

/** How long an exit waits for buffered log lines to reach stdout. */
export const LOG_FLUSH_TIMEOUT_MS = 1_000;

/** The subset of pino.destination()'s SonicBoom stream used here. */
type Destination = DestinationStream & {
  end(): void;
  destroy(): void;
  destroyed: boolean;
  on(event: 'error', fn: (err: NodeJS.ErrnoException) => void): unknown;
  once(event: 'close' | 'error', fn: () => void): unknown;
};

export interface LogSink {
  logger: Logger;
  /** Exits with `code` once buffered lines are written, stdout has failed, or flushTimeoutMs passed. */
  exit(code: number): void;
}

/** A JSON logger on stdout (fd), and the process exit that goes with it. */
export function stdoutLogSink(options: pino.LoggerOptions, fd = 1, flushTimeoutMs = LOG_FLUSH_TIMEOUT_MS): LogSink {
  let exiting = false;
  let broken = false;
  const onBroken: (() => void)[] = [];
  // While exiting, a full pipe (EAGAIN) is an error too, instead of a retry every 100 ms.
  const dest = pino.destination({ dest: fd, sync: false, retryEAGAIN: () => !exiting }) as unknown as Destination;
  const logger = pino(options, dest);
  // pino's own listener only handles EPIPE (by dropping every later write) and
  // re-emits any other error, which without a listener would crash the process.
  dest.on('error', () => {
    if (broken) return;
    broken = true;
    // Nothing can be told on stdout any more; stop formatting lines for it.
    logger.level = 'silent';
    for (const fn of onBroken.splice(0)) fn();
  });

  return {
    logger,
    exit(code) {
      if (exiting) return;
      exiting = true;
      const done = () => {
        clearTimeout(timer);
        // pino's exit hook skips a destroyed stream, so process.exit cannot
        // block in its synchronous flush.
        if (!dest.destroyed) dest.destroy();
        process.exit(code);
      };
      // Not unref'd: this timer is what ends the process if stdout never drains.
      const timer = setTimeout(done, flushTimeoutMs);
      if (broken) return done();
      onBroken.push(done);
      dest.once('close', done);
      // end() writes what is buffered, then closes the stream ('close').
      dest.end();
    },
  };
}
