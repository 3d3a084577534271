// `npm run plan`: the schedule printer. formatSchedule() is pure and tested on
// its text; runPlanCli() on files and exit codes; and the compiled CLI is run
// as a child process, as `npm run plan` runs it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSchedule, humanDuration, parsePlanArgs, readXR, runPlanCli, PlanCliError } from '../function/cli/plan-cli.js';
import { lambdaCanarySpecSchema, type LambdaCanarySpec } from '../function/api/schema.js';

const repo = resolve(import.meta.dirname, '..');
const START = new Date('2026-11-26T10:00:00Z');
const tmp = mkdtempSync(join(tmpdir(), 'plan-cli-'));
const cleanup: string[] = [tmp];
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function spec(s: Record<string, unknown>): LambdaCanarySpec {
  return lambdaCanarySpecSchema.parse({ function: { name: 'orders-api' }, alias: { name: 'live' }, ...s });
}

function rollout(strategy: Record<string, unknown>, target: Record<string, unknown> = { version: '42' }): LambdaCanarySpec {
  return spec({ rollout: { target, strategy } });
}

/** The table rows of a schedule, as arrays of cells. */
function rows(text: string): string[][] {
  const lines = text.split('\n');
  const head = lines.findIndex((l) => l.startsWith('STEP'));
  const out: string[][] = [];
  for (const l of lines.slice(head + 1)) {
    if (l.trim() === '') break;
    out.push(l.split(/ {2,}/));
  }
  return out;
}

function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const XR = `apiVersion: canary.lambda.fn.crossplane.io/v1alpha1
kind: LambdaCanary
metadata:
  name: orders
  namespace: team-a
spec:
  function:
    name: orders-api
  alias:
    name: live
  rollout:
    target:
      versionRef:
        from:
          name: orders-api-v42
    strategy:
      preset: Canary10Percent5Minutes
`;

describe('formatSchedule', () => {
  it('Canary10Percent5Minutes: the whole text', () => {
    expect(formatSchedule(rollout({ preset: 'Canary10Percent5Minutes' }), START, { name: 'team-a/orders', namespace: 'team-a' })).toBe(
      [
        'LambdaCanary team-a/orders: alias live of function orders-api',
        'Rollout to version 42, strategy Canary10Percent5Minutes: 2 steps',
        'Start: 2026-11-26T10:00:00Z',
        '',
        'STEP  TARGET  STABLE  STARTS  AT                    HOLDS',
        '1     10%     90%     +0m     2026-11-26T10:00:00Z  5m',
        '2     100%    0%      +5m     2026-11-26T10:05:00Z  done: target becomes stable',
        '',
        'Minimum duration: 5m.',
        'Each step also waits for ACK to report the Alias synced at its weight; spec.rollout.paused holds, promote skips to 100%, abort returns to stable.',
        '',
      ].join('\n'),
    );
  });

  it('Linear10PercentEvery1Minute: ten steps a minute apart, 9 minutes in all', () => {
    const text = formatSchedule(rollout({ preset: 'Linear10PercentEvery1Minute' }), START);
    expect(rows(text)).toEqual([
      ['1', '10%', '90%', '+0m', '2026-11-26T10:00:00Z', '1m'],
      ['2', '20%', '80%', '+1m', '2026-11-26T10:01:00Z', '1m'],
      ['3', '30%', '70%', '+2m', '2026-11-26T10:02:00Z', '1m'],
      ['4', '40%', '60%', '+3m', '2026-11-26T10:03:00Z', '1m'],
      ['5', '50%', '50%', '+4m', '2026-11-26T10:04:00Z', '1m'],
      ['6', '60%', '40%', '+5m', '2026-11-26T10:05:00Z', '1m'],
      ['7', '70%', '30%', '+6m', '2026-11-26T10:06:00Z', '1m'],
      ['8', '80%', '20%', '+7m', '2026-11-26T10:07:00Z', '1m'],
      ['9', '90%', '10%', '+8m', '2026-11-26T10:08:00Z', '1m'],
      ['10', '100%', '0%', '+9m', '2026-11-26T10:09:00Z', 'done: target becomes stable'],
    ]);
    expect(text).toContain('Minimum duration: 9m.');
    expect(text).toContain('strategy Linear10PercentEvery1Minute: 10 steps');
  });

  it('the longer presets add up: Canary10Percent30Minutes 30m, Linear10PercentEvery10Minutes 1h30m', () => {
    expect(formatSchedule(rollout({ preset: 'Canary10Percent30Minutes' }), START)).toContain('Minimum duration: 30m.');
    const linear = formatSchedule(rollout({ preset: 'Linear10PercentEvery10Minutes' }), START);
    expect(linear).toContain('Minimum duration: 1h30m.');
    expect(rows(linear).at(-1)).toEqual(['10', '100%', '0%', '+1h30m', '2026-11-26T11:30:00Z', 'done: target becomes stable']);
  });

  it('AllAtOnce: one step, no wait', () => {
    const text = formatSchedule(rollout({ preset: 'AllAtOnce' }), START);
    expect(rows(text)).toEqual([['1', '100%', '0%', '+0m', '2026-11-26T10:00:00Z', 'done: target becomes stable']]);
    expect(text).toContain('Minimum duration: 0s.');
  });

  it('custom steps: no pause, timed pauses, an indefinite pause, fractional weights, and the added final 100%', () => {
    const text = formatSchedule(
      rollout(
        {
          steps: [
            { weight: 5 },
            { weight: 12.5, pause: { duration: '90s' } },
            { weight: 33.33, pause: { duration: '1h30m' } },
            { weight: 50, pause: {} },
            { weight: 75, pause: { duration: '10m' } },
          ],
        },
        { versionRef: { from: { name: 'orders-api-v42' } } },
      ),
      START,
      { namespace: 'team-a' },
    );
    expect(text).toContain('Rollout to ACK Version team-a/orders-api-v42, strategy custom steps (5 in the spec): 6 steps');
    expect(rows(text)).toEqual([
      ['1', '5%', '95%', '+0m', '2026-11-26T10:00:00Z', 'until synced'],
      ['2', '12.5%', '87.5%', '+0m', '2026-11-26T10:00:00Z', '1m30s'],
      ['3', '33.33%', '66.67%', '+1m30s', '2026-11-26T10:01:30Z', '1h30m'],
      ['4', '50%', '50%', '+1h31m30s', '2026-11-26T11:31:30Z', 'until resumed'],
      ['5', '75%', '25%', 'at resume 1', '-', '10m'],
      ['6', '100%', '0%', 'resume 1 +10m', '-', 'done: target becomes stable'],
    ]);
    expect(text).toContain('Minimum duration: 1h41m30s, plus 1 manual resume (change spec.rollout.resume).');
  });

  it('several indefinite pauses are counted', () => {
    const text = formatSchedule(
      rollout({
        steps: [
          { weight: 10, pause: {} },
          { weight: 50, pause: {} },
        ],
      }),
      START,
    );
    expect(rows(text).map((r) => r[3])).toEqual(['+0m', 'at resume 1', 'at resume 2']);
    expect(text).toContain('Minimum duration: 0s, plus 2 manual resumes (change spec.rollout.resume).');
  });

  it('a final custom step of 100% is not doubled', () => {
    const text = formatSchedule(rollout({ steps: [{ weight: 50, pause: { duration: '2m' } }, { weight: 100 }] }), START);
    expect(rows(text)).toHaveLength(2);
  });

  it('says where a running rollout is, from its status', () => {
    const text = formatSchedule(rollout({ preset: 'Linear10PercentEvery1Minute' }), START, {
      rolloutStatus: { phase: 'Progressing', step: 4, totalSteps: 10, weight: 40, stableVersion: '41' },
    });
    expect(text).toContain('Now (from status): Progressing, step 4 of 10, 40% on target, stable version 41.');
  });

  it('manual mode prints the single split', () => {
    const split = (s: Record<string, unknown>) => formatSchedule(spec(s), START).split('\n').slice(1).join('\n');
    expect(split({ stable: { version: '41' }, canary: { version: '42', weight: 12.5 } })).toBe(
      'Manual mode: the spec sets the split; nothing moves on a schedule.\n  87.5% to version 41 (stable), 12.5% to version 42 (canary)\n',
    );
    expect(split({ stable: { version: '41' } })).toContain('  100% to version 41 (stable)\n');
    expect(split({ stable: { version: '41' }, canary: { version: '42', weight: 0 } })).toContain('100% to version 41 (stable), 0% to version 42 (canary)');
    expect(split({ stable: { version: '41' }, canary: { versionRef: { from: { name: 'v42', namespace: 'ns' } }, weight: 100 } })).toContain(
      '100% to ACK Version ns/v42 (canary), 0% to version 41 (stable)',
    );
    expect(formatSchedule(spec({ stable: { version: '41' } }), START)).not.toContain('STEP');
  });

  it('is pure: the same spec and start give the same text, whatever the clock says', () => {
    const s = rollout({ preset: 'Linear10PercentEvery2Minutes' });
    const a = formatSchedule(s, START);
    const b = formatSchedule(structuredClone(s), new Date(START));
    expect(a).toBe(b);
    expect(formatSchedule(s, new Date('2027-01-01T00:00:00Z'))).toContain('2027-01-01T00:18:00Z');
  });
});

describe('humanDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [90_000, '1m30s'],
    [300_000, '5m'],
    [5_400_000, '1h30m'],
    [3_600_000, '1h'],
    [3_661_500, '1h1m1s500ms'],
  ])('%d ms -> %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('arguments and input', () => {
  it('parses the file and --start in both spellings', () => {
    expect(parsePlanArgs(['xr.yaml'])).toEqual({ file: 'xr.yaml', help: false });
    expect(parsePlanArgs(['xr.yaml', '--start', '2026-11-26T10:00:00Z']).start).toEqual(START);
    expect(parsePlanArgs(['--start=2026-11-26T10:00:00Z', 'xr.yaml'])).toEqual({ file: 'xr.yaml', start: START, help: false });
    expect(parsePlanArgs(['--help']).help).toBe(true);
  });

  it.each([
    [[], /missing the XR file/],
    [['a.yaml', 'b.yaml'], /one XR file at a time/],
    [['xr.yaml', '--start'], /--start needs a time/],
    [['xr.yaml', '--start', 'tomorrow'], /"tomorrow" is not an ISO time/],
    [['xr.yaml', '--verbose'], /unknown flag --verbose/],
  ])('rejects %j as a usage error (exit 2)', (argv, message) => {
    let caught: unknown;
    try {
      parsePlanArgs(argv);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PlanCliError);
    expect((caught as PlanCliError).message).toMatch(message);
    expect((caught as PlanCliError).exitCode).toBe(2);
  });

  it('picks the one LambdaCanary out of a multi-document file', () => {
    const xr = readXR(`apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\n${XR}`, 'f.yaml');
    expect(xr.kind).toBe('LambdaCanary');
    expect(() => readXR('', 'empty.yaml')).toThrow(/holds no YAML object/);
    expect(() => readXR(`${XR}---\n${XR}`, 'two.yaml')).toThrow(/2 LambdaCanary; keep one/);
    expect(() => readXR('spec: [unclosed', 'bad.yaml')).toThrow(/bad\.yaml: not valid YAML/);
  });

  function run(argv: string[]): { code: number; out: string; err: string } {
    let out = '';
    let err = '';
    const code = runPlanCli(argv, { out: (s) => (out += s), err: (s) => (err += s), now: () => START });
    return { code, out, err };
  }

  it('prints the schedule of a file, from now when --start is not given', () => {
    const r = run([file('ok.yaml', XR)]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('LambdaCanary team-a/orders: alias live of function orders-api');
    expect(r.out).toContain('Rollout to ACK Version team-a/orders-api-v42');
    expect(r.out).toContain('Start: 2026-11-26T10:00:00Z');
  });

  it('an invalid spec exits 1 with a message naming the field', () => {
    const r = run([file('bad-preset.yaml', XR.replace('Canary10Percent5Minutes', 'Canary10Percent7Minutes'))]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^plan: .*bad-preset\.yaml: invalid LambdaCanary orders: spec\.rollout\.strategy\.preset: /);

    const both = run([
      file('bad-steps.yaml', XR.replace('preset: Canary10Percent5Minutes', 'steps:\n        - weight: 10\n          pause: {duration: 5 minutes}')),
    ]);
    expect(both.code).toBe(1);
    expect(both.err).toContain('spec.rollout.strategy.steps[0].pause.duration: must be a duration such as 30s, 5m or 1h30m');

    const missing = run([file('no-alias.yaml', XR.replace('  alias:\n    name: live\n', ''))]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('spec.alias: is required');
  });

  it('a missing file or broken YAML exits 1; a usage error exits 2 with the usage', () => {
    expect(run([join(tmp, 'nope.yaml')])).toMatchObject({ code: 1, err: expect.stringMatching(/nope\.yaml: no such file/) });
    expect(run([file('broken.yaml', 'spec: [unclosed')])).toMatchObject({ code: 1, err: expect.stringMatching(/not valid YAML/) });
    const usage = run([]);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('usage: npm run plan -- <xr.yaml> [--start <ISO time>]');
  });
});

describe('the compiled CLI', () => {
  let cli: string;

  beforeAll(() => {
    // `npm run plan` = `tsc -p tsconfig.json` then `node dist/function/cli/plan-cli.js`.
    // Compile the same project into a private dist so the shared one is not rewritten under other tests.
    const root = mkdtempSync(join(tmpdir(), 'plan-cli-build-'));
    cleanup.push(root);
    cpSync(join(repo, 'package.json'), join(root, 'package.json'));
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
    const tsc = spawnSync(
      process.execPath,
      [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.json'), '--outDir', join(root, 'dist')],
      {
        cwd: repo,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    // The function itself must compile cleanly; work in progress elsewhere in the project must not hide the CLI.
    const own = (tsc.stdout + tsc.stderr).split('\n').filter((l) => l.startsWith('function/'));
    expect(own).toEqual([]);
    cli = join(root, 'dist/function/cli/plan-cli.js');
    expect(existsSync(cli)).toBe(true);
  }, 300_000);

  function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env['PATH'] ?? '', TZ: 'UTC' } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('prints a temp XR file schedule with --start and exits 0', () => {
    const xr = file('cli.yaml', XR.replace('Canary10Percent5Minutes', 'Linear10PercentEvery2Minutes'));
    const r = node([xr, '--start', '2026-11-26T10:00:00Z']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      formatSchedule(
        lambdaCanarySpecSchema.parse((readXR(XR.replace('Canary10Percent5Minutes', 'Linear10PercentEvery2Minutes'), 'x') as { spec: unknown }).spec),
        START,
        {
          name: 'team-a/orders',
          namespace: 'team-a',
        },
      ),
    );
    expect(r.stdout).toContain('10    100%    0%      +18m    2026-11-26T10:18:00Z  done: target becomes stable');
    expect(r.stdout).toContain('Minimum duration: 18m.');
  });

  it('starts from now without --start', () => {
    const before = Date.now();
    const r = node([file('now.yaml', XR)]);
    expect(r.status).toBe(0);
    const start = Date.parse(/Start: (\S+)/.exec(r.stdout)![1]!);
    expect(start).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(start).toBeLessThanOrEqual(Date.now());
  });

  it('exits 1 naming the field on an invalid spec, and 2 on a usage error', () => {
    const bad = node([file('cli-bad.yaml', XR.replace('name: live', 'name: "2026"'))]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('spec.alias.name: must be a Lambda alias name');
    const usage = node([]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('usage:');
  });

  it('prints the README example (examples/rollout-linear-midway)', () => {
    const example = join(repo, 'examples/rollout-linear-midway/xr.yaml');
    const r = node([example, '--start', '2026-11-26T10:00:00Z']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Rollout to ACK Version team-a/orders-api-v42, strategy Linear10PercentEvery1Minute: 10 steps');
    expect(r.stdout).toContain('Now (from status): Progressing, step 4 of 10, 40% on target, stable version 41.');
  });
});
