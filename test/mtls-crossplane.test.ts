// mTLS with certificates shaped like the ones `crossplane core init` issues
// (see support/crossplane-certs.ts): OpenSSL takes Crossplane's client
// certificate for a self-signed one, so the function verifies it itself.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { RunFunctionRequest, to } from '@crossplane-org/function-sdk-typescript';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFunctionServer, type RunningServer } from '../function/server/server.js';
import { crossplaneCert, type IssuedCert } from './support/crossplane-certs.js';
import { callOnce, functionClient, healthClient } from './support/grpc-client.js';

const DAY = 24 * 3600 * 1000;

let ca: IssuedCert;
let server: IssuedCert;
let srv: RunningServer;
let target: string;
let handled: string[] = [];
let logs: Array<Record<string, unknown>> = [];

// Crossplane's server certificates look as self-signed to OpenSSL as its
// client certificate does, and OpenSSL refuses such a leaf even when it is in
// the client's trust store, so the Node test client cannot verify the
// function's Crossplane-shaped server certificate (Crossplane, in Go, verifies
// it through the CA). The test client therefore skips server verification:
// what is under test is the server's verification of the client.
const NO_SERVER_CHECK = { rejectUnauthorized: false };
const clientRoots = () => ca.cert;
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost' };
const req = (tag: string) => RunFunctionRequest.fromPartial({ meta: { tag } });

const call = (creds: grpc.ChannelCredentials, tag: string) => callOnce(target, creds, tag);

async function health(creds: grpc.ChannelCredentials) {
  const h = healthClient(target, creds, TLS_NAME);
  try {
    return await h.check('');
  } finally {
    h.close();
  }
}

const as = (cert: IssuedCert) => grpc.credentials.createSsl(clientRoots(), cert.key, cert.cert, NO_SERVER_CHECK);
const refusals = () => logs.filter((l) => String(l['msg']).startsWith('refused a gRPC client'));

beforeAll(async () => {
  ca = crossplaneCert({ usage: 'ca' });
  server = crossplaneCert({ usage: 'server', issuer: ca });
  const dir = join(mkdtempSync(join(tmpdir(), 'fn-xp-tls-')), 'server');
  mkdirSync(dir);
  writeFileSync(join(dir, 'tls.crt'), server.cert);
  writeFileSync(join(dir, 'tls.key'), server.key);
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  srv = await startFunctionServer({
    address: '127.0.0.1:0',
    insecure: false,
    tlsServerCertsDir: dir,
    maxRecvMsgSize: 4 * 1024 * 1024,
    logger: pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    handler: (r) => {
      handled.push(r.meta?.tag ?? '');
      return to(r);
    },
  });
  target = `127.0.0.1:${srv.port}`;
});

afterAll(async () => {
  await srv?.shutdown(1_000);
});

beforeEach(() => {
  handled = [];
  logs = [];
});

describe('mTLS with Crossplane-shaped certificates', () => {
  it("answers RunFunction (v1 and v1beta1) and health for Crossplane's client certificate", async () => {
    const crossplane = as(crossplaneCert({ usage: 'client', issuer: ca }));
    expect((await call(crossplane, 'crossplane')).meta?.tag).toBe('crossplane');
    const beta = functionClient(target, 'v1beta1', crossplane, TLS_NAME);
    try {
      expect((await beta.runFunction(req('crossplane-beta'))).meta?.tag).toBe('crossplane-beta');
    } finally {
      beta.close();
    }
    expect(await health(crossplane)).toBe('SERVING');
    expect(handled).toEqual(['crossplane', 'crossplane-beta']);
    expect(refusals()).toEqual([]);
  });

  // Each refusal: the RPC fails UNAVAILABLE, the handler never runs, and the
  // listener logged why it dropped the connection.
  async function expectRefused(creds: grpc.ChannelCredentials, reason: RegExp) {
    await expect(call(creds, 'refused')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(health(creds)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(handled).toEqual([]);
    // A closed client's channel may still finish a reconnect attempt later, so
    // an earlier test's refusal can show up here too: look for this one's.
    const mine = refusals().filter((l) => reason.test(String(l['reason'])));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine[0]).toMatchObject({ level: 40, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  }

  it('refuses a client that presents no certificate', async () => {
    await expectRefused(grpc.credentials.createSsl(clientRoots(), null, null, NO_SERVER_CHECK), /no certificate/);
  });

  it('refuses a Crossplane-shaped certificate from another Crossplane CA (same subject, other key)', async () => {
    const otherCa = crossplaneCert({ usage: 'ca' });
    const stranger = crossplaneCert({ usage: 'client', issuer: otherCa });
    expect(stranger.x509.issuer).toBe(ca.x509.subject);
    await expectRefused(as(stranger), /signature does not verify/);
  });

  it('refuses an expired client certificate', async () => {
    const now = Date.now();
    const expired = crossplaneCert({
      usage: 'client',
      issuer: ca,
      notBefore: new Date(now - 20 * DAY),
      notAfter: new Date(now - 10 * DAY),
    });
    await expectRefused(as(expired), /expired at/);
  });

  it('refuses a certificate whose extended key usage is serverAuth only', async () => {
    // A function's server certificate, signed by the right CA.
    await expectRefused(as(crossplaneCert({ usage: 'server', issuer: ca })), /do not include clientAuth/);
  });

  it('refuses a self-signed certificate that is not in ca.crt', async () => {
    await expectRefused(as(crossplaneCert({ usage: 'client' })), /signature does not verify/);
  });

  it('refuses a plaintext client', async () => {
    await expect(call(grpc.credentials.createInsecure(), 'plaintext')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(handled).toEqual([]);
  });

  it('still serves Crossplane after refusing others', async () => {
    expect((await call(as(crossplaneCert({ usage: 'client', issuer: ca })), 'after')).meta?.tag).toBe('after');
  });
});

describe('addresses of the TLS listener', () => {
  function serverDir(): string {
    const dir = join(mkdtempSync(join(tmpdir(), 'fn-xp-tls-')), 'server');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tls.crt'), server.cert);
    writeFileSync(join(dir, 'tls.key'), server.key);
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    return dir;
  }

  for (const address of ['unix', 'localhost:0']) {
    it(`serves Crossplane on ${address === 'unix' ? 'unix:/path' : address}`, async () => {
      const listen = address === 'unix' ? `unix:${join(mkdtempSync(join(tmpdir(), 'fn-sock-')), 'fn.sock')}` : address;
      const own = await startFunctionServer({
        address: listen,
        insecure: false,
        tlsServerCertsDir: serverDir(),
        maxRecvMsgSize: 4 * 1024 * 1024,
        logger: pino({ level: 'silent' }),
        handler: (r) => to(r),
      });
      try {
        const dial = address === 'unix' ? listen : `localhost:${own.port}`;
        if (address === 'unix') expect(own.port).toBe(1);
        else expect(own.port).toBeGreaterThan(0);
        const c = functionClient(dial, 'v1', as(crossplaneCert({ usage: 'client', issuer: ca })), TLS_NAME);
        try {
          expect((await c.runFunction(req('addr'), 5_000)).meta?.tag).toBe('addr');
        } finally {
          c.close();
        }
      } finally {
        await own.shutdown(1_000);
      }
    });
  }

  it('fails to start with a clear error when the address cannot be bound', async () => {
    await expect(
      startFunctionServer({
        address: target,
        insecure: false,
        tlsServerCertsDir: serverDir(),
        maxRecvMsgSize: 1024,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(new RegExp(`binding the gRPC server to ${target}: .*EADDRINUSE`));
  });
});

describe('shutdown with the TLS listener', () => {
  it('drains an in-flight call, then closes the listener', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fn-xp-tls-')), 'server');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tls.crt'), server.cert);
    writeFileSync(join(dir, 'tls.key'), server.key);
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inFlight = new Promise<void>((r) => (entered = r));
    const own = await startFunctionServer({
      address: '127.0.0.1:0',
      insecure: false,
      tlsServerCertsDir: dir,
      maxRecvMsgSize: 4 * 1024 * 1024,
      logger: pino({ level: 'silent' }),
      handler: async (r) => {
        entered();
        await held;
        return to(r);
      },
    });
    const ownTarget = `127.0.0.1:${own.port}`;
    const creds = as(crossplaneCert({ usage: 'client', issuer: ca }));
    const c = functionClient(ownTarget, 'v1', creds, TLS_NAME);
    try {
      const answer = c.runFunction(req('held'), 10_000);
      answer.catch(() => {}); // awaited below; do not let an early failure go unhandled
      await inFlight;
      const stopped = own.shutdown(5_000);
      // New connections are refused while the call drains.
      const late = functionClient(ownTarget, 'v1', creds, TLS_NAME);
      await expect(late.runFunction(req('late'), 2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      late.close();
      release();
      const released = Date.now();
      expect((await answer).meta?.tag).toBe('held');
      await stopped;
      // tryShutdown saw the injected session end: it did not wait out the 5 s grace period.
      expect(Date.now() - released).toBeLessThan(2_000);
    } finally {
      c.close();
    }
  });
});
