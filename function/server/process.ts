// The function's process lifecycle: flags -> logger -> server (+ metrics) ->
// drain on SIGTERM. Shared by the real entry (main.ts) and the benchmark's
// no-op baseline, so the two differ only in their handler.
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { FlagError, helpText, parseFlags, type Flags } from './flags.js';
import { defaultMetrics, serveMetrics } from './metrics.js';
import { stdoutLogSink } from './log-sink.js';
import { CloudWatchMeasurer } from '../aws/cloudwatch.js';
import { DEFAULT_GRACE_MS, startFunctionServer, type FunctionHandler, type WireCodec } from './server.js';

/** After the drain's grace period, how long to wait for shutdown() to settle before exiting regardless. */
const HARD_EXIT_MARGIN_MS = 1_000;

export interface ProcessOptions {
  program: string;
  /** Defaults to the real planner (handler.ts runFunction). */
  handler?: FunctionHandler;
  /** Defaults to ours (server.ts); the benchmark's SDK-codec no-op passes the SDK's. */
  codec?: WireCodec;
}

export async function runFunctionProcess(opts: ProcessOptions): Promise<void> {
  const { program } = opts;
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`${program}: ${err.message}\nRun '${program} --help' for usage.\n`);
    process.exit(2);
  }

  if (flags.help) {
    process.stdout.write(helpText(program));
    process.exit(0);
  }

  // From here on the process exits through sink.exit, never waiting on stdout
  // for long (log-sink.ts): a log reader that went away must not keep it alive.
  const sink = stdoutLogSink({
    name: program,
    level: flags.debug ? 'debug' : 'info',
    // Label instead of pino's numeric level: log pipelines and humans both read it.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
  const { logger } = sink;

  try {
    const metrics = flags.metricsAddress !== '' ? defaultMetrics() : undefined;
    // One measurer for the process: its limiter and cache span every XR's calls.
    const measurer = new CloudWatchMeasurer({
      maxConcurrency: flags.cloudwatch.maxConcurrency,
      cacheTtlMs: flags.cloudwatch.cacheTtlMs,
      ...(flags.cloudwatch.endpointUrl !== undefined ? { endpoint: flags.cloudwatch.endpointUrl } : {}),
      ...(metrics !== undefined ? { observer: metrics.cloudwatch } : {}),
    });
    if (flags.cloudwatch.endpointUrl !== undefined) {
      logger.warn({ awsEndpointUrl: flags.cloudwatch.endpointUrl }, 'CloudWatch calls go to --aws-endpoint-url: for tests only');
    }
    const running = await startFunctionServer({
      address: flags.address,
      insecure: flags.insecure,
      tlsServerCertsDir: flags.tlsServerCertsDir,
      maxRecvMsgSize: flags.maxRecvMsgSize,
      logger,
      metrics,
      measurer,
      measureDeadlineMs: flags.cloudwatch.deadlineMs,
      ...(opts.handler !== undefined ? { handler: opts.handler } : {}),
      ...(opts.codec !== undefined ? { codec: opts.codec } : {}),
      ...(flags.now !== undefined ? { now: () => flags.now! } : {}),
    });
    if (flags.now !== undefined) logger.warn({ now: flags.now.toISOString() }, 'clock frozen by --now: for rendering examples only');
    logger.info(
      {
        address: flags.address,
        port: running.port,
        insecure: flags.insecure,
        maxRecvMsgSize: flags.maxRecvMsgSize,
        // What NODE_OPTIONS (the image sets V8 heap sizes) left the heap at: operators size memory limits from it.
        heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
      },
      'listening',
    );
    if (metrics !== undefined) {
      // Metrics are auxiliary: a taken port must not stop the function from composing.
      await serveMetrics(flags.metricsAddress, metrics).then(
        (served) => logger.info({ metricsAddress: flags.metricsAddress, port: served.port }, 'serving Prometheus metrics at /metrics'),
        (err: unknown) => logger.error({ err }, 'serving Prometheus metrics failed; continuing without /metrics'),
      );
    }

    let draining = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (draining) {
        // A second signal means the operator does not want to wait for the drain.
        logger.warn({ signal }, 'second signal while draining; exiting now');
        sink.exit(1);
        return;
      }
      draining = true;
      logger.info({ signal }, 'draining in-flight calls before exit');
      // shutdown() cancels calls still running after DEFAULT_GRACE_MS; should it
      // still not settle (a bug, a stuck transport), this ends the process anyway.
      setTimeout(() => {
        logger.error({ graceMs: DEFAULT_GRACE_MS }, 'the drain did not finish after the grace period; exiting');
        sink.exit(1);
      }, DEFAULT_GRACE_MS + HARD_EXIT_MARGIN_MS).unref();
      running.shutdown(DEFAULT_GRACE_MS).then(
        () => {
          logger.info('stopped');
          sink.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'draining the gRPC server failed');
          sink.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  } catch (err) {
    logger.fatal({ err }, 'starting the function gRPC server failed');
    sink.exit(1);
  }
}
