// Certificates shaped byte for byte like the ones Crossplane v2.2.1 issues,
// so the mTLS tests meet the chain Crossplane really presents.
//
// What Crossplane does (internal/initializer/cert_generator.go and tls.go in
// github.com/crossplane/crossplane/v2@v2.2.1):
// - Every key is a fresh RSA 2048 key, written as PKCS#1 ("RSA PRIVATE KEY").
// - Every certificate (the root CA, Crossplane's client certificate and each
//   function's server certificate) has serial 2022, is valid from now for 10
//   years, is signed SHA256-with-RSA by the root CA, and has the same subject,
//   pkixName = C=Earth, ST=Earth, L=Earth, O=Crossplane, CN=Crossplane, so its
//   issuer equals its subject.
// - The root CA: IsCA, BasicConstraintsValid, KeyUsage CertSign|CRLSign,
//   DNSNames [crossplane-root-ca]. Go's x509.CreateCertificate adds a subject
//   key identifier to CA certificates (SHA-256 of the public key, first 20
//   bytes, since Go 1.25; Crossplane's go.mod says go 1.25).
// - The client certificate: BasicConstraintsValid, not a CA, KeyUsage
//   DigitalSignature|KeyEncipherment|DataEncipherment, ExtKeyUsage ClientAuth,
//   DNSNames ["<service account>.<namespace>"] (crossplane.crossplane-system).
// - A function's server certificate: the same with ExtKeyUsage ServerAuth and
//   DNSNames [svc, svc.ns, svc.ns.svc].
// - No certificate has an authority key identifier: Go copies the parent's
//   subject key identifier into the child only when the child's issuer differs
//   from its subject, and here they never differ. Leaves get no subject key
//   identifier either (Go adds one to CAs only).
// That is why OpenSSL (and so Node) takes the client certificate for a
// self-signed one (subject == issuer, no AKI to say otherwise) while Go, which
// checks the signature against the CA, accepts it.
//
// The openssl CLI cannot write these: it refuses C=Earth (countryName is at
// most two characters in its string table), which Go writes as a
// PrintableString without complaint. So the DER is built here, with the
// extensions in the order and criticality Go's buildCertExtensions emits, and
// signed by node:crypto (OpenSSL underneath). The tests check the result with
// the openssl CLI.
import { createHash, createPrivateKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';

// --- a minimal DER writer -------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(content.length), content]);
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const nul = (): Buffer => Buffer.from([0x05, 0x00]);
const printable = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'ascii'));

function int(n: number | bigint): Buffer {
  let hex = BigInt(n).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) chunk.unshift(0x80 | (x & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/** Go's encoding: UTCTime for 1950..2049, GeneralizedTime otherwise; whole seconds. */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

// --- Crossplane's certificate shapes --------------------------------------

const OID = {
  sha256WithRSA: '1.2.840.113549.1.1.11',
  country: '2.5.4.6',
  province: '2.5.4.8',
  locality: '2.5.4.7',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyId: '2.5.29.14',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** pkixName as Go's pkix.Name.ToRDNSequence writes it: C, ST, L, O, CN, one attribute per RDN. */
export const CROSSPLANE_SUBJECT = 'C=Earth, ST=Earth, L=Earth, O=Crossplane, CN=Crossplane';
function crossplaneName(): Buffer {
  const rdn = (type: string, value: string) => set(seq(oid(type), printable(value)));
  return seq(
    rdn(OID.country, 'Earth'),
    rdn(OID.province, 'Earth'),
    rdn(OID.locality, 'Earth'),
    rdn(OID.organization, 'Crossplane'),
    rdn(OID.commonName, 'Crossplane'),
  );
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // Go's pkix.Extension marks Critical `asn1:"optional"`: false is omitted.
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

// Go's x509.KeyUsage bits, written as a named BIT STRING with trailing zero bits dropped.
const KU = { digitalSignature: 0, keyEncipherment: 2, dataEncipherment: 3, certSign: 5, crlSign: 6 } as const;
function keyUsage(bits: number[]): Buffer {
  let byte = 0;
  for (const b of bits) byte |= 0x80 >> b;
  const highest = Math.max(...bits);
  return bitString(Buffer.from([byte]), 7 - highest);
}

export type Usage = 'ca' | 'client' | 'server';

export interface CertSpec {
  usage: Usage;
  /** Signer; omitted for a self-signed root (Crossplane's CA). */
  issuer?: { cert: Buffer; key: Buffer };
  notBefore?: Date;
  notAfter?: Date;
  dnsNames?: string[];
  /** Overrides the extended key usages Crossplane would set for `usage` ([] for none). */
  extKeyUsages?: string[];
}

export interface IssuedCert {
  /** PEM. */
  cert: Buffer;
  /** PEM, PKCS#1 like Crossplane's. */
  key: Buffer;
  x509: X509Certificate;
}

const DEFAULT_DNS: Record<Usage, string[]> = {
  ca: ['crossplane-root-ca'],
  client: ['crossplane.crossplane-system'],
  // Crossplane uses the function's Service names; the tests dial "localhost".
  server: ['localhost', 'function-lambda-canary.crossplane-system', 'function-lambda-canary.crossplane-system.svc'],
};

function pem(type: string, der: Buffer): Buffer {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return Buffer.from(`-----BEGIN ${type}-----\n${b64}-----END ${type}-----\n`);
}

/** Issues one certificate exactly as Crossplane's CertGenerator.Generate would for `usage`. */
export function crossplaneCert(spec: CertSpec): IssuedCert {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const now = new Date();
  const notBefore = spec.notBefore ?? now;
  const notAfter = spec.notAfter ?? new Date(new Date(now).setUTCFullYear(now.getUTCFullYear() + 10));

  const exts: Buffer[] = [];
  if (spec.usage === 'ca') {
    exts.push(extension(OID.keyUsage, true, keyUsage([KU.certSign, KU.crlSign])));
  } else {
    exts.push(extension(OID.keyUsage, true, keyUsage([KU.digitalSignature, KU.keyEncipherment, KU.dataEncipherment])));
  }
  const ekus = spec.extKeyUsages ?? (spec.usage === 'client' ? [OID.clientAuth] : spec.usage === 'server' ? [OID.serverAuth] : []);
  if (ekus.length > 0) exts.push(extension(OID.extKeyUsage, false, seq(...ekus.map(oid))));
  // basicConstraints{IsCA bool optional; MaxPathLen optional default -1}: CA:FALSE is an empty SEQUENCE.
  exts.push(extension(OID.basicConstraints, true, spec.usage === 'ca' ? seq(bool(true)) : seq()));
  if (spec.usage === 'ca') {
    // The subjectPublicKey BIT STRING's content for RSA is the PKCS#1 RSAPublicKey.
    const keyBytes = publicKey.export({ type: 'pkcs1', format: 'der' });
    exts.push(extension(OID.subjectKeyId, false, octets(createHash('sha256').update(keyBytes).digest().subarray(0, 20))));
  }
  const dns = spec.dnsNames ?? DEFAULT_DNS[spec.usage];
  exts.push(extension(OID.subjectAltName, false, seq(...dns.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))))));

  const algorithm = seq(oid(OID.sha256WithRSA), nul());
  const tbs = seq(
    explicit(0, int(2)),
    int(2022),
    algorithm,
    crossplaneName(), // issuer: the CA's subject, which is pkixName too
    seq(time(notBefore), time(notAfter)),
    crossplaneName(),
    spki,
    explicit(3, seq(...exts)),
  );
  const signer: KeyObject = spec.issuer ? createPrivateKey(spec.issuer.key) : privateKey;
  const der = seq(tbs, algorithm, bitString(sign('sha256', tbs, signer)));
  const cert = pem('CERTIFICATE', der);
  return {
    cert,
    key: Buffer.from(privateKey.export({ type: 'pkcs1', format: 'pem' })),
    x509: new X509Certificate(cert),
  };
}
