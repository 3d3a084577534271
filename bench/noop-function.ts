#!/usr/bin/env node
// The benchmark's baseline: the same process stack as the real function (the
// same flags, pino logger, per-call Prometheus metrics, startFunctionServer
// and its SIGTERM drain, all from function/process.ts) with a handler that
// does nothing but answer `to(req)`. What the real function costs on top of
// this is the composition logic itself.
import { to } from '@crossplane-org/function-sdk-typescript';
import { runFunctionProcess } from '../function/process.js';

await runFunctionProcess({ program: 'noop-function', handler: (req) => to(req) });
