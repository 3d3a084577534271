#!/usr/bin/env node
// The benchmark's baseline: the same process stack as the real function (the
// same flags, pino logger, per-call Prometheus metrics, startFunctionServer
// and its SIGTERM drain, all from function/server/process.ts) with a handler that
// does nothing but answer `to(req)`. What the real function costs on top of
// this is the composition logic itself.
//
// It decodes the whole request (it cannot know what a handler would read), with
// the function's codec; NOOP_CODEC=sdk swaps in the SDK's generated codec: the
// floor of a function built on the SDK as it comes.
import { RunFunctionRequest, RunFunctionResponse, to } from '@crossplane-org/function-sdk-typescript';
import { runFunctionProcess } from '../function/server/process.js';

const sdkCodec = {
  decode: (bytes: Buffer) => RunFunctionRequest.decode(bytes),
  encode: (rsp: RunFunctionResponse) => {
    const bytes = RunFunctionResponse.encode(rsp).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  },
};

await runFunctionProcess({
  program: 'noop-function',
  handler: (req) => to(req),
  ...(process.env['NOOP_CODEC'] === 'sdk' ? { codec: sdkCodec } : {}),
});
