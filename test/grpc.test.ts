import * as grpc from '@grpc/grpc-js';
import { RunFunctionRequest, RunFunctionResponse, Severity, to } from '@crossplane-org/function-sdk-typescript';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVICE_V1, SERVICE_V1BETA1, startFunctionServer, type FunctionHandler, type RunningServer, type WireCodec } from '../function/server/server.js';
import { functionClient, healthClient, type ApiVersion, type ServingStatus } from './support/grpc-client.js';

function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void out.push(s) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function request(tag: string, input: Record<string, unknown> = {}): RunFunctionRequest {
  return RunFunctionRequest.fromPartial({
    meta: { tag },
    input,
    observed: {
      composite: {
        resource: {
          apiVersion: 'example.org/v1',
          kind: 'XLambdaCanary',
          metadata: { name: 'demo' },
          spec: {},
        },
      },
    },
  });
}

const started: RunningServer[] = [];
const closers: (() => void)[] = [];

async function start(
  extra: { handler?: FunctionHandler; maxRecvMsgSize?: number; logger?: Logger; codec?: WireCodec } = {},
): Promise<{ srv: RunningServer; target: string }> {
  const srv = await startFunctionServer({
    address: '127.0.0.1:0',
    insecure: true,
    tlsServerCertsDir: '/nonexistent',
    maxRecvMsgSize: extra.maxRecvMsgSize ?? 4 * 1024 * 1024,
    logger: extra.logger ?? pino({ level: 'silent' }),
    ...(extra.handler ? { handler: extra.handler } : {}),
    ...(extra.codec ? { codec: extra.codec } : {}),
    now: () => new Date('2026-01-01T00:00:00Z'),
  });
  started.push(srv);
  return { srv, target: `127.0.0.1:${srv.port}` };
}

function client(target: string, version: ApiVersion = 'v1') {
  const c = functionClient(target, version);
  closers.push(() => c.close());
  return c;
}

afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await Promise.all(started.splice(0).map((s) => s.shutdown(1_000)));
});

const echo: FunctionHandler = (req) => {
  const rsp = to(req);
  rsp.results.push({ severity: Severity.SEVERITY_NORMAL, message: `input=${JSON.stringify(req.input)}` });
  return rsp;
};

describe('function gRPC server', () => {
  it('hands a custom handler whole requests: the status projection is only for the real handler', async () => {
    let seen: unknown;
    const { target } = await start({
      handler: (req) => {
        seen = req.observed?.resources['version']?.resource?.['status'];
        return to(req);
      },
    });
    const req = request('whole');
    const status = { version: '5', environment: { variables: { A: 'x' } }, codeSize: 1024 };
    req.observed!.resources['version'] = { resource: { kind: 'Version', metadata: { name: 'v' }, status }, connectionDetails: {}, ready: 0 };
    await client(target).runFunction(req);
    expect(seen).toEqual(status);
  });

  it('uses the codec it is given on the wire, both ways', async () => {
    const calls: string[] = [];
    const codec: WireCodec = {
      decode: (bytes) => (calls.push('decode'), RunFunctionRequest.decode(bytes)),
      encode: (rsp) => (calls.push('encode'), Buffer.from(RunFunctionResponse.encode(rsp).finish())),
    };
    const { target } = await start({ handler: echo, codec });
    const rsp = await client(target).runFunction(request('sdk-codec', { a: 1 }));
    expect(rsp.meta?.tag).toBe('sdk-codec');
    expect(rsp.results[0]?.message).toBe('input={"a":1}');
    expect(calls).toEqual(['decode', 'encode']);
  });

  it('binds the real port when asked for port 0', async () => {
    const { srv } = await start();
    expect(srv.port).toBeGreaterThan(0);
  });

  for (const version of ['v1', 'v1beta1'] as const) {
    it(`serves RunFunction over ${version} with the default handler`, async () => {
      const { target } = await start();
      const rsp = await client(target, version).runFunction(request(`tag-${version}`));
      expect(rsp.meta?.tag).toBe(`tag-${version}`);
      expect(rsp.desired).toBeDefined();
    });

    it(`hands the decoded request to the handler over ${version}`, async () => {
      const { target } = await start({ handler: echo });
      const rsp = await client(target, version).runFunction(request('t', { canary: { weight: 10 } }));
      expect(rsp.meta?.tag).toBe('t');
      expect(rsp.results.map((r) => r.message)).toEqual(['input={"canary":{"weight":10}}']);
    });
  }

  it('logs every call at debug with its tag, service and duration', async () => {
    const { logger, lines } = capturingLogger();
    const { target } = await start({ logger, handler: echo });
    await client(target, 'v1beta1').runFunction(request('log-me'));
    const call = lines().find((l) => l['msg'] === 'RunFunction');
    expect(call).toMatchObject({ level: 20, tag: 'log-me', service: SERVICE_V1BETA1 });
    expect(typeof call?.['durationMs']).toBe('number');
  });

  it('reports SERVING on the standard health service for "" and both service names', async () => {
    const { target } = await start();
    const health = healthClient(target);
    closers.push(() => health.close());
    expect(await health.check('')).toBe('SERVING');
    expect(await health.check(SERVICE_V1)).toBe('SERVING');
    expect(await health.check(SERVICE_V1BETA1)).toBe('SERVING');
    await expect(health.check('no.such.Service')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('refuses an oversized request with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const { target } = await start({ maxRecvMsgSize: 16 * 1024 });
    const c = client(target);
    await expect(c.runFunction(request('big', { blob: 'x'.repeat(64 * 1024) }))).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
    const rsp = await c.runFunction(request('small', { blob: 'x'.repeat(1024) }));
    expect(rsp.meta?.tag).toBe('small');
  });

  it('turns a throwing handler into a Fatal result, not a crash', async () => {
    const { logger, lines } = capturingLogger();
    const { target } = await start({
      logger,
      handler: () => {
        throw new Error('boom in planner');
      },
    });
    const c = client(target);
    const rsp = await c.runFunction(request('bad'));
    expect(rsp.meta?.tag).toBe('bad');
    expect(rsp.desired).toBeDefined();
    expect(rsp.results).toHaveLength(1);
    expect(rsp.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL, reason: 'InternalError' });
    expect(rsp.results[0]?.message).toMatch(/running the RunFunction handler failed: boom in planner/);
    expect(lines().some((l) => l['level'] === 50 && l['tag'] === 'bad')).toBe(true);
    // Still alive for the next call.
    expect((await c.runFunction(request('again'))).meta?.tag).toBe('again');
  });

  it('turns a rejected promise or a missing response into a Fatal result', async () => {
    let mode = 'reject';
    const { target } = await start({
      // eslint-disable-next-line @typescript-eslint/require-await -- the handler type returns a promise; this one has nothing to wait for
      handler: async () => {
        if (mode === 'reject') throw new Error('async failure');
        return undefined as unknown as RunFunctionResponse;
      },
    });
    const c = client(target);
    const rejected = await c.runFunction(request('a'));
    expect(rejected.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL });
    expect(rejected.results[0]?.message).toContain('async failure');
    mode = 'undefined';
    const missing = await c.runFunction(request('b'));
    expect(missing.meta?.tag).toBe('b');
    expect(missing.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL });
    expect(missing.results[0]?.message).toContain('handler returned undefined');
  });

  it('turns an unencodable response into a Fatal result', async () => {
    const { target } = await start({
      handler: (req) => ({ ...to(req), results: 'not a list' as unknown as RunFunctionResponse['results'] }),
    });
    const rsp = await client(target).runFunction(request('enc'));
    expect(rsp.meta?.tag).toBe('enc');
    expect(rsp.results[0]).toMatchObject({ severity: Severity.SEVERITY_FATAL, reason: 'InternalError' });
    expect(rsp.results[0]?.message).toContain('encoding the RunFunction response failed');
  });

  it('drains in-flight calls on shutdown, refuses new ones and reports NOT_SERVING', async () => {
    let entered = 0;
    let allIn!: () => void;
    const allInP = new Promise<void>((r) => (allIn = r));
    const N = 5;
    const { srv, target } = await start({
      handler: async (req) => {
        if (++entered === N) allIn();
        await new Promise((r) => setTimeout(r, 400));
        return to(req);
      },
    });
    const health = healthClient(target);
    closers.push(() => health.close());
    const seen: ServingStatus[] = [];
    const watchEnded = health.watch('', (s) => seen.push(s));

    const c = client(target);
    const calls = Array.from({ length: N }, (_, i) => c.runFunction(request(`inflight-${i}`)));
    await allInP;
    const t0 = Date.now();
    await srv.shutdown(5_000);
    const elapsed = Date.now() - t0;

    const rsps = await Promise.all(calls);
    expect(rsps.map((r) => r.meta?.tag)).toEqual(Array.from({ length: N }, (_, i) => `inflight-${i}`));
    // It waited for the slow calls rather than returning at once, but not for the grace period.
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(4_000);
    const watchStatus = await watchEnded;
    expect(watchStatus.code).toBe(grpc.status.OK);
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);

    // The listener is closed, so a call after shutdown cannot reach the server.
    await expect(c.runFunction(request('late'), 2_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('cancels calls still running after the grace period so shutdown always resolves', async () => {
    let entered!: () => void;
    const enteredP = new Promise<void>((r) => (entered = r));
    const { srv, target } = await start({
      handler: () => {
        entered();
        return new Promise<RunFunctionResponse>(() => {});
      },
    });
    const call = client(target).runFunction(request('stuck'), 30_000);
    const outcome = call.then(
      () => 'answered',
      (e: grpc.ServiceError) => e.code,
    );
    await enteredP;
    const t0 = Date.now();
    await srv.shutdown(300);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(await outcome).not.toBe('answered');
  });

  it('fails to start with a clear error when the address cannot be bound', async () => {
    const { srv } = await start();
    await expect(
      startFunctionServer({
        address: `127.0.0.1:${srv.port}`,
        insecure: true,
        tlsServerCertsDir: '',
        maxRecvMsgSize: 1024,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(new RegExp(`binding the gRPC server to 127.0.0.1:${srv.port}`));
  });
});
