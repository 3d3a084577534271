// The standard gRPC health service, grpc.health.v1.Health (Check and Watch),
// with its two messages encoded and decoded by hand.
//
// Why not the grpc-health-check package: importing it loads
// @grpc/proto-loader and protobufjs and parses health.proto at runtime, about
// 50 ms of the function's startup (spawn to first answered call, target
// 300 ms). The protocol it serves is two messages of one field each:
//
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }
//   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
//
// so the few lines of protobuf wire format below replace both libraries. The
// decoder skips fields it does not know, as every protobuf parser must, and
// rejects malformed bytes with an Error, which grpc-js turns into an INTERNAL
// status for that call alone. The List method added to health.proto later is
// not served (UNIMPLEMENTED); Kubernetes' gRPC probes call Check. The tests
// drive this server through grpc-health-check's own service definition
// (test/support/grpc-client.ts), an independent implementation of the same
// messages; the package stays a devDependency for that.
import { isUtf8 } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** HealthCheckResponse.ServingStatus; the index is the enum's number on the wire. */
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatus = (typeof STATUS_NAMES)[number];

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;
/** How deeply nested (proto2) groups in unknown fields may be before the message is refused. */
const MAX_GROUP_DEPTH = 32;

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** An unsigned varint; exact up to 2^53, which covers every value this file interprets. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** Field number and wire type of the next field. */
  tag(): [field: number, wire: number] {
    const tag = this.varint();
    const field = Math.floor(tag / 8);
    if (field === 0 || tag > 0xffff_ffff) throw new Error(`invalid field tag ${tag}`);
    return [field, tag % 8];
  }

  /** Advances past n bytes and returns where they started. */
  take(n: number): number {
    if (n > this.buf.length - this.pos) throw new Error(`field of ${n} bytes runs past the end of the message`);
    const start = this.pos;
    this.pos += n;
    return start;
  }

  /** A length-delimited field's bytes as a string; refuses invalid UTF-8, as proto3 string fields require. */
  string(): string {
    const length = this.varint();
    const start = this.take(length);
    const bytes = this.buf.subarray(start, start + length);
    if (!isUtf8(bytes)) throw new Error('string field is not valid UTF-8');
    return bytes.toString('utf8');
  }

  /** Skips the value of a field this message does not interpret. */
  skip(field: number, wire: number, depth = 0): void {
    switch (wire) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.take(8);
        return;
      case LEN:
        this.take(this.varint());
        return;
      case I32:
        this.take(4);
        return;
      case SGROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw new Error('groups nested too deeply');
        for (;;) {
          if (this.done) throw new Error(`group ${field} not closed`);
          const [inner, innerWire] = this.tag();
          if (innerWire === EGROUP) {
            if (inner !== field) throw new Error(`group ${field} closed as ${inner}`);
            return;
          }
          this.skip(inner, innerWire, depth + 1);
        }
      }
      default:
        // EGROUP without its start, or the unused wire types 6 and 7.
        throw new Error(`unexpected wire type ${wire} for field ${field}`);
    }
  }
}

/**
 * Reads every field of a message; `read` consumes the fields it interprets and
 * returns false for the others, which are skipped. A known field number with
 * an unexpected wire type counts as unknown, as in the reference parsers.
 */
function readFields(buf: Buffer, read: (r: Reader, field: number, wire: number) => boolean): void {
  const r = new Reader(buf);
  while (!r.done) {
    const [field, wire] = r.tag();
    if (!read(r, field, wire)) r.skip(field, wire);
  }
}

export function decodeHealthCheckRequest(buf: Buffer): HealthCheckRequest {
  let service = '';
  readFields(buf, (r, field, wire) => {
    if (field !== 1 || wire !== LEN) return false;
    service = r.string(); // The last occurrence wins.
    return true;
  });
  return { service };
}

export function encodeHealthCheckRequest(req: HealthCheckRequest): Buffer {
  const service = Buffer.from(req.service, 'utf8');
  // proto3 leaves fields at their default ("") off the wire.
  if (service.length === 0) return Buffer.alloc(0);
  const length: number[] = [];
  let n = service.length;
  for (; n >= 0x80; n = Math.floor(n / 128)) length.push((n % 128) | 0x80);
  length.push(n);
  return Buffer.concat([Buffer.from([(1 << 3) | LEN, ...length]), service]);
}

/** Status numbers this version does not know (proto3 enums are open) read as UNKNOWN. */
export function decodeHealthCheckResponse(buf: Buffer): HealthCheckResponse {
  let status: ServingStatus = 'UNKNOWN';
  readFields(buf, (r, field, wire) => {
    if (field !== 1 || wire !== VARINT) return false;
    status = STATUS_NAMES[r.varint()] ?? 'UNKNOWN';
    return true;
  });
  return { status };
}

export function encodeHealthCheckResponse(rsp: HealthCheckResponse): Buffer {
  const n = STATUS_NAMES.indexOf(rsp.status);
  if (n < 0) throw new Error(`unknown serving status ${String(rsp.status)}`);
  // UNKNOWN is the default and left off the wire; the others fit in one varint byte.
  return n === 0 ? Buffer.alloc(0) : Buffer.from([(1 << 3) | VARINT, n]);
}

function method(name: 'Check' | 'Watch', responseStream: boolean) {
  return {
    path: `/${HEALTH_SERVICE}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: encodeHealthCheckRequest,
    requestDeserialize: decodeHealthCheckRequest,
    responseSerialize: encodeHealthCheckResponse,
    responseDeserialize: decodeHealthCheckResponse,
  };
}

/** The Check and Watch methods of grpc.health.v1.Health, usable by servers and clients. */
export const healthServiceDefinition = {
  check: method('Check', false),
  watch: method('Watch', true),
} satisfies grpc.ServiceDefinition;

type WatchCall = grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

interface Watcher {
  service: string;
  call: WatchCall;
  send(status: ServingStatus): void;
}

/** Caps how much of a caller's service name a NOT_FOUND status echoes back in its trailers. */
const MAX_ECHOED_NAME = 100;

/** Serving statuses by service name ("" = the whole server), answered over grpc.health.v1.Health. */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<Watcher>();
  private watchesEnded = false;

  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  /** Records a service's status and sends it to that service's watchers if it changed for them. */
  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.send(status);
  }

  /**
   * Ends every Watch stream with OK, and from now on ends each new one right
   * after its first message. A Watch never ends on its own, so a server
   * draining its calls would otherwise wait for them until its grace period
   * runs out. Clients retry a Watch that ended (the protocol says so) and find
   * the server gone.
   */
  endWatches(): void {
    this.watchesEnded = true;
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  addToServer(server: grpc.Server): void {
    server.addService(healthServiceDefinition, { check: this.check, watch: this.watch });
  }

  private readonly check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    const { service } = call.request;
    const status = this.statuses.get(service);
    if (status !== undefined) {
      callback(null, { status });
      return;
    }
    const name = service.length > MAX_ECHOED_NAME ? `${service.slice(0, MAX_ECHOED_NAME)}...` : service;
    callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(name)}` });
  };

  // The current status at once (SERVICE_UNKNOWN for a service without one,
  // and the stream stays open in case it gets one), then each change.
  private readonly watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const { service } = call.request;
    let last: ServingStatus | undefined;
    const send = (status: ServingStatus) => {
      if (status === last) return;
      last = status;
      call.write({ status });
    };
    send(this.statuses.get(service) ?? 'SERVICE_UNKNOWN');
    if (this.watchesEnded) {
      call.end();
      return;
    }
    const watcher: Watcher = { service, call, send };
    this.watchers.add(watcher);
    call.on('cancelled', () => this.watchers.delete(watcher));
  };
}
