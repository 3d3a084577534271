// In-process figures for the wire codec (function/wire/request.ts, response.ts)
// against the SDK's generated one, on the bench's requests: what each costs to
// decode a request and encode the function's response. Run by bench.ts after
// the servers, so they are printed in the same run; not a gRPC measurement.
import { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { REQUEST_PROJECTION } from '../function/server/request-projection.js';
import { runFunction } from '../function/handler.js';
import { decodeRunFunctionRequest } from '../function/wire/request.js';
import { encodeRunFunctionResponse } from '../function/wire/response.js';
import { buildRequest } from './reference-request.js';

const NOW = new Date('2026-11-26T00:00:00Z');

export interface CodecFigures {
  request: string;
  bytes: number;
  /** Microseconds per call. */
  decodeSdkUs: number;
  decodeWholeUs: number;
  decodeProjectedUs: number;
  encodeSdkUs: number;
  encodeOursUs: number;
  responseBytes: number;
}

/** Mean microseconds per call of `f` over about `budgetMs` after a warm-up of a quarter of that. */
function timeUs(f: () => unknown, budgetMs: number): number {
  const runFor = (ms: number) => {
    const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
    let n = 0;
    const start = process.hrtime.bigint();
    let now = start;
    while (now < end) {
      for (let i = 0; i < 10; i++) f();
      n += 10;
      now = process.hrtime.bigint();
    }
    return Number(now - start) / 1e3 / n;
  };
  runFor(budgetMs / 4);
  return runFor(budgetMs);
}

export function codecFigures(requests: string[], budgetMs = 400): CodecFigures[] {
  return requests.map((name) => {
    const bytes = Buffer.from(RunFunctionRequest.encode(buildRequest(name)).finish());
    const rsp = runFunction(decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), { now: () => NOW });
    // The two codecs must agree before their speed means anything.
    const sdkBytes = Buffer.from(RunFunctionResponse.encode(rsp).finish());
    if (!encodeRunFunctionResponse(rsp).equals(sdkBytes)) throw new Error(`codec: our encoding of the ${name} response differs from the SDK's`);
    return {
      request: name,
      bytes: bytes.length,
      decodeSdkUs: timeUs(() => RunFunctionRequest.decode(bytes), budgetMs),
      decodeWholeUs: timeUs(() => decodeRunFunctionRequest(bytes), budgetMs),
      decodeProjectedUs: timeUs(() => decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), budgetMs),
      encodeSdkUs: timeUs(() => RunFunctionResponse.encode(rsp).finish(), budgetMs),
      encodeOursUs: timeUs(() => encodeRunFunctionResponse(rsp), budgetMs),
      responseBytes: sdkBytes.length,
    };
  });
}
