#!/usr/bin/env node
// The benchmark's baseline: the same process stack as the real function (the
// same flags, pino logger, per-call Prometheus metrics, startFunctionServer
// from function/server.ts and its SIGTERM drain) with a handler that does
// nothing but answer `to(req)`. What the real function costs on top of this
// is the composition logic itself.
import { to } from '@crossplane-org/function-sdk-typescript';
import { pino } from 'pino';
import { FlagError, helpText, parseFlags, type Flags } from '../function/flags.js';
import { defaultMetrics, serveMetrics } from '../function/metrics.js';
import { startFunctionServer } from '../function/server.js';

const PROGRAM = 'noop-function';

let flags: Flags;
try {
  flags = parseFlags(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof FlagError)) throw err;
  process.stderr.write(`${PROGRAM}: ${err.message}\n`);
  process.exit(2);
}

if (flags.help) {
  process.stdout.write(helpText(PROGRAM));
  process.exit(0);
}

const logger = pino({
  name: PROGRAM,
  level: flags.debug ? 'debug' : 'info',
  formatters: { level: (label) => ({ level: label }) },
  timestamp: pino.stdTimeFunctions.isoTime,
});

try {
  // As main.ts: metrics are recorded per call unless --metrics-address= turns them off.
  const metrics = flags.metricsAddress !== '' ? defaultMetrics() : undefined;
  const running = await startFunctionServer({
    address: flags.address,
    insecure: flags.insecure,
    tlsServerCertsDir: flags.tlsServerCertsDir,
    maxRecvMsgSize: flags.maxRecvMsgSize,
    logger,
    metrics,
    handler: (req) => to(req),
  });
  logger.info({ address: flags.address, port: running.port, insecure: flags.insecure }, 'listening');
  if (metrics !== undefined) {
    await serveMetrics(flags.metricsAddress, metrics).then(
      (served) => logger.info({ metricsAddress: flags.metricsAddress, port: served.port }, 'serving Prometheus metrics at /metrics'),
      (err: unknown) => logger.error({ err }, 'serving Prometheus metrics failed; continuing without /metrics'),
    );
  }
  let draining = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) process.exit(1);
    draining = true;
    logger.info({ signal }, 'draining in-flight calls before exit');
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'draining the gRPC server failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
} catch (err) {
  logger.fatal({ err }, 'starting the no-op function gRPC server failed');
  process.exit(1);
}
