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
// so a few lines on the wire reader and writer the function's codec uses
// (protobuf.ts) replace both libraries. The decoder skips fields it does not
// know, as every protobuf parser must, and rejects malformed bytes with an
// Error, which grpc-js turns into an INTERNAL status for that call alone. The List method added to health.proto later is
// not served (UNIMPLEMENTED); Kubernetes' gRPC probes call Check. The tests
// drive this server through grpc-health-check's own service definition
// (test/support/grpc-client.ts), an independent implementation of the same
// messages; the package stays a devDependency for that.
import { isUtf8 } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';
import { Reader, WireError, Writer } from '../wire/protobuf.js';

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

// Tags: field 1 as a length-delimited string (the request) or a varint (the response).
const SERVICE_TAG = (1 << 3) | 2;
const STATUS_TAG = (1 << 3) | 0;

/**
 * Reads every field of a message with the function's wire reader
 * (protobuf.ts); `read` consumes the field whose tag it is given and returns
 * false for the others, which are skipped. A known field number with an
 * unexpected wire type counts as unknown, as in the reference parsers.
 */
function readFields(buf: Buffer, read: (r: Reader, tag: number) => boolean): void {
  const r = new Reader(buf);
  while (r.pos < buf.length) {
    const tag = r.uint32();
    if (!read(r, tag)) r.skipField(tag, buf.length);
  }
  if (r.pos !== buf.length) throw new WireError('a field runs past the end of the message');
}

export function decodeHealthCheckRequest(buf: Buffer): HealthCheckRequest {
  let service = '';
  readFields(buf, (r, tag) => {
    if (tag !== SERVICE_TAG) return false;
    const end = r.delimited(buf.length);
    // proto3 string fields must be UTF-8; refuse rather than guess a service name.
    if (!isUtf8(buf.subarray(r.pos, end))) throw new WireError('string field is not valid UTF-8');
    service = r.string(end); // The last occurrence wins.
    return true;
  });
  return { service };
}

export function encodeHealthCheckRequest(req: HealthCheckRequest): Buffer {
  // proto3 leaves fields at their default ("") off the wire.
  if (req.service === '') return Buffer.alloc(0);
  const w = new Writer(16 + req.service.length * 3);
  w.stringField(SERVICE_TAG, req.service);
  return w.take();
}

/** Status numbers this version does not know (proto3 enums are open) read as UNKNOWN. */
export function decodeHealthCheckResponse(buf: Buffer): HealthCheckResponse {
  let status: ServingStatus = 'UNKNOWN';
  readFields(buf, (r, tag) => {
    if (tag !== STATUS_TAG) return false;
    status = STATUS_NAMES[r.uint32()] ?? 'UNKNOWN';
    return true;
  });
  return { status };
}

export function encodeHealthCheckResponse(rsp: HealthCheckResponse): Buffer {
  const n = STATUS_NAMES.indexOf(rsp.status);
  if (n < 0) throw new Error(`unknown serving status ${String(rsp.status)}`);
  // UNKNOWN is the default and left off the wire; the others fit in one varint byte.
  return n === 0 ? Buffer.alloc(0) : Buffer.from([STATUS_TAG, n]);
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
