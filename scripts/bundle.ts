// The second half of `npm run build`: bundles the compiled entry point
// (dist/function/main.js, from tsc) and everything it imports into one ES
// module, dist/function-lambda-canary.mjs, the file the image runs. What it
// imports only lazily (the AWS SDK's CloudWatch client, for rollout analysis)
// goes to dist/function-lambda-canary-chunks/ beside it, with a small chunk
// of esbuild's helpers both load; the image copies that directory too.
//
// Why: startup (spawn to first answered RunFunction, target 300 ms) is mostly
// Node resolving, reading and compiling several hundred files under
// node_modules. Loading one file instead takes ready from about 240 to about
// 160 ms on the development VM (docs/performance.md, "Startup").
// As a side effect the image needs no node_modules at all.
//
// The bundle must stand alone, so the build fails if esbuild leaves anything
// but a Node built-in external, or warns (e.g. about a require() it cannot
// follow). Code paths of dependencies that read files next to their own
// modules cannot work from a bundle: grpc-js's channelz and ORCA services
// and pino's worker-thread transports; the function uses none of them.
//
// Next to the bundle: its source map (to the TypeScript sources, through
// tsc's maps; `node --enable-source-maps` uses it) and the licence texts of
// the bundled packages, which shipped as files in node_modules before.
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// This file runs as dist/scripts/bundle.js.
const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const entry = join(root, 'dist', 'function', 'main.js');
const BUNDLE = join(root, 'dist', 'function-lambda-canary.mjs');
const licences = join(root, 'dist', 'function-lambda-canary.licenses.txt');
/** Beside the bundle, under dist/: what it loads only when needed. The image copies the directory with the bundle. */
const CHUNKS = 'function-lambda-canary-chunks';
const NOOP_BUNDLE = join(root, 'dist', 'bench', 'noop-function.mjs');

const builtins = new Set(builtinModules);
const isBuiltin = (path: string) => builtins.has(path.startsWith('node:') ? path.slice(5) : path);

/**
 * Bundles one entry point; exits the build if the bundle would not stand alone.
 * With `chunks`, code the entry only loads with a dynamic import() (the AWS
 * SDK's CloudWatch client, loaded on a rollout's first measurement) goes to
 * files in that directory instead of the bundle, so a function that never
 * measures neither reads nor holds it (docs/performance.md, "Memory").
 */
async function bundle(entryPoint: string, outfile: string, chunks?: string) {
  const built = await build({
    absWorkingDir: root,
    entryPoints: [{ in: entryPoint, out: basename(outfile, '.mjs') }],
    outdir: dirname(outfile),
    outExtension: { '.js': '.mjs' },
    ...(chunks !== undefined ? { splitting: true, chunkNames: `${chunks}/[name]-[hash]` } : {}),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    // CommonJS dependencies call require() for Node built-ins; an ES module has
    // no require, so give the bundle (and each chunk) one.
    banner: {
      js: "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);",
    },
  });
  const problems = built.warnings.map((w) => `warning: ${w.text}${w.location ? ` (${w.location.file}:${w.location.line})` : ''}`);
  for (const output of Object.values(built.metafile.outputs)) {
    for (const imp of output.imports) {
      if (imp.external && !isBuiltin(imp.path)) problems.push(`left external: ${imp.path}`);
    }
  }
  if (problems.length > 0) {
    process.stderr.write(`bundle: ${relative(root, outfile)} would not stand alone:\n  ${problems.join('\n  ')}\n`);
    process.exit(1);
  }
  return built;
}

// Chunks from an earlier build would be shipped beside the new ones.
rmSync(join(root, 'dist', CHUNKS), { recursive: true, force: true });
const result = await bundle(entry, BUNDLE, CHUNKS);
// The benchmark's no-op baseline is bundled the same way, so the two load
// alike. The image build compiles only function/, so there is none there.
const noopEntry = join(root, 'dist', 'bench', 'noop-function.js');
if (existsSync(noopEntry)) await bundle(noopEntry, NOOP_BUNDLE);

// One section per bundled package: name, version, licence, and its licence file(s).
const packages = new Set<string>();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(resolve(root, m[1]!));
}
const sections: string[] = [];
for (const dir of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
  const files = readdirSync(dir)
    .filter((f) => /^(licen[cs]e|copying|notice)/i.test(f))
    .sort();
  const texts = files.map((f) => readFileSync(join(dir, f), 'utf8').trim());
  if (texts.length === 0) texts.push('(the package ships no licence file)');
  sections.push(`${pkg.name}@${pkg.version}, licence: ${pkg.license ?? '(none declared)'}\n\n${texts.join('\n\n')}`);
}
writeFileSync(
  licences,
  `Third-party packages bundled into function-lambda-canary.mjs, with their licences.\n\n${sections.join(`\n\n${'-'.repeat(78)}\n\n`)}\n`,
);

const mib = (file: string) => (readFileSync(file).length / 1024 / 1024).toFixed(1);
const chunkFiles = readdirSync(join(root, 'dist', CHUNKS)).filter((f) => f.endsWith('.mjs'));
process.stdout.write(
  `bundle: ${relative(root, BUNDLE)} (${mib(BUNDLE)} MiB, ${packages.size} packages, ` +
    `${Object.keys(result.metafile.inputs).length} files; loaded when needed: ` +
    `${chunkFiles.map((f) => `${CHUNKS}/${f} (${mib(join(root, 'dist', CHUNKS, f))} MiB)`).join(', ')})\n`,
);
