// Client certificate verification the way Go's crypto/x509 does it, for the
// certificates Crossplane presents.
//
// Why the function does this itself: `crossplane core init` issues every
// certificate (its root CA, the client certificate Crossplane calls functions
// with, the functions' server certificates) with the same subject as issuer
// (C=Earth, ST=Earth, L=Earth, O=Crossplane, CN=Crossplane) and without an
// authority key identifier. OpenSSL decides that a certificate is self-signed
// from its names (issuer == subject, and no AKI saying otherwise) before it
// looks for an issuer, so it reports Crossplane's client certificate as
// DEPTH_ZERO_SELF_SIGNED_CERT and a Node TLS server with rejectUnauthorized
// drops Crossplane. Go builds the chain by checking the leaf's signature
// against the CAs in the pool, so Crossplane (and every Go function) accepts
// the same chain. This module implements that check for the one-link chains
// Crossplane uses: a leaf signed directly by a CA from ca.crt.
import { X509Certificate } from 'node:crypto';

export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';

export type ClientCertVerdict = { ok: true } | { ok: false; reason: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Every certificate in a PEM bundle (ca.crt may hold several). Throws with
 * `file` in the message when the bundle holds none or one does not parse.
 */
export function parseCertificateBundle(pem: Buffer | string, file: string): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`${file}: certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

function validity(cert: X509Certificate, now: Date, what: string): string | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (Number.isNaN(from) || Number.isNaN(to)) return `${what} has an unreadable validity period`;
  if (now.getTime() < from) return `${what} is not valid before ${new Date(from).toISOString()}`;
  if (now.getTime() > to) return `${what} expired at ${new Date(to).toISOString()}`;
  return undefined;
}

/** Go's rule: no extended key usage means any; otherwise clientAuth or anyExtendedKeyUsage must be listed. */
function allowsClientAuth(cert: X509Certificate): boolean {
  // Node names the extended key usages `keyUsage`; undefined when the extension is absent.
  const ekus = cert.keyUsage as string[] | undefined;
  return ekus === undefined || ekus.includes(EKU_CLIENT_AUTH) || ekus.includes(EKU_ANY);
}

const oneLine = (name: string): string => name.replace(/\n/g, ', ');

function describeCa(ca: X509Certificate): string {
  return `${oneLine(ca.subject)} (serial ${ca.serialNumber})`;
}

/**
 * Whether `leaf` is a client certificate issued by one of `cas`: a CA
 * (basicConstraints CA:TRUE) whose subject is the leaf's issuer
 * (`checkIssued`, which also honours an AKI and the CA's keyUsage when
 * present) and whose public key verifies the leaf's signature, both valid at
 * `now`, and the leaf's extended key usages (if any) allow clientAuth, as
 * Go's x509.Certificate.Verify with KeyUsages [ClientAuth] decides. The
 * signature check is what tells two CAs with the same subject apart:
 * Crossplane's CAs all share one name.
 */
export function verifyClientCertificate(leaf: X509Certificate, cas: readonly X509Certificate[], now: Date): ClientCertVerdict {
  const leafInvalid = validity(leaf, now, 'the client certificate');
  if (leafInvalid !== undefined) return { ok: false, reason: leafInvalid };
  if (!allowsClientAuth(leaf)) {
    return {
      ok: false,
      reason: `the client certificate's extended key usages (${(leaf.keyUsage ?? []).join(', ')}) do not include clientAuth`,
    };
  }

  // Report how far the best candidate got: a CA that signed the leaf but has
  // expired says more than one that merely shares its name.
  let best = { stage: 0, reason: `no CA in ca.crt has the client certificate's issuer (${oneLine(leaf.issuer)}) as its subject` };
  const note = (stage: number, reason: string): void => {
    if (stage > best.stage) best = { stage, reason };
  };
  for (const ca of cas) {
    if (!ca.ca || !leaf.checkIssued(ca)) continue;
    if (!leaf.verify(ca.publicKey)) {
      note(1, `the client certificate's signature does not verify with any CA in ca.crt named like its issuer`);
      continue;
    }
    const caInvalid = validity(ca, now, `its CA ${describeCa(ca)}`);
    if (caInvalid !== undefined) {
      note(2, caInvalid);
      continue;
    }
    if (!allowsClientAuth(ca)) {
      note(3, `its CA ${describeCa(ca)} does not allow clientAuth in its extended key usages`);
      continue;
    }
    return { ok: true };
  }
  return { ok: false, reason: best.reason };
}
