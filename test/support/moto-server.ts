// moto's server (the AWS API emulator scripts/install-control-plane.sh
// installs) on 127.0.0.1 and a free port, for tests that need a real AWS
// endpoint over HTTP on loopback. Started by path, stopped by its PID in
// stop() (call it from afterAll), SIGKILL after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutMetricAlarmCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { freePort } from './server.js';

const TOOLS_DIR = process.env['FLC_TOOLS_DIR'] ?? join(process.env['HOME'] ?? '/root', '.cache', 'function-lambda-canary', 'tools');
export const MOTO_SERVER_BIN = join(TOOLS_DIR, 'control-plane', 'moto', 'bin', 'moto_server');

export interface MotoServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  pid: number;
  /** Stops the server by its PID; idempotent. */
  stop(): Promise<void>;
}

/** Whether moto is installed (tests that need it are skipped, with a reason, when it is not). */
function motoInstalled(): boolean {
  return existsSync(MOTO_SERVER_BIN);
}

export async function startMotoServer(timeoutMs = 30_000): Promise<MotoServer> {
  if (!motoInstalled()) throw new Error(`starting moto: ${MOTO_SERVER_BIN} does not exist; run scripts/install-control-plane.sh`);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(MOTO_SERVER_BIN, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Dummy credentials: moto signs nothing, and nothing here may reach a real account.
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_DEFAULT_REGION: 'us-east-1' },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`starting moto (${MOTO_SERVER_BIN}) failed: no PID`);
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) {
        process.kill(pid, 'SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`moto exited with ${child.exitCode} before answering: ${output}`);
      try {
        // moto answers its dashboard API once it is up.
        const r = await fetch(`${endpoint}/moto-api/data.json`);
        if (r.ok) break;
      } catch {
        // Not listening yet: try again below.
      }
      if (Date.now() > until) throw new Error(`waiting for moto at ${endpoint}: no answer after ${timeoutMs / 1000}s: ${output}`);
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, pid, stop };
}

/**
 * Creates (or replaces) a CloudWatch alarm on Lambda's Errors metric, as the
 * moto-backed suites need one: the threshold does not matter, the tests set
 * its state with SetAlarmState.
 */
export async function putErrorsAlarm(cw: CloudWatchClient, name: string, dimensions: { Name: string; Value: string }[] = []): Promise<void> {
  await cw.send(
    new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      ...(dimensions.length > 0 ? { Dimensions: dimensions } : {}),
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  );
}
