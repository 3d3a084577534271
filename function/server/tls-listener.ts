// The function's mTLS listener. It terminates TLS itself, instead of letting
// grpc-js do it, so that it can accept Crossplane's client certificate, which
// OpenSSL mistakes for a self-signed one (see client-cert.ts), while still
// refusing, at connection time, every client whose certificate no CA in ca.crt
// signed. Accepted connections are handed to grpc-js (see server.ts).
import { lookup } from 'node:dns/promises';
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { verifyClientCertificate } from './client-cert.js';
import { splitHostPort } from './host-port.js';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** ca.crt as read, handed to OpenSSL for the chains it can verify itself. */
  ca: Buffer;
  /** Every certificate in ca.crt. */
  cas: X509Certificate[];
}

export interface TlsListenerOptions {
  /** host:port (port 0 picks a free port) or unix:/path, as grpc-js's bindAsync takes it. */
  address: string;
  tls: ServerTls;
  logger: Logger;
  /** Called with each connection whose client certificate was accepted. */
  onAccepted(socket: TLSSocket): void;
  /** Called once per refused connection, after it has been logged. */
  onRefused?(reason: string): void;
  now?: () => Date;
}

export interface TlsListener {
  /** The port bound (1 for a unix socket, as grpc-js reports it). */
  port: number;
  /**
   * Stops accepting connections and refuses those still in their handshake
   * when it completes; connections already handed over are grpc-js's to drain.
   */
  close(): void;
}

/** Why a client was accepted or refused: OpenSSL's own verdict first, then Go's rule. */
function judge(socket: TLSSocket, tls: ServerTls, now: Date): { ok: true } | { ok: false; reason: string } {
  if (socket.authorized) return { ok: true };
  const leaf = socket.getPeerX509Certificate();
  if (leaf === undefined) return { ok: false, reason: 'the client presented no certificate' };
  const verdict = verifyClientCertificate(leaf, tls.cas, now);
  if (verdict.ok) return verdict;
  return { ok: false, reason: `${verdict.reason} (OpenSSL: ${String(socket.authorizationError)})` };
}

type Target = { path: string } | { host: string; port: number };

/** The addresses grpc-js would bind for `address`: a unix path, or every address host resolves to. */
async function resolveTargets(address: string): Promise<Target[]> {
  if (address.startsWith('unix:')) {
    // grpc-js: unix:/abs, unix:relative, or unix:///abs (empty authority).
    let path = address.slice('unix:'.length);
    const m = /^\/\/[^/]*(\/.*)$/.exec(path);
    if (m) path = m[1]!;
    return [{ path }];
  }
  const hp = splitHostPort(address);
  if (!hp) throw new Error(`"${address}" is not host:port or unix:/path`);
  const { host, port } = hp;
  if (isIP(host)) return [{ host, port }];
  const found = await lookup(host, { all: true });
  return [...new Set(found.map((a) => a.address))].map((h) => ({ host: h, port }));
}

function listen(server: Server, target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'string' || bound === null ? 1 : bound.port);
    });
  });
}

export async function listenMutualTls(opts: TlsListenerOptions): Promise<TlsListener> {
  const { tls, logger } = opts;
  const now = opts.now ?? (() => new Date());
  let closed = false;

  const makeServer = (): Server => {
    const server = createServer({
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      requestCert: true,
      // Judged in secureConnection below: OpenSSL refuses Crossplane's certificate.
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      // What grpc-js's createSsl passes (undefined, Node's defaults, unless set).
      ...(process.env.GRPC_SSL_CIPHER_SUITES !== undefined ? { ciphers: process.env.GRPC_SSL_CIPHER_SUITES } : {}),
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      // A handed-over socket's errors are grpc-js's to see through its session; these are ours.
      socket.on('error', (err) => logger.debug({ err, peer: socket.remoteAddress }, 'TLS connection error'));
      if (closed) {
        // Its handshake finished after shutdown began; grpc-js is no longer taking connections.
        logger.debug({ peer: socket.remoteAddress }, 'dropped a connection that completed its TLS handshake during shutdown');
        socket.destroy();
        return;
      }
      const verdict = judge(socket, tls, now());
      if (!verdict.ok) {
        const peer = socket.remotePort !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
        logger.warn({ peer, reason: verdict.reason }, 'refused a gRPC client: no TLS client certificate signed by a CA in ca.crt');
        opts.onRefused?.(verdict.reason);
        socket.destroy();
        return;
      }
      // grpc-js's plaintext HTTP/2 server would drop it anyway ('unknownProtocol'); say why.
      if (socket.alpnProtocol !== 'h2') {
        logger.warn({ peer: socket.remoteAddress, alpn: socket.alpnProtocol }, 'refused a gRPC client that did not negotiate HTTP/2 (ALPN h2)');
        opts.onRefused?.('no ALPN h2');
        socket.destroy();
        return;
      }
      // The HTTP/2 session owns the socket from here; shutdown drains it through grpc-js.
      opts.onAccepted(socket);
    });
    server.on('tlsClientError', (err, socket) => {
      logger.debug({ err, peer: socket.remoteAddress }, 'TLS handshake with a client failed');
      socket.destroy();
    });
    return server;
  };

  const targets = await resolveTargets(opts.address);
  const servers: Server[] = [];
  const errors: string[] = [];
  let port = 0;
  for (const target of targets) {
    // As grpc-js does: with port 0, every address after the first binds the port the first got.
    const t = 'port' in target && target.port === 0 && port !== 0 ? { ...target, port } : target;
    const server = makeServer();
    try {
      const bound = await listen(server, t);
      if (port === 0) port = bound;
      servers.push(server);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (servers.length === 0) {
    throw new Error(`No address added out of total ${targets.length} resolved errors: [${errors.join(',')}]`);
  }
  if (errors.length > 0) {
    logger.warn({ address: opts.address, errors }, `bound only ${servers.length} of ${targets.length} resolved addresses`);
  }

  return {
    port,
    close: () => {
      closed = true;
      for (const s of servers) s.close();
    },
  };
}
