// The wire codec on its own primitives against the same codec on
// @bufbuild/protobuf's BinaryReader/BinaryWriter (bench/wire-bufbuild.ts), side
// by side in one run: `npm run bench:wire` (about a minute and a half).
//
// esbuild bundles this file twice from the sources, once as it is and once with
// function/protobuf.ts's Reader and Writer replaced, for request.ts and
// response.ts, by the bufbuild-backed ones; so each variant is its own code
// with its own type feedback. The two bundles then run in alternating child
// processes (WIRE_ROUNDS rounds, default 3), each timing, on the bench's
// reference and scale-100 requests, decoding (whole, and projected as the
// function decodes) and encoding the function's response. A cell's figure is
// its best 25 ms window (the least disturbed by other work on the machine); the
// table shows the median over rounds and the best round.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RunFunctionRequest, RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { REQUEST_PROJECTION } from '../function/ack.js';
import { runFunction } from '../function/handler.js';
import { decodeRunFunctionRequest } from '../function/request.js';
import { encodeRunFunctionResponse } from '../function/response.js';
import { buildRequest, repoRoot } from './reference-request.js';

/** bufbuild-node-utf8: the bufbuild bundle with BinaryReader decoding UTF-8 through Buffer, as ours does. */
const VARIANTS = ['ours', 'bufbuild', 'bufbuild-node-utf8'] as const;
type Variant = (typeof VARIANTS)[number];
type Cells = Record<string, number>;

const NOW = new Date('2026-11-26T00:00:00Z');

/** Best microseconds per call of `f` over `windows` windows of `ms` each, after a warm-up of `warmMs`. */
function bestUs(f: () => unknown, windows: number, ms = 25, warmMs = 200): number {
  const run = (budget: number) => {
    const start = process.hrtime.bigint();
    const end = start + BigInt(budget * 1e6);
    let n = 0;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 5; i++) f();
      n += 5;
      now = process.hrtime.bigint();
    }
    return Number(now - start) / 1e3 / n;
  };
  run(warmMs);
  let best = Infinity;
  for (let w = 0; w < windows; w++) best = Math.min(best, run(ms));
  return best;
}

/** One child: time every cell with the codec this bundle was built with. */
function cells(): Cells {
  const out: Cells = {};
  for (const name of ['reference', 'scale-100']) {
    const bytes = Buffer.from(RunFunctionRequest.encode(buildRequest(name)).finish());
    const rsp = runFunction(decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), { now: () => NOW });
    // Both variants must give the SDK's answers before their speed means anything.
    if (!encodeRunFunctionResponse(rsp).equals(Buffer.from(RunFunctionResponse.encode(rsp).finish()))) {
      throw new Error(`${name}: the encoded response differs from the SDK's`);
    }
    if (JSON.stringify(decodeRunFunctionRequest(bytes)) !== JSON.stringify(RunFunctionRequest.decode(bytes))) {
      throw new Error(`${name}: the decoded request differs from the SDK's`);
    }
    const windows = name === 'reference' ? 30 : 8;
    out[`${name} decode whole`] = bestUs(() => decodeRunFunctionRequest(bytes), windows);
    out[`${name} decode projected`] = bestUs(() => decodeRunFunctionRequest(bytes, REQUEST_PROJECTION), windows);
    out[`${name} encode response`] = bestUs(() => encodeRunFunctionResponse(rsp), windows);
  }
  return out;
}

async function bundle(variant: 'ours' | 'bufbuild'): Promise<string> {
  const { build } = await import('esbuild');
  const root = repoRoot();
  const outDir = join(root, 'dist', 'bench');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `wire-primitives-${variant}.mjs`);
  const replacement = join(root, 'bench', 'wire-bufbuild.ts');
  await build({
    entryPoints: [join(root, 'bench', 'wire-primitives.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    plugins:
      variant === 'bufbuild'
        ? [
            {
              name: 'bufbuild-primitives',
              setup(b) {
                b.onResolve({ filter: /\/protobuf\.js$/ }, (args) =>
                  /function[\\/](request|response)\.ts$/.test(args.importer) ? { path: replacement } : undefined,
                );
              },
            },
          ]
        : [],
  });
  return outfile;
}

async function main(): Promise<void> {
  if (process.argv.includes('--cells')) {
    process.stdout.write(JSON.stringify(cells()));
    return;
  }
  const rounds = Number(process.env['WIRE_ROUNDS'] ?? 3);
  const bundles = {} as Record<Variant, string>;
  bundles.ours = await bundle('ours');
  bundles.bufbuild = bundles['bufbuild-node-utf8'] = await bundle('bufbuild');
  const results: Record<string, Record<Variant, number[]>> = {};
  for (let round = 0; round < rounds; round++) {
    for (const v of VARIANTS) {
      const env = { ...process.env, WIRE_BUFBUILD_NODE_UTF8: v === 'bufbuild-node-utf8' ? '1' : '0' };
      const child = spawnSync(process.execPath, [bundles[v], '--cells'], { encoding: 'utf8', cwd: repoRoot(), env });
      if (child.status !== 0) throw new Error(`${v}: ${child.stderr}`);
      for (const [cell, us] of Object.entries(JSON.parse(child.stdout) as Cells)) {
        ((results[cell] ??= { ours: [], bufbuild: [], 'bufbuild-node-utf8': [] })[v]).push(us);
      }
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const fmt = (a: number[]) => `${median(a).toFixed(2)} (${Math.min(...a).toFixed(2)})`;
  console.log(`wire codec primitives, us per call: median of ${rounds} rounds of the best 25 ms window (best round); Node ${process.version}`);
  console.log(`${'cell'.padEnd(28)}${VARIANTS.map((v) => v.padEnd(22)).join('')}ratios to ours`);
  for (const [cell, r] of Object.entries(results)) {
    const ratios = VARIANTS.slice(1).map((v) => `x${(median(r[v]) / median(r.ours)).toFixed(2)}`);
    console.log(`${cell.padEnd(28)}${VARIANTS.map((v) => fmt(r[v]).padEnd(22)).join('')}${ratios.join(' ')}`);
  }
}

await main();
