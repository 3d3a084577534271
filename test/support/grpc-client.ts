// A minimal client for the function's services, built from the SDK's own
// encoders so the tests speak exactly what Crossplane speaks on the wire.
import * as grpc from '@grpc/grpc-js';
import { FunctionRunnerServiceService, RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
// A devDependency: the health client speaks through grpc-health-check's own
// definition, not function/server/health.ts's, so the hand-written server is checked
// against an independent encoding of the same messages.
import { service as healthService } from 'grpc-health-check';

export type ApiVersion = 'v1' | 'v1beta1';

export interface FunctionClient {
  runFunction(req: RunFunctionRequest, deadlineMs?: number): Promise<RunFunctionResponse>;
  close(): void;
  raw: grpc.Client;
}

export function serviceName(version: ApiVersion): string {
  return `apiextensions.fn.proto.${version}.FunctionRunnerService`;
}

function unary<Req, Rsp>(client: grpc.Client, method: string, req: Req, deadlineMs: number): Promise<Rsp> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (...args: any[]) => unknown>)[method] as (
      req: Req,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, rsp: Rsp) => void,
    ) => void;
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, rsp) => (err ? reject(err) : resolve(rsp)));
  });
}

export function functionClient(
  target: string,
  version: ApiVersion,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
): FunctionClient {
  const def = {
    runFunction: {
      ...FunctionRunnerServiceService.runFunction,
      path: `/${serviceName(version)}/RunFunction`,
    },
  };
  const Ctor = grpc.makeGenericClientConstructor(def, serviceName(version));
  const client = new Ctor(target, credentials, options);
  return {
    runFunction: (req, deadlineMs = 10_000) => unary(client, 'runFunction', req, deadlineMs),
    close: () => client.close(),
    raw: client,
  };
}

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthClient {
  check(service: string): Promise<ServingStatus>;
  /** Streams statuses for service until the server ends the stream or close() is called. */
  watch(service: string, onStatus: (s: ServingStatus) => void): Promise<grpc.StatusObject>;
  close(): void;
}

export function healthClient(
  target: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ClientOptions = {},
): HealthClient {
  const Ctor = grpc.makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
  const client = new Ctor(target, credentials, options);
  return {
    check: async (service) => (await unary<{ service: string }, { status: ServingStatus }>(client, 'check', { service }, 5_000)).status,
    watch: (service, onStatus) =>
      new Promise((resolve) => {
        const fn = (client as unknown as Record<string, (...args: any[]) => unknown>)['watch'] as (req: {
          service: string;
        }) => grpc.ClientReadableStream<{ status: ServingStatus }>;
        const stream = fn.call(client, { service });
        stream.on('data', (m: { status: ServingStatus }) => onStatus(m.status));
        stream.on('error', () => {});
        stream.on('status', (s: grpc.StatusObject) => resolve(s));
      }),
    close: () => client.close(),
  };
}

/**
 * One v1 RunFunction call with a fresh channel, tagged `tag`, dialling the
 * IP but verifying the certificate's DNS name "localhost" (as Crossplane does
 * through a Service name); the channel is closed afterwards.
 */
export async function callOnce(target: string, creds: grpc.ChannelCredentials, tag: string): Promise<RunFunctionResponse> {
  const c = functionClient(target, 'v1', creds, { 'grpc.ssl_target_name_override': 'localhost' });
  try {
    return await c.runFunction(RunFunctionRequest.fromPartial({ meta: { tag } }), 5_000);
  } finally {
    c.close();
  }
}
