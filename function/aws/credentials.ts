// AWS credentials from a RunFunctionRequest. Crossplane fills
// RunFunctionRequest.credentials when the pipeline step names them:
//
//   - step: lambda-canary
//     functionRef: { name: function-lambda-canary }
//     credentials:
//       - name: aws
//         source: Secret
//         secretRef: { namespace: crossplane-system, name: lambda-canary-aws }
//
// The Secret holds either the three keys of the AWS CLI's credentials file
// as keys of their own (aws_access_key_id, aws_secret_access_key and,
// optionally, aws_session_token), or one key `credentials` holding such a
// file with a [default] profile: the Secret provider-aws's ProviderConfig
// reads, so the same Secret can serve both. Pure: no I/O.

/** The credential name the function reads from the request. */
export const AWS_CREDENTIALS_NAME = 'aws';
export const ACCESS_KEY_ID = 'aws_access_key_id';
export const SECRET_ACCESS_KEY = 'aws_secret_access_key';
export const SESSION_TOKEN = 'aws_session_token';
/** The key provider-aws's Secret uses: an AWS CLI credentials file. */
export const CREDENTIALS_FILE = 'credentials';

/** The request's credentials map, as the function SDK decodes it (structurally: this layer imports no SDK). */
export type RequestCredentials = Readonly<Record<string, { credentialData?: { data: Readonly<Record<string, Uint8Array>> } | undefined } | undefined>>;

export type CredentialsChoice =
  /** No credential named "aws": the SDK's default chain (IRSA, EKS Pod Identity, environment). */
  | { kind: 'default' }
  | { kind: 'static'; credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } }
  /** The credential is there but unusable: the message names it and the keys it needs. */
  | { kind: 'invalid'; message: string };

const EXPECTED =
  `keys ${ACCESS_KEY_ID} and ${SECRET_ACCESS_KEY} (and optionally ${SESSION_TOKEN}), ` +
  `or a key ${CREDENTIALS_FILE} holding an AWS credentials file with a [default] profile`;

function text(data: Readonly<Record<string, Uint8Array>>, key: string): string | undefined {
  const v = Object.hasOwn(data, key) ? data[key] : undefined;
  if (v === undefined) return undefined;
  const s = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8').trim();
  return s === '' ? undefined : s;
}

/** The [default] profile of an AWS credentials (INI) file: key = value lines, # and ; comments. */
export function parseCredentialsFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  let section: string | undefined;
  for (const raw of file.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([^\]]*?)\s*\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (section !== 'default') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Which AWS credentials this request's CloudWatch calls use. */
export function awsCredentialsFrom(credentials: RequestCredentials | undefined, name = AWS_CREDENTIALS_NAME): CredentialsChoice {
  const entry = credentials !== undefined && Object.hasOwn(credentials, name) ? credentials[name] : undefined;
  if (entry === undefined) return { kind: 'default' };
  const where = `reading AWS credentials from the pipeline step's credential "${name}"`;
  const data = entry.credentialData?.data;
  if (data === undefined) {
    return {
      kind: 'invalid',
      message: `${where}: it carries no credential data (source: Secret is the only source this function reads); it needs ${EXPECTED}`,
    };
  }
  let fields: Record<string, string | undefined> = {
    [ACCESS_KEY_ID]: text(data, ACCESS_KEY_ID),
    [SECRET_ACCESS_KEY]: text(data, SECRET_ACCESS_KEY),
    [SESSION_TOKEN]: text(data, SESSION_TOKEN),
  };
  let from = 'the Secret';
  if (fields[ACCESS_KEY_ID] === undefined && fields[SECRET_ACCESS_KEY] === undefined) {
    const file = text(data, CREDENTIALS_FILE);
    if (file !== undefined) {
      fields = parseCredentialsFile(file);
      from = `the [default] profile of the Secret's key ${CREDENTIALS_FILE}`;
    }
  }
  const accessKeyId = fields[ACCESS_KEY_ID];
  const secretAccessKey = fields[SECRET_ACCESS_KEY];
  const missing = [
    accessKeyId === undefined || accessKeyId === '' ? ACCESS_KEY_ID : undefined,
    secretAccessKey === undefined || secretAccessKey === '' ? SECRET_ACCESS_KEY : undefined,
  ].filter((k) => k !== undefined);
  if (missing.length > 0 || accessKeyId === undefined || secretAccessKey === undefined) {
    const present = Object.keys(data).sort();
    return {
      kind: 'invalid',
      message: `${where}: ${from} lacks ${missing.join(' and ')} (keys present: ${present.length > 0 ? present.join(', ') : 'none'}); it needs ${EXPECTED}`,
    };
  }
  const sessionToken = fields[SESSION_TOKEN];
  return { kind: 'static', credentials: { accessKeyId, secretAccessKey, ...(sessionToken !== undefined && sessionToken !== '' ? { sessionToken } : {}) } };
}
