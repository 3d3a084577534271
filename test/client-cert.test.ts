import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseCertificateBundle, verifyClientCertificate } from '../function/server/client-cert.js';
import { generateCerts, type TestCerts } from './support/certs.js';
import { CROSSPLANE_SUBJECT, crossplaneCert, type IssuedCert } from './support/crossplane-certs.js';

const DAY = 24 * 3600 * 1000;
const now = new Date();
const ago = (days: number) => new Date(now.getTime() - days * DAY);

let ca: IssuedCert;
let client: IssuedCert;
let conventional: TestCerts;

beforeAll(() => {
  ca = crossplaneCert({ usage: 'ca' });
  client = crossplaneCert({ usage: 'client', issuer: ca });
  conventional = generateCerts();
});

const x509 = (pem: Buffer) => new X509Certificate(pem);

function openssl(args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, out: `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` };
  }
}

describe('Crossplane-shaped test certificates', () => {
  it('look like crossplane core init issues them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fn-xp-certs-'));
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'client.crt'), client.cert);
    const text = openssl(['x509', '-in', join(dir, 'client.crt'), '-noout', '-text']).out;
    expect(text).toContain('Issuer: C = Earth, ST = Earth, L = Earth, O = Crossplane, CN = Crossplane');
    expect(text).toContain('Subject: C = Earth, ST = Earth, L = Earth, O = Crossplane, CN = Crossplane');
    expect(text).toContain('Serial Number: 2022');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment, Data Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/DNS:crossplane\.crossplane-system/);
    expect(text).not.toContain('Authority Key Identifier');
    expect(text).not.toContain('Subject Key Identifier');
    expect(client.key.toString()).toContain('BEGIN RSA PRIVATE KEY');
    expect(client.x509.subject.replace(/\n/g, ', ')).toBe(CROSSPLANE_SUBJECT);

    const caText = openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text']).out;
    expect(caText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toContain('Subject Key Identifier');
    expect(caText).not.toContain('Authority Key Identifier');

    // The defect itself: OpenSSL takes the client certificate for a self-signed one.
    const verify = openssl(['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'client.crt')]);
    expect(verify.ok).toBe(false);
    expect(verify.out).toContain('self-signed certificate');
  });
});

describe('verifyClientCertificate', () => {
  it("accepts Crossplane's client certificate, signed by its same-named CA", () => {
    expect(verifyClientCertificate(client.x509, [ca.x509], new Date())).toEqual({ ok: true });
  });

  it('accepts a conventional chain too', () => {
    expect(verifyClientCertificate(x509(conventional.client.cert), [x509(conventional.ca)], new Date())).toEqual({ ok: true });
  });

  it('finds the signing CA anywhere in a bundle', () => {
    const bundle = Buffer.concat([conventional.ca, crossplaneCert({ usage: 'ca' }).cert, ca.cert]);
    const cas = parseCertificateBundle(bundle, '/tls/ca.crt');
    expect(cas).toHaveLength(3);
    expect(verifyClientCertificate(client.x509, cas, new Date())).toEqual({ ok: true });
  });

  it('refuses a certificate signed by another CA with the very same subject', () => {
    const other = crossplaneCert({ usage: 'ca' });
    const stranger = crossplaneCert({ usage: 'client', issuer: other });
    expect(stranger.x509.subject).toBe(client.x509.subject);
    expect(stranger.x509.checkIssued(ca.x509)).toBe(true); // names alone cannot tell them apart
    expect(verifyClientCertificate(stranger.x509, [ca.x509], new Date())).toEqual({
      ok: false,
      reason: expect.stringMatching(/signature does not verify with any CA in ca.crt/),
    });
  });

  it('refuses a self-signed certificate that is not in ca.crt', () => {
    const self = crossplaneCert({ usage: 'client' });
    expect(verifyClientCertificate(self.x509, [ca.x509], new Date())).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/signature does not verify/),
    });
  });

  it('refuses a certificate whose issuer names no CA in ca.crt', () => {
    expect(verifyClientCertificate(x509(conventional.otherClient.cert), [ca.x509, x509(conventional.ca)], new Date())).toEqual({
      ok: false,
      reason: expect.stringMatching(/no CA in ca.crt has the client certificate's issuer \(CN=other-ca test CA\)/),
    });
  });

  it('refuses an expired certificate', () => {
    const old = crossplaneCert({ usage: 'client', issuer: ca, notBefore: ago(20), notAfter: ago(10) });
    expect(verifyClientCertificate(old.x509, [ca.x509], new Date())).toEqual({
      ok: false,
      reason: expect.stringMatching(/^the client certificate expired at \d{4}-/),
    });
  });

  it('refuses a certificate not valid yet', () => {
    const early = crossplaneCert({ usage: 'client', issuer: ca, notBefore: ago(-2), notAfter: ago(-10) });
    expect(verifyClientCertificate(early.x509, [ca.x509], new Date())).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^the client certificate is not valid before/),
    });
  });

  it('refuses a certificate whose CA has expired', () => {
    const oldCa = crossplaneCert({ usage: 'ca', notBefore: ago(20), notAfter: ago(10) });
    const leaf = crossplaneCert({ usage: 'client', issuer: oldCa });
    expect(verifyClientCertificate(leaf.x509, [oldCa.x509], new Date())).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^its CA C=Earth, .*CN=Crossplane \(serial 07E6\) expired at/),
    });
  });

  it('refuses a server-only certificate (extended key usage serverAuth)', () => {
    const server = crossplaneCert({ usage: 'server', issuer: ca });
    expect(verifyClientCertificate(server.x509, [ca.x509], new Date())).toEqual({
      ok: false,
      reason: "the client certificate's extended key usages (1.3.6.1.5.5.7.3.1) do not include clientAuth",
    });
  });

  it('accepts no extended key usage or anyExtendedKeyUsage, as Go does', () => {
    const none = crossplaneCert({ usage: 'client', issuer: ca, extKeyUsages: [] });
    const any = crossplaneCert({ usage: 'client', issuer: ca, extKeyUsages: ['2.5.29.37.0'] });
    expect(none.x509.keyUsage).toBeUndefined();
    expect(verifyClientCertificate(none.x509, [ca.x509], new Date())).toEqual({ ok: true });
    expect(verifyClientCertificate(any.x509, [ca.x509], new Date())).toEqual({ ok: true });
  });

  it('does not take a non-CA certificate in ca.crt as an issuer', () => {
    // Signed with the key of a leaf that ca.crt holds: the leaf is no CA.
    const leafAsCa = crossplaneCert({ usage: 'server', issuer: ca });
    const signedByLeaf = crossplaneCert({ usage: 'client', issuer: leafAsCa });
    expect(verifyClientCertificate(signedByLeaf.x509, [leafAsCa.x509], new Date())).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^no CA in ca.crt/),
    });
  });
});

describe('parseCertificateBundle', () => {
  it('names the file when it holds no certificate or a broken one', () => {
    expect(() => parseCertificateBundle(Buffer.from('not a pem'), '/tls/ca.crt')).toThrow('/tls/ca.crt holds no PEM certificate');
    const broken = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(() => parseCertificateBundle(Buffer.concat([ca.cert, broken]), '/tls/ca.crt')).toThrow(/^\/tls\/ca.crt: certificate 2 does not parse/);
  });
});
