import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { RunFunctionRequest } from '@crossplane-org/function-sdk-typescript';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFunctionServer, type RunningServer } from '../function/server/server.js';
import { generateCerts, type TestCerts } from './support/certs.js';
import { callOnce, functionClient, healthClient } from './support/grpc-client.js';

let certs: TestCerts;
let srv: RunningServer;
let target: string;

function options(tlsServerCertsDir: string) {
  return {
    address: '127.0.0.1:0',
    insecure: false,
    tlsServerCertsDir,
    maxRecvMsgSize: 4 * 1024 * 1024,
    logger: pino({ level: 'silent' }),
  };
}

// Dial the IP but verify the certificate's DNS name, as Crossplane does via a Service name.
const TLS_NAME = { 'grpc.ssl_target_name_override': 'localhost' };

const req = (tag: string) => RunFunctionRequest.fromPartial({ meta: { tag } });

const call = (creds: grpc.ChannelCredentials, tag: string) => callOnce(target, creds, tag);

beforeAll(async () => {
  certs = generateCerts();
  srv = await startFunctionServer(options(certs.serverDir));
  target = `127.0.0.1:${srv.port}`;
});

afterAll(async () => {
  await srv?.shutdown(1_000);
});

describe('mTLS', () => {
  it('accepts a client presenting a certificate signed by ca.crt (v1, v1beta1 and health)', async () => {
    const creds = grpc.credentials.createSsl(certs.ca, certs.client.key, certs.client.cert);
    expect((await call(creds, 'trusted')).meta?.tag).toBe('trusted');
    const beta = functionClient(target, 'v1beta1', creds, TLS_NAME);
    try {
      expect((await beta.runFunction(req('trusted-beta'))).meta?.tag).toBe('trusted-beta');
    } finally {
      beta.close();
    }
    const health = healthClient(target, creds, TLS_NAME);
    try {
      expect(await health.check('')).toBe('SERVING');
    } finally {
      health.close();
    }
  });

  it('refuses a client that presents no certificate', async () => {
    const creds = grpc.credentials.createSsl(certs.ca);
    await expect(call(creds, 'anonymous')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('refuses a client whose certificate was signed by another CA', async () => {
    const creds = grpc.credentials.createSsl(certs.ca, certs.otherClient.key, certs.otherClient.cert);
    await expect(call(creds, 'stranger')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('refuses a plaintext client', async () => {
    await expect(call(grpc.credentials.createInsecure(), 'plaintext')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('still serves trusted clients after refusing others', async () => {
    const creds = grpc.credentials.createSsl(certs.ca, certs.client.key, certs.client.cert);
    expect((await call(creds, 'after')).meta?.tag).toBe('after');
  });

  it('names the missing ca.crt and suggests --insecure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-tls-missing-'));
    copyFileSync(join(certs.serverDir, 'tls.crt'), join(dir, 'tls.crt'));
    copyFileSync(join(certs.serverDir, 'tls.key'), join(dir, 'tls.key'));
    const err = await startFunctionServer(options(dir)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain(join(dir, 'ca.crt'));
    expect(err?.message).toContain('does not exist');
    expect(err?.message).toContain('--insecure');
  });

  it('names ca.crt when it holds no PEM certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-tls-badca-'));
    copyFileSync(join(certs.serverDir, 'tls.crt'), join(dir, 'tls.crt'));
    copyFileSync(join(certs.serverDir, 'tls.key'), join(dir, 'tls.key'));
    writeFileSync(join(dir, 'ca.crt'), 'not a certificate\n');
    await expect(startFunctionServer(options(dir))).rejects.toThrow(
      `loading TLS server certificates from ${dir}: ca.crt must be PEM: ${join(dir, 'ca.crt')} holds no PEM certificate`,
    );
  });

  it('explains a key that does not match the certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-tls-mismatch-'));
    copyFileSync(join(certs.serverDir, 'tls.crt'), join(dir, 'tls.crt'));
    writeFileSync(join(dir, 'tls.key'), certs.client.key);
    copyFileSync(join(certs.serverDir, 'ca.crt'), join(dir, 'ca.crt'));
    await expect(startFunctionServer(options(dir))).rejects.toThrow(new RegExp(`loading TLS server certificates from ${dir}: .*tls.key must match tls.crt`));
  });
});
