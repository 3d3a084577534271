// function/server/health.ts: the hand-written grpc.health.v1.Health service. The
// client side is grpc-health-check's own definition (support/grpc-client.ts
// and `reference` below), an independent implementation of the messages, so
// these tests check the wire format as well as the behaviour. Malformed bytes
// go through a generic client with identity serializers.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { service as referenceService } from 'grpc-health-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HEALTH_SERVICE,
  HealthService,
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  type ServingStatus,
} from '../function/server/health.js';
import { SERVICE_V1, SERVICE_V1BETA1 } from '../function/server/server.js';
import { healthClient, type HealthClient } from './support/grpc-client.js';
import { startLoopbackServer } from './support/server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function loopback(): Promise<{ target: string; shutdown: (graceMs?: number) => Promise<void> }> {
  const srv = await startLoopbackServer();
  cleanups.push(() => srv.shutdown(1_000));
  return { target: `127.0.0.1:${srv.port}`, shutdown: srv.shutdown };
}

/** A bare grpc-js server with only the health service, so a test can drive its statuses. */
async function healthOnly(health: HealthService): Promise<string> {
  const server = new grpc.Server();
  health.addToServer(server);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  cleanups.push(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

function client(target: string): HealthClient {
  const c = healthClient(target);
  cleanups.push(() => c.close());
  return c;
}

/** A Watch whose statuses can be awaited one by one. */
function watch(c: HealthClient, service: string) {
  const seen: ServingStatus[] = [];
  const waiting: { n: number; resolve: () => void }[] = [];
  const ended = c.watch(service, (s) => {
    seen.push(s);
    for (const w of waiting.filter((w) => seen.length >= w.n)) w.resolve();
  });
  return {
    seen,
    ended,
    /** Resolves once n statuses have arrived in all. */
    received: (n: number) => (seen.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve }))),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** True if p has not settled within ms. */
const pendingAfter = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => false), sleep(ms).then(() => true)]);

const identity = (b: Buffer) => b;

function rawClient(target: string): grpc.Client {
  const c = new grpc.Client(target, grpc.credentials.createInsecure());
  cleanups.push(() => c.close());
  return c;
}

function rawCheck(c: grpc.Client, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(`/${HEALTH_SERVICE}/Check`, identity, identity, payload, { deadline: Date.now() + 5_000 }, (err, rsp) =>
      err ? reject(err) : resolve(rsp!),
    ),
  );
}

function rawWatch(c: grpc.Client, payload: Buffer): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    const stream = c.makeServerStreamRequest(`/${HEALTH_SERVICE}/Watch`, identity, identity, payload, {
      deadline: Date.now() + 5_000,
    });
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('status', resolve);
  });
}

const bytes = (...parts: (number | number[] | string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(typeof p === 'number' ? [p] : p))));

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}

/** HealthCheckRequest.service (field 1, length-delimited). */
const serviceField = (name: string) => bytes(0x0a, varint(Buffer.byteLength(name)), name);

const SERVING = bytes(0x08, 0x01);

/** grpc-health-check's Check method: protobufjs encoding and decoding of the same two messages. */
const reference = referenceService['Check'] as grpc.MethodDefinition<{ service: string }, { status: string }>;

describe('health service on the function server', () => {
  it('answers Check with SERVING for "" and both RunFunction services, NOT_FOUND for others', async () => {
    const { target } = await loopback();
    const c = client(target);
    expect(await c.check('')).toBe('SERVING');
    expect(await c.check(SERVICE_V1)).toBe('SERVING');
    expect(await c.check(SERVICE_V1BETA1)).toBe('SERVING');
    await expect(c.check('no.such.Service')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'unknown service "no.such.Service"',
    });
    // A prefix of a known name is a different service.
    await expect(c.check('apiextensions.fn.proto.v1')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('does not echo a huge unknown service name back whole', async () => {
    const { target } = await loopback();
    const err = await client(target)
      .check('x'.repeat(100_000))
      .then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(err?.details.length).toBeLessThan(200);
  });

  it('streams SERVING on Watch, then NOT_SERVING on shutdown, and ends the stream without holding the drain', async () => {
    const { target, shutdown } = await loopback();
    const c = client(target);
    const all = watch(c, '');
    const v1 = watch(c, SERVICE_V1);
    await Promise.all([all.received(1), v1.received(1)]);
    expect(all.seen).toEqual(['SERVING']);
    expect(v1.seen).toEqual(['SERVING']);

    const t0 = Date.now();
    await shutdown(10_000);
    // An open Watch would otherwise keep tryShutdown waiting for the whole 10 s.
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect((await all.ended).code).toBe(grpc.status.OK);
    expect((await v1.ended).code).toBe(grpc.status.OK);
    expect(all.seen).toEqual(['SERVING', 'NOT_SERVING']);
    expect(v1.seen).toEqual(['SERVING', 'NOT_SERVING']);
  });

  it('sends SERVICE_UNKNOWN on Watch of an unknown service and keeps the stream open', async () => {
    const { target, shutdown } = await loopback();
    const c = client(target);
    const w = watch(c, 'no.such.Service');
    await w.received(1);
    expect(w.seen).toEqual(['SERVICE_UNKNOWN']);
    expect(await c.check('')).toBe('SERVING');
    expect(await pendingAfter(w.ended, 200)).toBe(true);

    await shutdown(10_000);
    expect((await w.ended).code).toBe(grpc.status.OK);
    expect(w.seen).toEqual(['SERVICE_UNKNOWN']);
  });

  it('refuses malformed requests with an error status and keeps serving', async () => {
    const { target } = await loopback();
    const raw = rawClient(target);
    const malformed: [string, Buffer][] = [
      ['length past the end', bytes(0x0a, 0x05, 'ab')],
      ['invalid UTF-8 in service', bytes(0x0a, 0x02, 0xc3, 0x28)],
      ['truncated varint', bytes(0x08, 0x80)],
      ['varint longer than 10 bytes', bytes(0x08, Array(10).fill(0xff), 0x01)],
      ['field number 0', bytes(0x00, 0x00)],
      ['tag beyond 32 bits', bytes(varint(2 ** 33))],
      ['wire type 7', bytes(0x0f)],
      ['wire type 6', bytes(0x0e, 0x00)],
      ['end group without a start', bytes(0x0c)],
      ['group never closed', bytes(0x13, 0x08, 0x01)],
      ['group closed with another field number', bytes(0x13, 0x1c)],
      ['groups nested 40 deep', bytes(Array(40).fill(0x13), Array(40).fill(0x14))],
      ['truncated fixed64', bytes(0x11, 0x00, 0x00)],
      ['truncated fixed32', bytes(0x15, 0x00)],
      ['garbage', Buffer.from('ffffffffffffffffffff7fdeadbeef0a', 'hex')],
    ];
    for (const [what, payload] of malformed) {
      await expect(rawCheck(raw, payload), what).rejects.toMatchObject({ code: grpc.status.INTERNAL });
      expect((await rawWatch(raw, payload)).code, what).toBe(grpc.status.INTERNAL);
    }
    // Same connection, and a fresh client.
    expect(await rawCheck(raw, serviceField(''))).toEqual(SERVING);
    expect(await client(target).check(SERVICE_V1)).toBe('SERVING');
  });

  it('skips unknown fields of every wire type, and a known field with the wrong wire type', async () => {
    const { target } = await loopback();
    const raw = rawClient(target);
    const payload = bytes(
      [0x10, ...varint(300)], // field 2, varint
      [0x19, ...Array(8).fill(0xee)], // field 3, fixed64
      [0x22, 0x03],
      'abc', // field 4, length-delimited
      [0x2d, ...Array(4).fill(0xee)], // field 5, fixed32
      [0x33, 0x08, 0x01, 0x1b, 0x2a, 0x00, 0x1c, 0x34], // field 6, a group holding a varint and a nested group
      [0x08, 0x05], // field 1 as a varint: not the string field, skipped
      serviceField(SERVICE_V1BETA1),
      [...varint(2 ** 32 - 8), 0x00], // the largest field number, varint
    );
    expect(await rawCheck(raw, payload)).toEqual(SERVING);
    // The empty message asks about "" (proto3 default).
    expect(await rawCheck(raw, Buffer.alloc(0))).toEqual(SERVING);
    // A repeated field: the last occurrence wins.
    expect(await rawCheck(raw, Buffer.concat([serviceField('no.such.Service'), serviceField('')]))).toEqual(SERVING);
    await expect(rawCheck(raw, Buffer.concat([serviceField(''), serviceField('no.such.Service')]))).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('does not serve List (UNIMPLEMENTED)', async () => {
    const { target } = await loopback();
    await expect(
      new Promise((resolve, reject) =>
        rawClient(target).makeUnaryRequest(`/${HEALTH_SERVICE}/List`, identity, identity, Buffer.alloc(0), (err, rsp) => (err ? reject(err) : resolve(rsp))),
      ),
    ).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
  });
});

describe('HealthService', () => {
  it('sends each watcher the current status, then only changes of its own service', async () => {
    const health = new HealthService({ a: 'SERVING' });
    const c = client(await healthOnly(health));
    const a = watch(c, 'a');
    const later = watch(c, 'later');
    await Promise.all([a.received(1), later.received(1)]);

    health.setStatus('a', 'SERVING'); // no change: not sent
    health.setStatus('b', 'NOT_SERVING'); // another service
    health.setStatus('a', 'NOT_SERVING');
    health.setStatus('later', 'SERVING'); // a service without a status gets one
    await Promise.all([a.received(2), later.received(2)]);
    health.setStatus('a', 'SERVING');
    await a.received(3);

    expect(a.seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    expect(later.seen).toEqual(['SERVICE_UNKNOWN', 'SERVING']);
    expect(await c.check('later')).toBe('SERVING');
    expect(await c.check('b')).toBe('NOT_SERVING');
  });

  it('keeps serving the other watchers when one goes away', async () => {
    const health = new HealthService({ '': 'SERVING' });
    const target = await healthOnly(health);
    const gone = rawClient(target).makeServerStreamRequest(`/${HEALTH_SERVICE}/Watch`, identity, identity, Buffer.alloc(0));
    const goneStatus = new Promise<grpc.StatusObject>((resolve) => gone.on('status', resolve));
    gone.on('error', () => {});
    await new Promise((resolve) => gone.once('data', resolve));
    const stays = watch(client(target), '');
    await stays.received(1);
    gone.cancel();
    expect((await goneStatus).code).toBe(grpc.status.CANCELLED);
    await sleep(50); // the server sees the cancellation
    health.setStatus('', 'NOT_SERVING');
    await stays.received(2);
    expect(stays.seen).toEqual(['SERVING', 'NOT_SERVING']);
  });

  it('endWatches ends open streams with OK and each later Watch after its first status', async () => {
    const health = new HealthService({ '': 'SERVING' });
    const c = client(await healthOnly(health));
    const open = [watch(c, ''), watch(c, 'unknown')];
    await Promise.all(open.map((w) => w.received(1)));
    health.endWatches();
    for (const w of open) expect((await w.ended).code).toBe(grpc.status.OK);

    const late = watch(c, '');
    expect((await late.ended).code).toBe(grpc.status.OK);
    expect(late.seen).toEqual(['SERVING']);
    // Check is unaffected, and setStatus has no stream left to write to.
    health.setStatus('', 'NOT_SERVING');
    expect(await c.check('')).toBe('NOT_SERVING');
  });
});

describe('health message codec, against grpc-health-check', () => {
  const statuses: ServingStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

  it('encodes and decodes every ServingStatus as the reference does', () => {
    for (const status of statuses) {
      expect(reference.responseDeserialize(encodeHealthCheckResponse({ status }))).toEqual({ status });
      expect(decodeHealthCheckResponse(reference.responseSerialize({ status }))).toEqual({ status });
    }
    expect(encodeHealthCheckResponse({ status: 'SERVING' })).toEqual(SERVING);
    expect(encodeHealthCheckResponse({ status: 'UNKNOWN' })).toEqual(Buffer.alloc(0));
    // Open enum: a status number this version does not know.
    expect(decodeHealthCheckResponse(bytes(0x08, 0x09))).toEqual({ status: 'UNKNOWN' });
    expect(() => encodeHealthCheckResponse({ status: 'BOGUS' as ServingStatus })).toThrow(/unknown serving status/);
  });

  it('round-trips any service name with the reference encoder and decoder', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (service) => {
        expect(decodeHealthCheckRequest(reference.requestSerialize({ service }))).toEqual({ service });
        expect(reference.requestDeserialize(encodeHealthCheckRequest({ service }))).toEqual({ service });
        expect(decodeHealthCheckRequest(encodeHealthCheckRequest({ service }))).toEqual({ service });
      }),
    );
  });

  it('either decodes arbitrary bytes or throws an Error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (arr) => {
        let out: unknown;
        try {
          out = decodeHealthCheckRequest(Buffer.from(arr));
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          return;
        }
        expect(typeof (out as { service: unknown }).service).toBe('string');
      }),
      { numRuns: 2_000 },
    );
  });
});
