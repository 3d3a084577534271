#!/usr/bin/env node
// `npm run plan -- <xr.yaml> [--start <ISO time>]`: prints the schedule a
// LambdaCanary's rollout strategy would follow, before it merges. Reads the XR
// (or claim) YAML, validates its spec with the same schema the function uses,
// and prints every step: weight on target and on stable, when it starts
// (relative and absolute), how long it holds, and the minimum total duration.
// In manual mode it prints the one split the spec asks for.
//
// Everything but argument handling and I/O is pure: formatSchedule().
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { describeIssues } from '../api/errors.js';
import { isRecord } from '../core/k8s.js';
import { lambdaCanarySpecSchema, type LambdaCanarySpec, type VersionSelector } from '../api/schema.js';
import { strategySteps } from '../core/strategy.js';
import { percentToBasisPoints } from '../core/weights.js';

const PROGRAM = 'plan';

export interface ScheduleContext {
  /** namespace/name of the XR, for the heading. */
  name?: string;
  /** The XR's namespace: where references without one point. */
  namespace?: string;
  /** The XR's status.rollout, to say where a running rollout is now. */
  rolloutStatus?: unknown;
}

/** A duration as people write it: 0s, 90s -> 1m30s, 5400000 -> 1h30m, 500ms. */
export function humanDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}

/** Relative start times read best in minutes: +0m, +5m, +1h30m, +1m30s. */
function relative(ms: number): string {
  return ms === 0 ? '+0m' : `+${humanDuration(ms)}`;
}

/** ISO time to the second (or millisecond, when it has one). */
function absolute(t: Date): string {
  return t.toISOString().replace('.000Z', 'Z');
}

function percent(basisPoints: number): string {
  return `${basisPoints / 100}%`;
}

function describeSelector(sel: VersionSelector, namespace: string | undefined): string {
  if (sel.version !== undefined) return `version ${sel.version}`;
  const from = sel.versionRef!.from;
  const ns = from.namespace ?? namespace;
  return `ACK Version ${ns !== undefined ? `${ns}/` : ''}${from.name}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * The schedule of spec.rollout.strategy from `start`, or the single split of
 * manual mode, as printable text. Pure: same spec and start, same text.
 */
export function formatSchedule(spec: LambdaCanarySpec, start: Date, ctx: ScheduleContext = {}): string {
  const out: string[] = [];
  const fn =
    spec.function.name ??
    `ACK Function ${spec.function.ref!.from.namespace ?? ctx.namespace ?? ''}${(spec.function.ref!.from.namespace ?? ctx.namespace) ? '/' : ''}${spec.function.ref!.from.name}`;
  out.push(`LambdaCanary ${ctx.name ?? ''}${ctx.name ? ': ' : ''}alias ${spec.alias.name} of function ${fn}`);

  if (spec.rollout === undefined) {
    const stable = describeSelector(spec.stable!, ctx.namespace);
    const w = percentToBasisPoints(spec.canary?.weight ?? 0);
    out.push('Manual mode: the spec sets the split; nothing moves on a schedule.');
    if (spec.canary === undefined || w === 0) {
      out.push(`  100% to ${stable} (stable)${spec.canary !== undefined ? `, 0% to ${describeSelector(spec.canary, ctx.namespace)} (canary)` : ''}`);
    } else if (w >= 10000) {
      out.push(`  100% to ${describeSelector(spec.canary, ctx.namespace)} (canary), 0% to ${stable} (stable)`);
    } else {
      out.push(`  ${percent(10000 - w)} to ${stable} (stable), ${percent(w)} to ${describeSelector(spec.canary, ctx.namespace)} (canary)`);
    }
    return `${out.join('\n')}\n`;
  }

  const rollout = spec.rollout;
  const steps = strategySteps(rollout.strategy);
  const strategy = rollout.strategy.preset ?? `custom steps (${rollout.strategy.steps!.length} in the spec)`;
  out.push(`Rollout to ${describeSelector(rollout.target, ctx.namespace)}, strategy ${strategy}: ${steps.length} step${steps.length === 1 ? '' : 's'}`);
  out.push(`Start: ${absolute(start)}`);

  const rows: string[][] = [['STEP', 'TARGET', 'STABLE', 'STARTS', 'AT', 'HOLDS']];
  let offset = 0; // ms since start, or since the last resume
  let resumes = 0; // indefinite pauses passed so far
  let timed = 0; // total of timed pauses
  for (const [i, step] of steps.entries()) {
    const w = Math.min(10000, percentToBasisPoints(step.weight));
    const last = i === steps.length - 1;
    const starts = resumes === 0 ? relative(offset) : offset === 0 ? `at resume ${resumes}` : `resume ${resumes} ${relative(offset)}`;
    const at = resumes === 0 ? absolute(new Date(start.getTime() + offset)) : '-';
    let holds: string;
    if (step.pauseMs === null) holds = 'until resumed';
    else if (last) holds = w >= 10000 ? 'done: target becomes stable' : humanDuration(step.pauseMs);
    else if (step.pauseMs === 0) holds = 'until synced';
    else holds = humanDuration(step.pauseMs);
    rows.push([String(i + 1), percent(w), percent(10000 - w), starts, at, holds]);
    if (step.pauseMs === null) {
      resumes++;
      offset = 0;
    } else if (!last) {
      offset += step.pauseMs;
      timed += step.pauseMs;
    }
  }
  out.push('', ...table(rows), '');
  const manual = resumes > 0 ? `, plus ${resumes} manual resume${resumes === 1 ? '' : 's'} (change spec.rollout.resume)` : '';
  out.push(`Minimum duration: ${humanDuration(timed)}${manual}.`);
  out.push('Each step also waits for ACK to report the Alias synced at its weight; spec.rollout.paused holds, promote skips to 100%, abort returns to stable.');

  const status = ctx.rolloutStatus;
  if (isRecord(status) && typeof status.phase === 'string') {
    const where = typeof status.step === 'number' && typeof status.totalSteps === 'number' ? `, step ${status.step} of ${status.totalSteps}` : '';
    const weight = typeof status.weight === 'number' ? `, ${status.weight}% on target` : '';
    const stable = typeof status.stableVersion === 'string' ? `, stable version ${status.stableVersion}` : '';
    out.push(`Now (from status): ${status.phase}${where}${weight}${stable}.`);
  }
  return `${out.join('\n')}\n`;
}

export class PlanCliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface PlanArgs {
  file: string;
  start?: Date;
  help: boolean;
}

export const USAGE = `usage: npm run plan -- <xr.yaml> [--start <ISO time>]

Prints the schedule of a LambdaCanary's spec.rollout.strategy (or the split of
manual mode). --start sets the time step 1 starts (default: now).
`;

export function parsePlanArgs(argv: string[]): PlanArgs {
  // Not strict, so that unknown flags and a missing value come back as tokens
  // and get this CLI's messages rather than parseArgs's.
  const { tokens } = parseArgs({
    args: argv,
    options: { start: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let file: string | undefined;
  let start: Date | undefined;
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') throw new PlanCliError('unknown flag --', 2);
    if (token.kind === 'positional') {
      if (file !== undefined) throw new PlanCliError(`one XR file at a time; got ${file} and ${token.value}`, 2);
      file = token.value;
    } else if (token.name === 'help' && token.value === undefined) {
      help = true;
    } else if (token.name === 'start') {
      const value = token.value;
      if (value === undefined || value === '') throw new PlanCliError('--start needs a time, such as 2026-11-26T10:00:00Z', 2);
      const t = new Date(value);
      if (Number.isNaN(t.getTime())) throw new PlanCliError(`--start: ${JSON.stringify(value)} is not an ISO time such as 2026-11-26T10:00:00Z`, 2);
      start = t;
    } else {
      throw new PlanCliError(`unknown flag ${token.rawName}${token.inlineValue ? `=${token.value}` : ''}`, 2);
    }
  }
  if (file === undefined && !help) throw new PlanCliError('missing the XR file', 2);
  return { file: file ?? '', ...(start !== undefined ? { start } : {}), help };
}

/** The XR document in a YAML text: the only one, or the only LambdaCanary among several. */
export function readXR(text: string, source: string): Record<string, unknown> {
  const docs = parseAllDocuments(text);
  const objects: Record<string, unknown>[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new PlanCliError(`${source}: not valid YAML: ${d.errors[0]!.message}`, 1);
    const value: unknown = d.toJS();
    if (isRecord(value)) objects.push(value);
  }
  const canaries = objects.filter((o) => typeof o.kind === 'string' && /LambdaCanary$/.test(o.kind));
  const chosen = objects.length === 1 ? objects[0] : canaries.length === 1 ? canaries[0] : undefined;
  if (chosen === undefined) {
    throw new PlanCliError(
      objects.length === 0
        ? `${source}: holds no YAML object; expected a LambdaCanary`
        : `${source}: holds ${objects.length} documents and ${canaries.length} LambdaCanary; keep one`,
      1,
    );
  }
  return chosen;
}

/** Runs the CLI; returns the exit code. */
export function runPlanCli(argv: string[], io: { out: (s: string) => void; err: (s: string) => void; now: () => Date }): number {
  try {
    const args = parsePlanArgs(argv);
    if (args.help) {
      io.out(USAGE);
      return 0;
    }
    let text: string;
    try {
      text = readFileSync(args.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new PlanCliError(`${args.file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 1);
    }
    const xr = readXR(text, args.file);
    const meta = isRecord(xr.metadata) ? xr.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : undefined;
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const parsed = lambdaCanarySpecSchema.safeParse(xr.spec ?? {});
    if (!parsed.success) throw new PlanCliError(`${args.file}: invalid LambdaCanary${name ? ` ${name}` : ''}: ${describeIssues('spec', parsed.error)}`, 1);
    const status = isRecord(xr.status) ? xr.status.rollout : undefined;
    io.out(
      formatSchedule(parsed.data, args.start ?? io.now(), {
        ...(name !== undefined ? { name: namespace !== undefined ? `${namespace}/${name}` : name } : {}),
        ...(namespace !== undefined ? { namespace } : {}),
        ...(status !== undefined ? { rolloutStatus: status } : {}),
      }),
    );
    return 0;
  } catch (err) {
    if (!(err instanceof PlanCliError)) throw err;
    io.err(`${PROGRAM}: ${err.message}\n${err.exitCode === 2 ? USAGE : ''}`);
    return err.exitCode;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = runPlanCli(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    now: () => new Date(),
  });
}
