// Real certificates from the real openssl CLI, so the mTLS tests exercise the
// same PEM handling and chain verification that production certs go through.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

export interface TestCerts {
  dir: string;
  /** Directory laid out like the secret Crossplane mounts: tls.crt, tls.key, ca.crt. */
  serverDir: string;
  ca: Buffer;
  client: Pem;
  /** An unrelated CA and a client cert it signed: must be refused. */
  otherCa: Buffer;
  otherClient: Pem;
}

function openssl(cwd: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`generating test certificates: openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(cwd: string, name: string): void {
  openssl(cwd, [
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(cwd: string, ca: string, name: string, cn: string, ext: string[]): void {
  openssl(cwd, ['req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(cwd, `${name}.ext`), `${ext.join('\n')}\n`);
  openssl(cwd, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

export function generateCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'fn-certs-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'ca', 'server', 'localhost', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  const clientExt = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
  makeLeaf(dir, 'ca', 'client', 'crossplane', clientExt);
  makeLeaf(dir, 'other-ca', 'other-client', 'crossplane', clientExt);

  const serverDir = join(dir, 'server');
  mkdirSync(serverDir);
  writeFileSync(join(serverDir, 'tls.crt'), readFileSync(join(dir, 'server.crt')));
  writeFileSync(join(serverDir, 'tls.key'), readFileSync(join(dir, 'server.key')));
  writeFileSync(join(serverDir, 'ca.crt'), readFileSync(join(dir, 'ca.crt')));

  const read = (f: string) => readFileSync(join(dir, f));
  return {
    dir,
    serverDir,
    ca: read('ca.crt'),
    client: { cert: read('client.crt'), key: read('client.key') },
    otherCa: read('other-ca.crt'),
    otherClient: { cert: read('other-client.crt'), key: read('other-client.key') },
  };
}
