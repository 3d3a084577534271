#!/usr/bin/env node
// Summarises a V8 CPU profile (node --cpu-prof) the way docs/performance.md
// reports it: self time by package (node_modules/<pkg>), by file of ours
// (dist/function/*), Node core, GC and native code, as shares of busy time
// (idle excluded), then the busiest functions.
//
//   node dist/bench/profile-summary.js /tmp/prof/CPU.*.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, one of our files, Node core, or a V8 pseudo-frame. */
export function category(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName === '' ? '(native)' : functionName;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/dist\/(function|bench)\/(.+)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node core';
  return url;
}

export function summarise(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    busy += us;
    const c = category(frame);
    byCategory.set(c, (byCategory.get(c) ?? 0) + us);
    const f = `${c} ${frame.functionName || '(anonymous)'}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const lines = [`busy ${(busy / 1000).toFixed(0)} ms (idle excluded); self time by where the code lives:`];
  for (const [c, us] of [...byCategory].sort((a, b) => b[1] - a[1])) if (us / busy >= 0.005) lines.push(`${pct(us)}  ${c}`);
  lines.push('', `busiest ${top} functions (self time):`);
  for (const [f, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)}  ${f}`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const usage = 'usage: node dist/bench/profile-summary.js <file.cpuprofile> [--top N]\n';
  let parsed;
  try {
    parsed = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    process.stderr.write(`profile-summary: ${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    process.stderr.write(usage);
    process.exit(2);
  }
  const top = parsed.values.top === undefined ? 25 : Number(parsed.values.top);
  if (!Number.isInteger(top) || top < 1) {
    process.stderr.write(`profile-summary: --top must be a whole number of at least 1, got "${parsed.values.top}"\n${usage}`);
    process.exit(2);
  }
  process.stdout.write(`${summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top)}\n`);
}
