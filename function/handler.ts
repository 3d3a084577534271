// Placeholder: the real handler (request -> pure planner -> response) replaces this.
import type { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { to, normal } from '@crossplane-org/function-sdk-typescript';
import type { Logger } from 'pino';

export interface HandlerOptions {
  /** The clock; injected so tests control time. */
  now?: () => Date;
  logger?: Logger;
}

/** Runs one RunFunction call. Never throws: failures become Fatal results. */
export function runFunction(req: RunFunctionRequest, _opts: HandlerOptions = {}): RunFunctionResponse {
  const rsp = to(req);
  normal(rsp, 'placeholder');
  return rsp;
}
