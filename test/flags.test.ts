import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ADDRESS,
  DEFAULT_MAX_RECV_MSG_SIZE,
  DEFAULT_METRICS_ADDRESS,
  DEFAULT_TLS_SERVER_CERTS_DIR,
  FlagError,
  helpText,
  parseFlags,
} from '../function/server/flags.js';

describe('parseFlags: the CloudWatch adapter', () => {
  it('reads the deadline, concurrency, cache TTL and the test-only endpoint', () => {
    expect(
      parseFlags([
        '--cloudwatch-deadline=1500ms',
        '--cloudwatch-max-concurrency',
        '8',
        '--cloudwatch-cache-ttl=1m30s',
        '--aws-endpoint-url=http://127.0.0.1:5000',
      ]).cloudwatch,
    ).toEqual({ deadlineMs: 1500, maxConcurrency: 8, cacheTtlMs: 90_000, endpointUrl: 'http://127.0.0.1:5000' });
    expect(parseFlags(['--cloudwatch-deadline=2s', '--cloudwatch-cache-ttl=0']).cloudwatch).toMatchObject({ deadlineMs: 2000, cacheTtlMs: 0 });
  });

  it('refuses malformed values, naming the flag', () => {
    expect(() => parseFlags(['--cloudwatch-deadline=3'])).toThrow(/--cloudwatch-deadline: "3" is not a duration/);
    expect(() => parseFlags(['--cloudwatch-deadline=0s'])).toThrow(/--cloudwatch-deadline: 0s is out of range/);
    expect(() => parseFlags(['--cloudwatch-max-concurrency=0'])).toThrow(/--cloudwatch-max-concurrency: "0" is not a whole number/);
    expect(() => parseFlags(['--cloudwatch-cache-ttl=soon'])).toThrow(/--cloudwatch-cache-ttl: "soon" is not a duration/);
    expect(() => parseFlags(['--aws-endpoint-url=127.0.0.1:5000'])).toThrow(/--aws-endpoint-url: .* for tests only/);
  });
});

describe('parseFlags', () => {
  it('defaults match function-sdk-go', () => {
    expect(parseFlags([], {})).toEqual({
      address: '0.0.0.0:9443',
      insecure: false,
      tlsServerCertsDir: '/tls/server',
      debug: false,
      maxRecvMsgSize: 4194304,
      metricsAddress: '0.0.0.0:8080',
      cloudwatch: { deadlineMs: 3000, maxConcurrency: 4, cacheTtlMs: 30000 },
      help: false,
    });
    expect(DEFAULT_ADDRESS).toBe('0.0.0.0:9443');
    expect(DEFAULT_TLS_SERVER_CERTS_DIR).toBe('/tls/server');
    expect(DEFAULT_MAX_RECV_MSG_SIZE).toBe(4 * 1024 * 1024);
    expect(DEFAULT_METRICS_ADDRESS).toBe('0.0.0.0:8080');
  });

  it('accepts space-separated and --flag=value forms', () => {
    const spaced = parseFlags(['--address', '127.0.0.1:7000', '--insecure', '--tls-server-certs-dir', '/certs', '--debug', '--max-recv-msg-size', '1024'], {});
    const inline = parseFlags(['--address=127.0.0.1:7000', '--insecure=true', '--tls-server-certs-dir=/certs', '--debug=true', '--max-recv-msg-size=1024'], {});
    const expected = {
      address: '127.0.0.1:7000',
      insecure: true,
      tlsServerCertsDir: '/certs',
      debug: true,
      maxRecvMsgSize: 1024,
      metricsAddress: '0.0.0.0:8080',
      cloudwatch: { deadlineMs: 3000, maxConcurrency: 4, cacheTtlMs: 30000 },
      help: false,
    };
    expect(spaced).toEqual(expected);
    expect(inline).toEqual(expected);
  });

  it('reads TLS_SERVER_CERTS_DIR from the environment, and the flag wins over it', () => {
    expect(parseFlags([], { TLS_SERVER_CERTS_DIR: '/from/env' }).tlsServerCertsDir).toBe('/from/env');
    expect(parseFlags([], { TLS_SERVER_CERTS_DIR: '' }).tlsServerCertsDir).toBe('/tls/server');
    expect(parseFlags(['--tls-server-certs-dir', '/from/flag'], { TLS_SERVER_CERTS_DIR: '/from/env' }).tlsServerCertsDir).toBe('/from/flag');
  });

  it('parses booleans like Go, including explicit false', () => {
    expect(parseFlags(['--insecure=false'], {}).insecure).toBe(false);
    expect(parseFlags(['--insecure=1'], {}).insecure).toBe(true);
    expect(parseFlags(['-d'], {}).debug).toBe(true);
    expect(() => parseFlags(['--debug=yes'], {})).toThrow(/--debug: "yes" is not a boolean/);
  });

  it('recognises --help and -h', () => {
    expect(parseFlags(['--help'], {}).help).toBe(true);
    expect(parseFlags(['-h'], {}).help).toBe(true);
    expect(helpText('fn')).toMatch(/Usage: fn \[flags\]/);
    for (const f of ['--address', '--insecure', '--tls-server-certs-dir', '--debug', '--max-recv-msg-size', '--metrics-address', '--help']) {
      expect(helpText()).toContain(f);
    }
  });

  it('translates Go-style ":port" and keeps port 0 and unix sockets', () => {
    expect(parseFlags(['--address', ':9443'], {}).address).toBe('0.0.0.0:9443');
    expect(parseFlags(['--address', '127.0.0.1:0'], {}).address).toBe('127.0.0.1:0');
    expect(parseFlags(['--address', '[::]:9443'], {}).address).toBe('[::]:9443');
    expect(parseFlags(['--address', 'unix:/tmp/fn.sock'], {}).address).toBe('unix:/tmp/fn.sock');
  });

  it('rejects an unknown flag, naming it and listing the valid ones', () => {
    let err: unknown;
    try {
      parseFlags(['--insecure', '--adress', 'x'], {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlagError);
    const msg = (err as Error).message;
    expect(msg).toContain('--adress');
    for (const f of ['--address', '--insecure', '--tls-server-certs-dir', '--debug', '--max-recv-msg-size', '--help']) {
      expect(msg).toContain(f);
    }
    expect(() => parseFlags(['-x'], {})).toThrow(/unknown flag -x/);
  });

  it('rejects positional arguments and single-dash long flags', () => {
    expect(() => parseFlags(['serve'], {})).toThrow(FlagError);
    expect(() => parseFlags(['-insecure'], {})).toThrow(/unexpected argument "-insecure"/);
  });

  it('rejects a value flag without a value', () => {
    expect(() => parseFlags(['--address'], {})).toThrow(/--address: missing value/);
    expect(() => parseFlags(['--address', '--insecure'], {})).toThrow(/--address: missing value/);
    expect(() => parseFlags(['--tls-server-certs-dir='], {})).toThrow(/--tls-server-certs-dir/);
  });

  it('rejects malformed addresses', () => {
    expect(() => parseFlags(['--address', 'localhost'], {})).toThrow(/--address: "localhost" is not host:port/);
    expect(() => parseFlags(['--address', 'h:99999'], {})).toThrow(FlagError);
    expect(() => parseFlags(['--address='], {})).toThrow(FlagError);
  });

  it('accepts plain bytes for --max-recv-msg-size and rejects anything else', () => {
    expect(parseFlags(['--max-recv-msg-size', '8388608'], {}).maxRecvMsgSize).toBe(8388608);
    for (const bad of ['4MiB', '-1', '0', '1.5', '', '4294967296']) {
      expect(() => parseFlags([`--max-recv-msg-size=${bad}`], {}), bad).toThrow(/--max-recv-msg-size/);
    }
  });

  it('lets the last occurrence of a flag win, like Go', () => {
    expect(parseFlags(['--address=127.0.0.1:1', '--address=127.0.0.1:2'], {}).address).toBe('127.0.0.1:2');
  });

  it('does not read process.env implicitly', () => {
    const before = process.env['TLS_SERVER_CERTS_DIR'];
    process.env['TLS_SERVER_CERTS_DIR'] = '/should/not/be/used';
    try {
      expect(parseFlags([]).tlsServerCertsDir).toBe('/tls/server');
    } finally {
      if (before === undefined) delete process.env['TLS_SERVER_CERTS_DIR'];
      else process.env['TLS_SERVER_CERTS_DIR'] = before;
    }
  });

  it('serves metrics on --metrics-address, and an empty value disables them', () => {
    expect(parseFlags(['--metrics-address', '127.0.0.1:9090'], {}).metricsAddress).toBe('127.0.0.1:9090');
    expect(parseFlags(['--metrics-address=127.0.0.1:0'], {}).metricsAddress).toBe('127.0.0.1:0');
    expect(parseFlags(['--metrics-address', ':8080'], {}).metricsAddress).toBe('0.0.0.0:8080');
    expect(parseFlags(['--metrics-address', '[::]:8080'], {}).metricsAddress).toBe('[::]:8080');
    expect(parseFlags(['--metrics-address='], {}).metricsAddress).toBe('');
    expect(parseFlags(['--metrics-address', ''], {}).metricsAddress).toBe('');
    expect(parseFlags(['--metrics-address='], {}).address).toBe('0.0.0.0:9443');
  });

  it('rejects a malformed or missing --metrics-address', () => {
    for (const bad of ['localhost', 'h:99999', 'unix:/tmp/metrics.sock']) {
      expect(() => parseFlags([`--metrics-address=${bad}`], {}), bad).toThrow(/--metrics-address: ".*" is not host:port.*--metrics-address= to disable/);
    }
    expect(() => parseFlags(['--metrics-address'], {})).toThrow(/--metrics-address: missing value/);
    expect(() => parseFlags(['--metrics-address', '--insecure'], {})).toThrow(/--metrics-address: missing value/);
  });

  describe("function-sdk-go's spellings (so a DeploymentRuntimeConfig written for Go functions works)", () => {
    it('takes --tls-certs-dir for --tls-server-certs-dir, in both forms, and over TLS_SERVER_CERTS_DIR', () => {
      expect(parseFlags(['--tls-certs-dir', '/go/certs'], {}).tlsServerCertsDir).toBe('/go/certs');
      expect(parseFlags(['--tls-certs-dir=/go/certs'], { TLS_SERVER_CERTS_DIR: '/from/env' }).tlsServerCertsDir).toBe('/go/certs');
      expect(parseFlags(['--tls-certs-dir=/same', '--tls-server-certs-dir=/same'], {}).tlsServerCertsDir).toBe('/same');
      expect(() => parseFlags(['--tls-certs-dir='], {})).toThrow(/--tls-certs-dir: the directory must not be empty/);
      expect(() => parseFlags(['--tls-certs-dir'], {})).toThrow(/--tls-certs-dir: missing value/);
    });

    it('takes --max-recv-message-size in MB (MiB), as Go functions do', () => {
      expect(parseFlags(['--max-recv-message-size', '4'], {}).maxRecvMsgSize).toBe(DEFAULT_MAX_RECV_MSG_SIZE);
      expect(parseFlags(['--max-recv-message-size=16'], {}).maxRecvMsgSize).toBe(16 * 1024 * 1024);
      expect(parseFlags(['--max-recv-message-size=8', '--max-recv-msg-size=8388608'], {}).maxRecvMsgSize).toBe(8388608);
      for (const bad of ['4MB', '0', '-1', '1.5', '', '2048']) {
        expect(() => parseFlags([`--max-recv-message-size=${bad}`], {}), bad).toThrow(/--max-recv-message-size: .*MB/);
      }
    });

    it('refuses the two spellings with different values, naming both', () => {
      expect(() => parseFlags(['--tls-server-certs-dir=/a', '--tls-certs-dir=/b'], {})).toThrow(
        /--tls-server-certs-dir and --tls-certs-dir: they name different directories \("\/a" and "\/b"\).*give one of them/,
      );
      expect(() => parseFlags(['--max-recv-msg-size=4194304', '--max-recv-message-size=8'], {})).toThrow(
        /--max-recv-msg-size and --max-recv-message-size: they disagree \(4194304 bytes, and 8 MB = 8388608 bytes\).*give one of them/,
      );
    });

    it('lists them in --help and among the valid flags', () => {
      expect(helpText()).toContain('--tls-certs-dir');
      expect(helpText()).toContain('--max-recv-message-size');
      expect(() => parseFlags(['--tls-cert-dir=/x'], {})).toThrow(/valid flags are .*--tls-certs-dir.*--max-recv-message-size/);
    });
  });

  it('freezes the clock with --now for reproducible example renders, and rejects non-RFC 3339 times', () => {
    expect(parseFlags(['--now=2026-11-26T10:00:00Z'], {}).now?.toISOString()).toBe('2026-11-26T10:00:00.000Z');
    expect(parseFlags([], {}).now).toBeUndefined();
    for (const bad of ['yesterday', '2026-11-26', '2026-13-40T99:00:00Z']) {
      expect(() => parseFlags([`--now=${bad}`], {}), bad).toThrow(/--now/);
    }
  });
});
