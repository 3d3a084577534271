// The real control plane the cluster suite runs against, started from the
// binaries scripts/install-control-plane.sh builds:
//
//   etcd → kube-apiserver (+ kube-controller-manager for garbage collection)
//   → the ACK Lambda CRDs → moto (the AWS API) → an in-memory OCI registry
//   → `crossplane core init` (Crossplane's own CRDs and its own root CA and
//   client certificate) → `crossplane core start` (External function runtime)
//   → the function process, served with mTLS on a server certificate signed by
//   Crossplane's root CA → the Function package pushed to the registry and
//   installed as a `Function` → the XRD and Composition.
//
// Everything listens on 127.0.0.1 only. scripts/e2e-cluster.sh runs the suite
// inside a network namespace of its own with only a loopback interface, so no
// server started here can reach or be reached from another address (Crossplane
// binds its metrics and health ports on all interfaces; inside the namespace
// "all" is loopback). Every process is started here, recorded with its PID in
// <dir>/pids, and stopped by that PID in stop(), also when a start step fails;
// the script kills whatever PID is left in that file as a last resort.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const TOOLS_DIR = process.env['FLC_TOOLS_DIR'] ?? join(process.env['HOME'] ?? '/root', '.cache', 'function-lambda-canary', 'tools');
const CP = join(TOOLS_DIR, 'control-plane');
const BIN = join(CP, 'bin');
export const CROSSPLANE_CLI = join(TOOLS_DIR, 'crossplane-v2.2.1', 'crossplane');
export const MOTO_SERVER = join(CP, 'moto', 'bin', 'moto_server');
export const ACK_CRDS_DIR = join(REPO_ROOT, 'test', 'fixtures', 'ack-lambda-crds');
/**
 * Opt-in, session-only: FLC_ACK_CONTROLLER names a locally built ACK
 * lambda-controller binary and FLC_ACK_CRDS the directory of its release's CRDs
 * (all nine). Nothing in the repository or CI provides either; without them the
 * suite applies test/fixtures/ack-lambda-crds and ACK's stand-in plays its part.
 */
export function realAckController(): { binary: string; crdsDir: string } | undefined {
  const binary = process.env['FLC_ACK_CONTROLLER'];
  if (!binary) return undefined;
  const crdsDir = process.env['FLC_ACK_CRDS'];
  if (!crdsDir) throw new Error("FLC_ACK_CONTROLLER is set but FLC_ACK_CRDS (the directory of that release's CRDs) is not");
  return { binary: need(binary, 'the ACK controller named by FLC_ACK_CONTROLLER'), crdsDir: need(crdsDir, 'the CRD directory named by FLC_ACK_CRDS') };
}
export const FUNCTION_NAME = 'function-lambda-canary';
export const CROSSPLANE_NAMESPACE = 'crossplane-system';
export const REGION = 'us-east-1';

export type CrossplaneCore = 'v2.2.1' | 'v1.16.0';

export interface StackOptions {
  /** v2's --circuit-breaker-burst (default Crossplane's, 100). */
  circuitBreakerBurst?: number;
  /** Which Crossplane core reconciles (default v2.2.1). */
  crossplane?: CrossplaneCore;
  /** Crossplane core's --poll-interval (default Crossplane's own, 1m). */
  pollInterval?: string;
  /** Extra XRD/Composition files to apply after the Function is healthy. */
  manifests?: string[];
  /** Other functions to serve and install the same way (mTLS on Crossplane's CA, External runtime). */
  functions?: ExtraFunction[];
  /** More flags for the function process, given moto's endpoint (say --aws-endpoint-url, for rollout analysis against moto's CloudWatch). */
  functionArgs?: (aws: { motoEndpoint: string }) => string[];
  /** More environment for the function process (say AWS_ACCESS_KEY_ID and friends, for the AWS SDK's default chain). */
  functionEnv?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface ExtraFunction {
  name: string;
  binary: string;
  /** Its command line, given the address to serve on and its TLS directory. */
  args: (address: string, tlsDir: string) => string[];
  /** Its package root: crossplane.yaml and its Input CRDs, as `crossplane xpkg build -f` takes it. */
  packageRoot: string;
}

export interface ApiServer {
  url: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface Stack {
  dir: string;
  kubeconfig: string;
  apiServer: ApiServer;
  /** http://127.0.0.1:PORT of moto. */
  motoEndpoint: string;
  /** host:port the function process serves on (mTLS). */
  functionAddress: string;
  /** Directory of the function's server TLS files (tls.crt, tls.key, ca.crt). */
  functionTlsDir: string;
  /** Directory of Crossplane's client TLS files, as `core init` issued them. */
  crossplaneClientTlsDir: string;
  /** The function process's log file (JSON lines). */
  functionLog: string;
  /** Crossplane core's Prometheus metrics, as text. */
  crossplaneMetrics(): Promise<string>;
  /** Seconds each start step took. */
  timings: Record<string, number>;
  kubectl(args: string[], input?: string): string;
  kubectlJson<T = Record<string, unknown>>(args: string[]): T;
  /** Restarts the function process (e.g. after its TLS files changed), with StackOptions.functionArgs and functionEnv and then extraArgs. */
  restartFunction(extraArgs?: string[]): Promise<void>;
  /**
   * Starts one more server the way every other one is started: its PID in
   * <dir>/pids, its output in logs/<name>.log, stopped by that PID in stop().
   */
  startServer(name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ServerProcess;
  stop(): Promise<void>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

export interface ServerProcess {
  name: string;
  pid: number;
  log: string;
  /** Exit code or signal once it has exited, else undefined. */
  exited(): number | string | undefined;
  /** Sends a signal to that PID (e.g. SIGSTOP / SIGCONT). */
  signal(sig: NodeJS.Signals): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr !== null ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

function need(path: string, what: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `starting the real control plane: ${what} is missing at ${path}; run scripts/install-control-plane.sh and scripts/install-crossplane.sh (npm run e2e:cluster does)`,
    );
  }
  return path;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The API server's PKI: a CA, a serving cert for 127.0.0.1, an admin client cert, a service-account key pair. */
function makeApiServerPki(dir: string): void {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=flc-e2e-kube-ca', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', 'apiserver.key', '-out', 'apiserver.csr'], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'serving.ext',
      '-out',
      'apiserver.crt',
    ],
    dir,
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/O=system:masters/CN=flc-e2e-admin', '-keyout', 'admin.key', '-out', 'admin.csr'], dir);
  openssl(
    ['x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'client.ext', '-out', 'admin.crt'],
    dir,
  );
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(api: ApiServer): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: e2e, cluster: {server: "' + api.url + '", certificate-authority: "' + api.caFile + '"}}]',
    'users: [{name: admin, user: {client-certificate: "' + api.certFile + '", client-key: "' + api.keyFile + '"}}]',
    'contexts: [{name: e2e, context: {cluster: e2e, user: admin}}]',
    'current-context: e2e',
    '',
  ].join('\n');
}

/** Builds test/support/crossplane-certs (Go, standard library only: Crossplane's own certificate recipe). */
export function crossplaneCertsTool(): string {
  const out = join(TOOLS_DIR, 'crossplane-certs');
  execFileSync('go', ['build', '-o', out, '.'], { cwd: join(REPO_ROOT, 'test', 'support', 'crossplane-certs'), stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/**
 * The function's server certificate, made by Crossplane's own recipe for the
 * certificates its Deployment runtime issues (test/support/crossplane-certs:
 * RSA 2048, subject = issuer name, EKU serverAuth, the DNS names of the
 * function's Service), signed by the root CA `core init` made. One
 * difference: an IP SAN 127.0.0.1, because the function runs out of cluster
 * and Crossplane checks the endpoint's host (127.0.0.1) against it.
 */
function makeFunctionServerCert(dir: string, caDir: string): void {
  const svc = FUNCTION_NAME;
  const ns = CROSSPLANE_NAMESPACE;
  execFileSync(crossplaneCertsTool(), ['server', caDir, dir, `${svc}`, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`, '127.0.0.1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** Polls `probe` until it returns something other than undefined/false; the error names what was awaited and the last failure. */
export async function waitFor<T>(
  what: string | (() => string),
  timeoutMs: number,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const described = typeof what === 'function' ? what() : what;
      throw new Error(
        `waiting for ${described}: not ready after ${timeoutMs / 1000}s${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[stack] ${line}\n`));
  const dir = mkdtempSync(join(process.env['FLC_E2E_DIR'] ?? tmpdir(), 'flc-cluster-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const pidFile = join(dir, 'pids');
  writeFileSync(pidFile, '');
  if (process.env['FLC_E2E_PIDFILE']) writeFileSync(process.env['FLC_E2E_PIDFILE'], `${pidFile}\n`, { flag: 'a' });
  const procs: Proc[] = [];
  const timings: Record<string, number> = {};
  let t0 = Date.now();
  const lap = (name: string) => {
    timings[name] = (Date.now() - t0) / 1000;
    t0 = Date.now();
  };

  const start = (name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc => {
    const logFile = join(logs, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, cwd: dir });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`starting ${name} (${cmd}) failed`);
    appendFileSync(pidFile, `${child.pid}\n`);
    const p = { name, child, log: logFile };
    procs.push(p);
    child.on('exit', (code, signal) => {
      if (!stopping) log(`${name} (pid ${child.pid}) exited: ${code ?? signal}`);
    });
    return p;
  };
  const stopProc = async (p: Proc): Promise<void> => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
    // A server a test paused (SIGSTOP) would not act on SIGTERM until continued.
    p.child.kill('SIGCONT');
    p.child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!killed) {
      p.child.kill('SIGKILL');
      await exited;
    }
  };
  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    for (const p of [...procs].reverse()) await stopProc(p);
    procs.length = 0;
  };

  try {
    const bin = (name: string) => need(join(BIN, name), name);
    // --- etcd
    const etcdPort = await freePort();
    const etcdPeer = await freePort();
    start('etcd', bin('etcd'), [
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ]);
    // --- kube-apiserver
    const pki = join(dir, 'pki');
    makeApiServerPki(pki);
    const apiPort = await freePort();
    const apiServer: ApiServer = {
      url: `https://127.0.0.1:${apiPort}`,
      caFile: join(pki, 'ca.crt'),
      certFile: join(pki, 'admin.crt'),
      keyFile: join(pki, 'admin.key'),
    };
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(apiServer));
    await waitFor('etcd', 20_000, async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok || undefined);
    lap('etcd');
    start('kube-apiserver', bin('kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--service-account-issuer=https://kubernetes.default.svc`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      '--endpoint-reconciler-type=none',
      '--advertise-address=127.0.0.1',
      '--v=1',
    ]);
    const kubectlBin = bin('kubectl');
    const kubectl = (args: string[], input?: string): string =>
      execFileSync(kubectlBin, ['--kubeconfig', kubeconfig, ...args], {
        input,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, KUBECACHEDIR: join(dir, 'kubecache') },
        maxBuffer: 64 * 1024 * 1024,
      });
    const kubectlJson = <T>(args: string[]): T => JSON.parse(kubectl([...args, '-o', 'json'])) as T;
    await waitFor('kube-apiserver /readyz', 60_000, () => kubectl(['get', '--raw', '/readyz']).includes('ok') || undefined, 300);
    lap('kube-apiserver');
    // --- kube-controller-manager: garbage collection (owner references) and namespace deletion.
    start('kube-controller-manager', bin('kube-controller-manager'), [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${await freePort()}`,
      '--leader-elect=false',
      '--controllers=garbage-collector-controller,namespace-controller,serviceaccount-token-controller',
      `--service-account-private-key-file=${join(pki, 'sa.key')}`,
      `--root-ca-file=${join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false',
    ]);
    // --- ACK's CRDs, moto and the registry (independent of each other)
    kubectl(['apply', '--server-side', '-f', realAckController()?.crdsDir ?? ACK_CRDS_DIR]);
    const motoPort = await freePort();
    start('moto', need(MOTO_SERVER, 'moto_server'), ['-H', '127.0.0.1', '-p', String(motoPort)], {
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: REGION,
    });
    const regPort = await freePort();
    start('registry', bin('registry'), ['-port', String(regPort)]);
    lap('crds+moto+registry');

    // --- Crossplane core init: its CRDs, its root CA and its client certificate.
    const core = opts.crossplane ?? 'v2.2.1';
    const v1 = core === 'v1.16.0';
    const crossplaneBin = bin(v1 ? 'crossplane-v1.16.0' : 'crossplane');
    const xpEnv = {
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: CROSSPLANE_NAMESPACE,
      CRDS_PATH: join(CP, v1 ? 'crossplane-crds-v1.16.0' : 'crossplane-crds'),
      TLS_CA_SECRET_NAME: 'crossplane-root-ca',
      TLS_CLIENT_SECRET_NAME: 'crossplane-tls-client',
      // v1.16 spells it WEBHOOK_ENABLED; v2 reads both.
      ENABLE_WEBHOOKS: 'false',
      WEBHOOK_ENABLED: 'false',
    };
    kubectl(['create', 'namespace', CROSSPLANE_NAMESPACE]);
    await waitFor(
      'crossplane core init',
      90_000,
      () => {
        // On an empty cluster the first run fails with `no matches for kind
        // "Lock"` until its CRDs are Established; run it again.
        // v1.16's init reads its CRDs from a hard-coded /crds: give it one in a
        // private mount namespace (an empty /crds mount point is made once and
        // left; nothing else on the host changes).
        const r = v1
          ? (mkdirSync('/crds', { recursive: true }),
            runLogged(
              'unshare',
              ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$CRDS_PATH" /crds && exec "$0" core init', crossplaneBin],
              xpEnv,
              join(logs, 'crossplane-init.log'),
            ))
          : runLogged(crossplaneBin, ['core', 'init'], xpEnv, join(logs, 'crossplane-init.log'));
        return r === 0 || undefined;
      },
      1000,
    );
    lap('crossplane core init');
    const secret = (name: string) => kubectlJson<{ data: Record<string, string> }>(['-n', CROSSPLANE_NAMESPACE, 'get', 'secret', name]).data;
    const clientTls = join(dir, 'crossplane-client-tls');
    mkdirSync(clientTls);
    const client = secret('crossplane-tls-client');
    for (const key of ['ca.crt', 'tls.crt', 'tls.key']) {
      if (client[key] === undefined) throw new Error(`crossplane core init left no ${key} in secret crossplane-tls-client`);
      writeFileSync(join(clientTls, key), Buffer.from(client[key], 'base64'));
    }
    const rootCa = secret('crossplane-root-ca');
    const caDir = join(dir, 'crossplane-root-ca');
    mkdirSync(caDir);
    for (const key of ['tls.crt', 'tls.key']) writeFileSync(join(caDir, key), Buffer.from(rootCa[key]!, 'base64'), { mode: 0o600 });
    const functionTlsDir = join(dir, 'function-tls');
    makeFunctionServerCert(functionTlsDir, caDir);
    // --- The function process: the shipped bundle, as the image runs it.
    const fnPort = await freePort();
    const functionAddress = `127.0.0.1:${fnPort}`;
    const functionLog = join(logs, 'function.log');
    let fnProc: Proc | undefined;
    const functionArgs = opts.functionArgs?.({ motoEndpoint: `http://127.0.0.1:${motoPort}` }) ?? [];
    const startFunction = async (extraArgs: string[] = []): Promise<void> => {
      fnProc = start(
        'function',
        process.execPath,
        [
          join(REPO_ROOT, 'dist', 'function-lambda-canary.mjs'),
          `--address=${functionAddress}`,
          `--tls-server-certs-dir=${functionTlsDir}`,
          '--metrics-address=',
          '--debug',
          ...functionArgs,
          ...extraArgs,
        ],
        opts.functionEnv ?? {},
      );
      await waitFor('the function to listen', 20_000, () => (readFileSync(fnProc!.log, 'utf8').includes('"listening"') ? true : undefined), 100);
    };
    await startFunction();
    const restartFunction = async (extraArgs: string[] = []): Promise<void> => {
      if (fnProc) {
        await stopProc(fnProc);
        procs.splice(procs.indexOf(fnProc), 1);
      }
      await startFunction(extraArgs);
    };
    lap('function');

    // --- Crossplane core start, out of cluster, External function runtime.
    const crossplaneMetricsPort = v1 ? 8080 : await freePort();
    start(
      'crossplane',
      crossplaneBin,
      [
        'core',
        'start',
        `--tls-client-certs-dir=${clientTls}`,
        // v1.16 takes one runtime for all packages, binds metrics on :8080 and
        // health on :8081 (inside the suite's namespace, on loopback only).
        ...(v1
          ? ['--webhook-enabled=false', '--package-runtime=External']
          : [
              '--enable-webhooks=false',
              '--package-runtime=Function=External',
              `--metrics-port=${crossplaneMetricsPort}`,
              `--health-probe-port=${await freePort()}`,
              // The per-XR watch circuit breaker (default: a burst of 100 events,
              // 1/s refill, then one event per 30 s for 5 minutes) opened in this
              // suite's manual scenario — four spec changes 5 s apart — and held the
              // promotion ~60 s. That is Crossplane's behaviour with its defaults
              // (README, "When a rollout step happens"); the scenarios here change
              // specs faster than people do, so the burst is raised.
              ...(opts.circuitBreakerBurst !== undefined ? [`--circuit-breaker-burst=${opts.circuitBreakerBurst}`] : []),
            ]),
        ...(opts.pollInterval ? [`--poll-interval=${opts.pollInterval}`] : []),
        '--debug',
      ],
      {
        KUBECONFIG: kubeconfig,
        POD_NAMESPACE: CROSSPLANE_NAMESPACE,
        XPKG_CACHE_DIR: mkdirP(join(dir, 'xpkg-cache')),
        CACHE_DIR: join(dir, 'xpkg-cache'),
        XFN_CACHE_DIR: mkdirP(join(dir, 'xfn-cache')),
      },
    );

    // --- Each Function: its package built with the real CLI, pushed to the
    // local registry, installed as a `Function`, its runtime's part played here.
    const cli = need(CROSSPLANE_CLI, 'the crossplane v2.2.1 CLI');
    await waitFor('the registry', 10_000, async () => (await fetch(`http://127.0.0.1:${regPort}/v2/`)).ok || undefined);
    await waitFor('the Function CRD', 60_000, () => kubectl(['get', 'crd', 'functions.pkg.crossplane.io']) || undefined, 500);
    // An empty examples root: the default, ./examples of the working directory, is this repository's render fixtures.
    const noExamples = mkdirP(join(dir, 'no-examples'));
    const installFunction = async (name: string, packageRoot: string, endpoint: string): Promise<void> => {
      const xpkg = join(dir, `${name}.xpkg`);
      runChecked(cli, ['xpkg', 'build', `--package-root=${packageRoot}`, `--examples-root=${noExamples}`, `--package-file=${xpkg}`], join(logs, 'xpkg.log'));
      const pkgRef = `127.0.0.1:${regPort}/flc/${name}:v0.0.0-e2e`;
      runChecked(cli, ['xpkg', 'push', '-f', xpkg, pkgRef], join(logs, 'xpkg.log'));
      kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: v1 ? 'pkg.crossplane.io/v1beta1' : 'pkg.crossplane.io/v1',
          kind: 'Function',
          metadata: { name },
          spec: { package: pkgRef },
        }),
      );
      // With the External runtime nothing sets the revision's endpoint: do the
      // runtime's job (the server certificate Secret, the endpoint, RuntimeHealthy).
      kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `${name}-tls-server`, namespace: CROSSPLANE_NAMESPACE },
          type: 'Opaque',
          data: Object.fromEntries(['tls.crt', 'tls.key', 'ca.crt'].map((k) => [k, readFileSync(join(functionTlsDir, k)).toString('base64')])),
        }),
      );
      const revision = await waitFor(
        `a FunctionRevision of ${name}`,
        90_000,
        () => {
          const list = kubectlJson<{ items: { metadata: { name: string }; spec: { desiredState: string } }[] }>([
            'get',
            'functionrevisions.pkg.crossplane.io',
            '-l',
            `pkg.crossplane.io/package=${name}`,
          ]);
          return list.items.find((r) => r.spec.desiredState === 'Active')?.metadata.name;
        },
        500,
      );
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const patchRevisionStatus = () => {
        const rev = kubectlJson<{ status?: { conditions?: { type: string }[] } }>(['get', 'functionrevisions.pkg.crossplane.io', revision]);
        const conditions = (rev.status?.conditions ?? []).filter((c) => c.type !== 'RuntimeHealthy');
        conditions.push({ type: 'RuntimeHealthy', status: 'True', reason: 'ExternalRuntime', lastTransitionTime: now } as never);
        kubectl([
          'patch',
          'functionrevisions.pkg.crossplane.io',
          revision,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({ status: { endpoint, tlsServerSecretName: `${name}-tls-server`, conditions } }),
        ]);
      };
      patchRevisionStatus();
      await waitFor(
        `the Function ${name} to become Healthy`,
        120_000,
        () => {
          const fn = kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['get', 'functions.pkg.crossplane.io', name]);
          const healthy = fn.status?.conditions?.find((c) => c.type === 'Healthy')?.status === 'True';
          const rev = kubectlJson<{ status?: { endpoint?: string; conditions?: { type: string; status: string }[] } }>([
            'get',
            'functionrevisions.pkg.crossplane.io',
            revision,
          ]);
          // The revision reconciler may rewrite conditions; keep ours in place until healthy.
          if (rev.status?.endpoint !== endpoint || !rev.status?.conditions?.some((c) => c.type === 'RuntimeHealthy' && c.status === 'True'))
            patchRevisionStatus();
          return healthy || undefined;
        },
        1000,
      );
    };
    let ourPackage = join(REPO_ROOT, 'package', 'function');
    if (v1) {
      // The package requires Crossplane >= v2.0.0 because v1 cannot run it
      // (README, Compatibility). To show why, the v1.16 scenario installs a
      // copy whose constraint admits v1.16; nothing else differs.
      ourPackage = join(dir, 'package-function-for-v1.16');
      mkdirSync(ourPackage);
      for (const f of ['crossplane.yaml', 'input.yaml']) {
        const text = readFileSync(join(REPO_ROOT, 'package', 'function', f), 'utf8');
        writeFileSync(join(ourPackage, f), f === 'crossplane.yaml' ? text.replace(/version: ">=v2\.0\.0[^"]*"/, 'version: ">=v1.16.0"') : text);
      }
    }
    await installFunction(FUNCTION_NAME, ourPackage, functionAddress);
    lap('Function installed');
    const extraFunctions: Record<string, string> = {};
    for (const fn of opts.functions ?? []) {
      const port = await freePort();
      const address = `127.0.0.1:${port}`;
      const p = start(fn.name, fn.binary, [...fn.args(address, functionTlsDir)]);
      await waitFor(
        `${fn.name} to listen on ${address}`,
        20_000,
        async () => {
          if (p.child.exitCode !== null) throw new Error(`${fn.name} exited: ${tail(p.log, 5)}`);
          return (await canConnect(port)) || undefined;
        },
        100,
      );
      await installFunction(fn.name, fn.packageRoot, address);
      extraFunctions[fn.name] = address;
    }
    lap('other Functions');
    for (const m of opts.manifests ?? []) kubectl(['apply', '--server-side', '-f', m]);
    lap('manifests');
    log(
      `control plane up in ${dir}: ${Object.entries(timings)
        .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
        .join(', ')}`,
    );
    return {
      dir,
      kubeconfig,
      apiServer,
      motoEndpoint: `http://127.0.0.1:${motoPort}`,
      functionAddress,
      functionTlsDir,
      crossplaneClientTlsDir: clientTls,
      functionLog,
      crossplaneMetrics: async () => (await fetch(`http://127.0.0.1:${crossplaneMetricsPort}/metrics`)).text(),
      timings,
      kubectl,
      kubectlJson,
      restartFunction,
      startServer: (name, cmd, args, env = {}) => {
        const p = start(name, cmd, args, env);
        return {
          name,
          pid: p.child.pid!,
          log: p.log,
          exited: () => p.child.exitCode ?? p.child.signalCode ?? undefined,
          signal: (sig) => void p.child.kill(sig),
        };
      },
      stop,
    };
  } catch (err) {
    const tails = procs.map((p) => `--- ${p.name} (${p.log}):\n${tail(p.log, 15)}`).join('\n');
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nlogs in ${logs}:\n${tails}`, { cause: err });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolveConnect) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolveConnect(true);
    });
    sock.once('error', () => resolveConnect(false));
  });
}

function mkdirP(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function runLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    execFileSync(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, timeout: 60_000 });
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? 1;
  } finally {
    closeSync(fd);
  }
}

function runChecked(cmd: string, args: string[], logFile: string): void {
  if (runLogged(cmd, args, {}, logFile) !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${tail(logFile, 20)}`);
}

/** Every file in a directory, for `kubectl apply -f`. */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).map((f) => join(dir, f));
}
