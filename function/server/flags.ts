// Command line flags, kept compatible with crossplane/function-sdk-go so that
// the same Function/DeploymentRuntimeConfig args work for Go and TS functions.
import { parseArgs } from 'node:util';
import { splitHostPort } from './host-port.js';
import { DEFAULT_CACHE_TTL_MS, DEFAULT_DEADLINE_MS, DEFAULT_MAX_CONCURRENCY } from '../aws/cloudwatch.js';

export const DEFAULT_ADDRESS = '0.0.0.0:9443';
/** Prometheus /metrics, on function-sdk-go's port. */
export const DEFAULT_METRICS_ADDRESS = '0.0.0.0:8080';
export const DEFAULT_TLS_SERVER_CERTS_DIR = '/tls/server';
/** 4 MiB: the gRPC default, and what function-sdk-go uses. */
export const DEFAULT_MAX_RECV_MSG_SIZE = 4 * 1024 * 1024;
// grpc-js stores message limits in a signed 32-bit integer.
const MAX_MSG_SIZE_LIMIT = 2 ** 31 - 1;

export interface Flags {
  /** host:port (port 0 means "any free port") or unix:/path. */
  address: string;
  insecure: boolean;
  tlsServerCertsDir: string;
  debug: boolean;
  /** Largest RunFunctionRequest accepted, in bytes. */
  maxRecvMsgSize: number;
  /** host:port for the Prometheus /metrics endpoint; '' disables it. */
  metricsAddress: string;
  /** A frozen clock (RFC 3339), for rendering examples reproducibly; never in production. */
  now?: Date;
  /** The CloudWatch adapter's limits (function/aws/cloudwatch.ts). */
  cloudwatch: {
    /** How long one RunFunction call's measurements may take. */
    deadlineMs: number;
    /** CloudWatch calls in flight at once, across all XRs. */
    maxConcurrency: number;
    /** How long an answer is reused; 0 turns the cache off. */
    cacheTtlMs: number;
    /** Tests only: where CloudWatch calls go instead of AWS (moto). */
    endpointUrl?: string;
  };
  help: boolean;
}

/** A command line the function cannot run with; main prints it and exits 2. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

type FlagName =
  | 'address'
  | 'insecure'
  | 'tls-server-certs-dir'
  | 'tls-certs-dir'
  | 'debug'
  | 'max-recv-msg-size'
  | 'max-recv-message-size'
  | 'metrics-address'
  | 'now'
  | 'cloudwatch-deadline'
  | 'cloudwatch-max-concurrency'
  | 'cloudwatch-cache-ttl'
  | 'aws-endpoint-url'
  | 'help';

interface FlagSpec {
  kind: 'string' | 'bool';
  short?: string;
  description: string;
}

const SPECS: Record<FlagName, FlagSpec> = {
  address: { kind: 'string', description: `Address to listen on for gRPC connections (default ${DEFAULT_ADDRESS}).` },
  insecure: { kind: 'bool', description: 'Serve without mTLS. Only for local development.' },
  'tls-server-certs-dir': {
    kind: 'string',
    description: `Directory holding tls.crt, tls.key and ca.crt (env TLS_SERVER_CERTS_DIR, default ${DEFAULT_TLS_SERVER_CERTS_DIR}).`,
  },
  // function-sdk-go functions (function-template-go's main.go) spell it this way.
  'tls-certs-dir': { kind: 'string', description: 'The same as --tls-server-certs-dir: the spelling of functions written in Go.' },
  debug: { kind: 'bool', short: 'd', description: 'Emit debug logs, including one line per RunFunction call.' },
  'max-recv-msg-size': {
    kind: 'string',
    description: `Largest request accepted, in bytes (default ${DEFAULT_MAX_RECV_MSG_SIZE}).`,
  },
  // function-template-go's spelling, in MB (its default 4 is ours, 4 MiB).
  'max-recv-message-size': {
    kind: 'string',
    description: 'Largest request accepted, in MB (MiB), as functions written in Go take it; the same as --max-recv-msg-size=<MB × 1048576>.',
  },
  'metrics-address': {
    kind: 'string',
    description: `Address to serve Prometheus metrics on at /metrics (default ${DEFAULT_METRICS_ADDRESS}); empty disables them.`,
  },
  now: {
    kind: 'string',
    description: 'Freeze the clock at this RFC 3339 time, so rollout examples render the same every time. Development only.',
  },
  'cloudwatch-deadline': {
    kind: 'string',
    description: `How long one call's CloudWatch measurements may take, e.g. 3s or 1500ms (default ${DEFAULT_DEADLINE_MS / 1000}s); keep it well under Crossplane's per-call timeout.`,
  },
  'cloudwatch-max-concurrency': {
    kind: 'string',
    description: `CloudWatch calls in flight at once, across all XRs (default ${DEFAULT_MAX_CONCURRENCY}).`,
  },
  'cloudwatch-cache-ttl': {
    kind: 'string',
    description: `How long a CloudWatch answer is reused for the same query, e.g. 30s (default ${DEFAULT_CACHE_TTL_MS / 1000}s); 0 turns the cache off.`,
  },
  'aws-endpoint-url': {
    kind: 'string',
    description: 'TESTS ONLY: send CloudWatch calls to this URL (e.g. moto on http://127.0.0.1:5000) instead of AWS.',
  },
  help: { kind: 'bool', short: 'h', description: 'Show this help and exit.' },
};

const FLAG_NAMES = Object.keys(SPECS) as FlagName[];

/** node:util parseArgs's option table, from SPECS. */
const PARSE_OPTIONS = Object.fromEntries(
  FLAG_NAMES.map((n) => [n, { type: SPECS[n].kind === 'bool' ? 'boolean' : 'string', ...(SPECS[n].short ? { short: SPECS[n].short } : {}) }]),
) as Record<string, { type: 'boolean' | 'string'; short?: string }>;

function validFlagsList(): string {
  return FLAG_NAMES.map((n) => `--${n}`).join(', ');
}

function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(SPECS, name);
}

function parseBool(flag: string, value: string): boolean {
  // The same spellings Go's strconv.ParseBool accepts, so `--insecure=1` keeps working.
  if (['true', 't', '1', 'TRUE', 'True', 'T'].includes(value)) return true;
  if (['false', 'f', '0', 'FALSE', 'False', 'F'].includes(value)) return false;
  throw new FlagError(`parsing flag --${flag}: "${value}" is not a boolean (use true or false)`);
}

function parseSize(value: string): number {
  if (!/^\d+$/.test(value)) {
    throw new FlagError(`parsing flag --max-recv-msg-size: "${value}" is not a whole number of bytes (e.g. ${DEFAULT_MAX_RECV_MSG_SIZE} for 4 MiB)`);
  }
  const n = Number(value);
  if (n < 1 || n > MAX_MSG_SIZE_LIMIT) {
    throw new FlagError(`parsing flag --max-recv-msg-size: ${value} is out of range (1 to ${MAX_MSG_SIZE_LIMIT} bytes)`);
  }
  return n;
}

const MIB = 1024 * 1024;

function parseSizeMiB(value: string): number {
  const max = Math.floor(MAX_MSG_SIZE_LIMIT / MIB);
  if (!/^\d+$/.test(value)) {
    throw new FlagError(`parsing flag --max-recv-message-size: "${value}" is not a whole number of MB (e.g. 4; --max-recv-msg-size takes bytes)`);
  }
  const n = Number(value);
  if (n < 1 || n > max) {
    throw new FlagError(`parsing flag --max-recv-message-size: ${value} is out of range (1 to ${max} MB; --max-recv-msg-size takes bytes)`);
  }
  return n * MIB;
}

/** The directory from --tls-server-certs-dir or Go's --tls-certs-dir (which must agree), else TLS_SERVER_CERTS_DIR, else the default. */
function tlsCertsDir(ours: string | undefined, go: string | undefined, envDir: string | undefined): string {
  if (ours === '') throw new FlagError('parsing flag --tls-server-certs-dir: the directory must not be empty');
  if (go === '') throw new FlagError('parsing flag --tls-certs-dir: the directory must not be empty');
  if (ours !== undefined && go !== undefined && ours !== go) {
    throw new FlagError(
      `parsing flags --tls-server-certs-dir and --tls-certs-dir: they name different directories ("${ours}" and "${go}"); they are two spellings of one flag, give one of them`,
    );
  }
  return ours ?? go ?? (envDir !== undefined && envDir !== '' ? envDir : DEFAULT_TLS_SERVER_CERTS_DIR);
}

/** Bytes from --max-recv-msg-size or Go's --max-recv-message-size in MB (which must agree), else the default. */
function maxRecvMsgSize(bytes: string | undefined, mib: string | undefined): number {
  const fromBytes = bytes === undefined ? undefined : parseSize(bytes);
  const fromMiB = mib === undefined ? undefined : parseSizeMiB(mib);
  if (fromBytes !== undefined && fromMiB !== undefined && fromBytes !== fromMiB) {
    throw new FlagError(
      `parsing flags --max-recv-msg-size and --max-recv-message-size: they disagree (${fromBytes} bytes, and ${mib} MB = ${fromMiB} bytes); they are two spellings of one limit, give one of them`,
    );
  }
  return fromBytes ?? fromMiB ?? DEFAULT_MAX_RECV_MSG_SIZE;
}

function parseTime(value: string): Date {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t)) {
    throw new FlagError(`parsing flag --now: "${value}" is not an RFC 3339 time (e.g. 2026-11-26T10:00:00Z)`);
  }
  return new Date(t);
}

/** A duration as Go spells the common ones: 1500ms, 3s, 1m (or a combination such as 1m30s). */
export function parseDurationMs(flag: string, value: string): number {
  const m = /^(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(value);
  if (value === '0') return 0;
  if (m === null || value === '') {
    throw new FlagError(`parsing flag --${flag}: "${value}" is not a duration (e.g. 3s, 1500ms or 1m)`);
  }
  return Math.round(Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1_000 + Number(m[3] ?? 0));
}

function cloudwatchFlags(raw: Partial<Record<FlagName, string | boolean>>): Flags['cloudwatch'] {
  const str = (name: FlagName): string | undefined => (typeof raw[name] === 'string' ? raw[name] : undefined);
  const deadline = str('cloudwatch-deadline');
  const deadlineMs = deadline === undefined ? DEFAULT_DEADLINE_MS : parseDurationMs('cloudwatch-deadline', deadline);
  if (deadlineMs < 1 || deadlineMs > 60_000) {
    throw new FlagError(`parsing flag --cloudwatch-deadline: ${deadline} is out of range (1ms to 60s; Crossplane's own per-call timeout is the real ceiling)`);
  }
  const concurrency = str('cloudwatch-max-concurrency');
  const maxConcurrency = concurrency === undefined ? DEFAULT_MAX_CONCURRENCY : Number(concurrency);
  if (concurrency !== undefined && (!/^\d+$/.test(concurrency) || maxConcurrency < 1 || maxConcurrency > 1000)) {
    throw new FlagError(`parsing flag --cloudwatch-max-concurrency: "${concurrency}" is not a whole number from 1 to 1000`);
  }
  const ttl = str('cloudwatch-cache-ttl');
  const cacheTtlMs = ttl === undefined ? DEFAULT_CACHE_TTL_MS : parseDurationMs('cloudwatch-cache-ttl', ttl);
  const endpoint = str('aws-endpoint-url');
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    throw new FlagError(`parsing flag --aws-endpoint-url: "${endpoint}" is not an http(s) URL (e.g. http://127.0.0.1:5000); it is for tests only`);
  }
  return { deadlineMs, maxConcurrency, cacheTtlMs, ...(endpoint !== undefined ? { endpointUrl: endpoint } : {}) };
}

function parseAddress(value: string): string {
  if (value.startsWith('unix:')) {
    if (value.length === 'unix:'.length) throw new FlagError('parsing flag --address: "unix:" needs a socket path');
    return value;
  }
  if (!splitHostPort(value)) {
    throw new FlagError(`parsing flag --address: "${value}" is not host:port (e.g. ${DEFAULT_ADDRESS}, 127.0.0.1:0 or unix:/path/to.sock)`);
  }
  // Go accepts ":9443" to mean every interface; grpc-js does not, so translate it.
  return value.startsWith(':') ? `0.0.0.0${value}` : value;
}

function parseMetricsAddress(value: string): string {
  if (value === '') return '';
  if (!splitHostPort(value)) {
    throw new FlagError(
      `parsing flag --metrics-address: "${value}" is not host:port (e.g. ${DEFAULT_METRICS_ADDRESS} or 127.0.0.1:0); use --metrics-address= to disable metrics`,
    );
  }
  return value.startsWith(':') ? `0.0.0.0${value}` : value;
}

/**
 * The command line as flag name → its last value (strings as given, booleans
 * already parsed), with this function's errors rather than parseArgs's: every
 * one names the flag and what to do.
 */
function readCommandLine(argv: readonly string[]): Partial<Record<FlagName, string | boolean>> {
  for (const arg of argv) {
    // "-insecure" or "-d=true": parseArgs would read a group of short flags; Go reads one long flag.
    if (/^-[^-]./.test(arg)) {
      throw new FlagError(`parsing command line: unexpected argument "${arg}"; this function takes only flags (${validFlagsList()})`);
    }
  }
  // Not strict: unknown flags, a missing value and inline boolean values come
  // back as tokens, so that the errors below can say what to do.
  const { tokens } = parseArgs({ args: [...argv], options: PARSE_OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const raw: Partial<Record<FlagName, string | boolean>> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') {
      const arg = token.kind === 'positional' ? token.value : '--';
      throw new FlagError(`parsing command line: unexpected argument "${arg}"; this function takes only flags (${validFlagsList()})`);
    }
    const name = token.name;
    if (!isFlagName(name)) {
      throw new FlagError(`parsing command line: unknown flag ${token.rawName}; valid flags are ${validFlagsList()}`);
    }
    if (SPECS[name].kind === 'bool') {
      raw[name] = token.value === undefined ? true : parseBool(name, token.value);
      continue;
    }
    // A following flag is almost certainly a forgotten value, not a value that starts with "--".
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
      throw new FlagError(`parsing flag --${name}: missing value (use --${name}=<value> or --${name} <value>)`);
    }
    raw[name] = token.value; // the last occurrence wins, like Go
  }
  return raw;
}

/**
 * Parses the function's command line. Pure: reads only its arguments, so it
 * is unit-testable without touching process state.
 *
 * @param argv arguments after the script path (process.argv.slice(2))
 * @param env environment, for TLS_SERVER_CERTS_DIR (read by both spellings of the flag, as Go functions do)
 * @throws FlagError for unknown flags, missing or malformed values
 */
export function parseFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Flags {
  const raw = readCommandLine(argv);

  const str = (name: FlagName): string | undefined => (typeof raw[name] === 'string' ? raw[name] : undefined);
  const tlsServerCertsDir = tlsCertsDir(str('tls-server-certs-dir'), str('tls-certs-dir'), env['TLS_SERVER_CERTS_DIR']);
  return {
    address: parseAddress(str('address') ?? DEFAULT_ADDRESS),
    insecure: (raw.insecure as boolean | undefined) ?? false,
    tlsServerCertsDir,
    debug: (raw.debug as boolean | undefined) ?? false,
    maxRecvMsgSize: maxRecvMsgSize(str('max-recv-msg-size'), str('max-recv-message-size')),
    metricsAddress: parseMetricsAddress((raw['metrics-address'] as string | undefined) ?? DEFAULT_METRICS_ADDRESS),
    ...(typeof raw.now === 'string' ? { now: parseTime(raw.now) } : {}),
    cloudwatch: cloudwatchFlags(raw),
    help: (raw.help as boolean | undefined) ?? false,
  };
}

/** Usage text for --help, generated from the same table the parser uses. */
export function helpText(program = 'function-lambda-canary'): string {
  const lines = FLAG_NAMES.map((n) => {
    const spec = SPECS[n];
    const short = spec.short ? `-${spec.short}, ` : '    ';
    const value = spec.kind === 'string' ? '=<value>' : '';
    const head = `${short}--${n}${value}`;
    // A name longer than the column still gets a gap before its description.
    return `  ${head.length >= 36 ? `${head}  ` : head.padEnd(36)}${spec.description}`;
  });
  return [`Usage: ${program} [flags]`, '', 'Crossplane composition function: canary deployments of AWS Lambda via ACK.', '', 'Flags:', ...lines, ''].join('\n');
}
