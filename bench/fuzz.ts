#!/usr/bin/env node
// `npm run fuzz`: the property-based invariants of test/property.test.ts, and
// the wire codec's of test/protobuf.test.ts and test/projection.test.ts, over
// many more generated requests (default 100,000) with a random or given seed.
// Prints the seed, the number of cases, cases per second and, on failure, the
// shrunk counterexample with the invariants it breaks; exits 1 then.
//
//   npm run fuzz                          # 100,000 cases, random seed
//   npm run fuzz -- --runs 500000 --seed 424242
//   FUZZ_RUNS=20000 FUZZ_SEED=7 npm run fuzz
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { checkInvariants, checkWireCodec, describeCase, fuzzCaseArb, type FuzzCase } from '../test/support/arbitraries.js';

function readArgs(): { runs?: string; seed?: string } {
  try {
    return parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' } } }).values;
  } catch (err) {
    process.stderr.write(`fuzz: ${(err as Error).message} (flags: --runs N, --seed N)\n`);
    process.exit(2);
  }
}
const args = readArgs();

function intOption(name: 'runs' | 'seed', env: string | undefined, dflt: number): number {
  const raw = args[name] ?? env;
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) {
    process.stderr.write(`fuzz: --${name} must be an integer, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const runs = intOption('runs', process.env['FUZZ_RUNS'], 100_000);
const seed = intOption('seed', process.env['FUZZ_SEED'], (Math.random() * 2 ** 31) | 0);

process.stdout.write(`fuzz: ${runs} cases, seed ${seed}\n`);
let cases = 0;
const started = process.hrtime.bigint();
let lastReport = Date.now();
const details = fc.check(
  fc.property(fuzzCaseArb, (c: FuzzCase) => {
    cases++;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      process.stdout.write(`fuzz: ${cases} cases…\n`);
    }
    // The planner's invariants, then the wire codec's on the same request (crossing the wire is part of a call).
    const violations = checkInvariants(c);
    if (violations.length === 0) violations.push(...checkWireCodec(c));
    if (violations.length > 0) throw new Error(violations.join('\n'));
  }),
  { seed, numRuns: runs, endOnFailure: false },
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// During shrinking the property runs again; report the cases of the run proper.
const ran = details.failed ? details.numRuns : cases;
process.stdout.write(`fuzz: ${ran} cases in ${seconds.toFixed(1)} s = ${Math.round(ran / seconds)} cases/s (seed ${seed})\n`);

if (details.failed) {
  const ce = details.counterexample?.[0];
  process.stdout.write(`fuzz: FAILED after ${details.numRuns} cases (shrunk ${details.numShrinks} times); reproduce with --seed ${seed} --runs ${runs}\n`);
  process.stdout.write(`fuzz: path ${details.counterexamplePath ?? ''}\n`);
  if (ce !== undefined) {
    process.stdout.write(`fuzz: counterexample: ${describeCase(ce, 8_000)}\n`);
    const message = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    process.stdout.write(`fuzz: violations:\n  ${message.split('\n').join('\n  ')}\n`);
  } else {
    process.stdout.write(`fuzz: ${String(details.errorInstance)}\n`);
  }
  process.exit(1);
}
process.stdout.write('fuzz: all invariants held\n');
