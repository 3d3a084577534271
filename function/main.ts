#!/usr/bin/env node
// Process entry. Everything worth testing lives in flags.ts, server.ts and
// process.ts; this file only names the program.
import { runFunctionProcess } from './server/process.js';

await runFunctionProcess({ program: 'function-lambda-canary' });
