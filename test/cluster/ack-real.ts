// Opt-in, session-only: the REAL ACK lambda-controller playing ACK's part, in
// place of test/cluster/ack-standin.ts. Used only when FLC_ACK_CONTROLLER names
// a controller binary built outside the repository (and FLC_ACK_CRDS its
// release's CRDs); CI never sets them, and neither the controller's source nor
// its binary belongs in this repository.
//
// The controller runs out of cluster like every other server of the stack:
// started through stack.startServer (PID in the stack's pid file, stopped by
// that PID), talking to the stack's kube-apiserver through its kubeconfig and to
// moto for both Lambda and STS. Its metrics and health ports are bound to
// 127.0.0.1 (its defaults are 0.0.0.0:8080/8081).
//
// One gap of moto's is filled in front of it: the controller reads every
// Version's and Alias's provisioned concurrency (GetProvisionedConcurrencyConfig)
// on each ReadOne, and moto 5.2.5 has no such API (it answers an HTML 404, which
// the SDK cannot decode, so every reconcile fails). A small proxy in this
// process passes every request to moto and answers just that one the way AWS
// answers for a qualifier without provisioned concurrency:
// 404 ProvisionedConcurrencyConfigNotFoundException.
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tail, type ServerProcess, type Stack } from './stack.js';

export interface RealAckOptions {
  binary: string;
  region: string;
  /** --reconcile-default-resync-seconds; left to the controller's default (10 h) unless set. */
  resyncSeconds?: number;
}

export interface RealAck {
  proc: ServerProcess;
  /** Requests the proxy answered itself (GetProvisionedConcurrencyConfig). */
  answered(): number;
  stop(): Promise<void>;
  /** Pauses the whole controller (SIGSTOP): no object of any kind is reconciled until resume(). */
  pause(): void;
  resume(): void;
  log(): string;
}

export async function startRealAck(stack: Stack, opts: RealAckOptions): Promise<RealAck> {
  const front = await motoFront(stack.motoEndpoint);
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const webhookPort = await freePort();
  const proc = stack.startServer(
    'ack-lambda-controller',
    opts.binary,
    [
      `--aws-region=${opts.region}`,
      `--aws-endpoint-url=${front.url}`,
      `--aws-identity-endpoint-url=${stack.motoEndpoint}`,
      '--allow-unsafe-aws-endpoint-urls',
      '--enable-carm=false',
      '--enable-leader-election=false',
      '--enable-webhook-server=false',
      `--healthz-addr=127.0.0.1:${healthPort}`,
      `--metrics-addr=127.0.0.1:${metricsPort}`,
      `--webhook-server-addr=127.0.0.1:${webhookPort}`,
      '--log-level=debug',
      ...(opts.resyncSeconds ? [`--reconcile-default-resync-seconds=${opts.resyncSeconds}`] : []),
    ],
    {
      KUBECONFIG: stack.kubeconfig,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: opts.region,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      // With a CA bundle set every reconcile fails ("unable to add custom RootCAs HTTPClient"):
      // moto is plain HTTP anyway.
      AWS_CA_BUNDLE: undefined,
    },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const exited = proc.exited();
    if (exited !== undefined) {
      await front.close();
      throw new Error(`the ACK controller exited (${exited}) while starting:\n${tail(proc.log, 20)}`);
    }
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    // Ready once its controllers for Versions and Aliases run their workers.
    const log = readFileSync(proc.log, 'utf8');
    if (ready && /Starting workers.*"controller":"alias"/i.test(log) && /Starting workers.*"controller":"version"/i.test(log)) break;
    if (Date.now() > deadline) {
      await front.close();
      throw new Error(`the ACK controller was not ready after 60s:\n${tail(proc.log, 20)}`);
    }
    await sleep(250);
  }
  let paused = 0;
  return {
    proc,
    pause() {
      if (paused++ === 0) proc.signal('SIGSTOP');
    },
    resume() {
      if (paused > 0 && --paused === 0) proc.signal('SIGCONT');
    },
    log: () => readFileSync(proc.log, 'utf8'),
    answered: () => front.answered,
    async stop() {
      if (paused > 0) {
        paused = 0;
        proc.signal('SIGCONT');
      }
      await front.close();
    },
  };
}

const PROVISIONED_CONCURRENCY = /^\/2019-09-30\/functions\/[^/]+\/provisioned-concurrency(\?|$)/;

async function motoFront(motoEndpoint: string): Promise<{ url: string; answered: number; close(): Promise<void> }> {
  const moto = new URL(motoEndpoint);
  const state = { answered: 0 };
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && PROVISIONED_CONCURRENCY.test(req.url ?? '')) {
      state.answered++;
      req.resume();
      const body = JSON.stringify({ Type: 'User', message: 'No Provisioned Concurrency Config found for this function' });
      res.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'ProvisionedConcurrencyConfigNotFoundException',
        'x-amzn-requestid': 'flc-moto-front',
      });
      res.end(body);
      return;
    }
    const up = request({ host: moto.hostname, port: moto.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${port}`,
    get answered() {
      return state.answered;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
