// Rollout strategies: every CodeDeploy preset, custom steps, and durations.
import { describe, expect, it } from 'vitest';
import { DURATION, ROLLOUT_PRESETS, rolloutSchema } from '../function/api/schema.js';
import { parseDuration, presetSteps, strategySteps, type Step } from '../function/core/strategy.js';

const S = 1000;
const MIN = 60 * S;

function linear(increment: number, everyMinutes: number): Step[] {
  const steps: Step[] = [];
  for (let w = increment; w < 100; w += increment) steps.push({ weight: w, pauseMs: everyMinutes * MIN });
  return [...steps, { weight: 100, pauseMs: 0 }];
}

describe('CodeDeploy presets', () => {
  const expected: Record<(typeof ROLLOUT_PRESETS)[number], Step[]> = {
    Canary10Percent5Minutes: [
      { weight: 10, pauseMs: 5 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
    Canary10Percent10Minutes: [
      { weight: 10, pauseMs: 10 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
    Canary10Percent15Minutes: [
      { weight: 10, pauseMs: 15 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
    Canary10Percent30Minutes: [
      { weight: 10, pauseMs: 30 * MIN },
      { weight: 100, pauseMs: 0 },
    ],
    Linear10PercentEvery1Minute: linear(10, 1),
    Linear10PercentEvery2Minutes: linear(10, 2),
    Linear10PercentEvery3Minutes: linear(10, 3),
    Linear10PercentEvery10Minutes: linear(10, 10),
    AllAtOnce: [{ weight: 100, pauseMs: 0 }],
  };

  it('covers every preset the API accepts', () => {
    expect(Object.keys(expected).sort()).toEqual([...ROLLOUT_PRESETS].sort());
  });

  for (const preset of ROLLOUT_PRESETS) {
    it(`${preset} expands to its CodeDeploy schedule`, () => {
      expect(presetSteps(preset)).toEqual(expected[preset]);
      expect(strategySteps({ preset })).toEqual(expected[preset]);
    });
  }

  it('Canary10Percent5Minutes: 10% for 5 minutes, then 100%', () => {
    expect(strategySteps({ preset: 'Canary10Percent5Minutes' })).toEqual([
      { weight: 10, pauseMs: 300_000 },
      { weight: 100, pauseMs: 0 },
    ]);
  });

  it('Linear10PercentEvery1Minute: 10, 20 .. 90 one minute each, then 100', () => {
    const steps = strategySteps({ preset: 'Linear10PercentEvery1Minute' });
    expect(steps.map((s) => s.weight)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(steps.slice(0, -1).every((s) => s.pauseMs === 60_000)).toBe(true);
    expect(steps.at(-1)).toEqual({ weight: 100, pauseMs: 0 });
  });

  it('AllAtOnce: a single 100% step', () => {
    expect(strategySteps({ preset: 'AllAtOnce' })).toEqual([{ weight: 100, pauseMs: 0 }]);
  });

  it('every preset rises strictly and ends at 100% with no pause', () => {
    for (const preset of ROLLOUT_PRESETS) {
      const steps = presetSteps(preset);
      for (let i = 1; i < steps.length; i++) expect(steps[i]!.weight).toBeGreaterThan(steps[i - 1]!.weight);
      expect(steps.at(-1)).toEqual({ weight: 100, pauseMs: 0 });
    }
  });

  it('an unknown preset fails loudly instead of rolling out nothing', () => {
    expect(() => presetSteps('Canary50PercentNever' as never)).toThrow(/unknown rollout preset/);
  });
});

describe('custom steps', () => {
  it('appends a final 100% step when the last step is below 100', () => {
    expect(
      strategySteps({
        steps: [
          { weight: 5, pause: { duration: '2m' } },
          { weight: 50, pause: {} },
        ],
      }),
    ).toEqual([
      { weight: 5, pauseMs: 2 * MIN },
      { weight: 50, pauseMs: null },
      { weight: 100, pauseMs: 0 },
    ]);
  });

  it('does not append a second 100% step when the last one is already 100', () => {
    expect(strategySteps({ steps: [{ weight: 25, pause: { duration: '30s' } }, { weight: 100 }] })).toEqual([
      { weight: 25, pauseMs: 30 * S },
      { weight: 100, pauseMs: 0 },
    ]);
    expect(strategySteps({ steps: [{ weight: 100, pause: { duration: '1m' } }] })).toEqual([{ weight: 100, pauseMs: MIN }]);
  });

  it('maps pause: none -> move on once synced (0), {} -> until resumed (null), duration -> ms', () => {
    const steps = strategySteps({
      steps: [{ weight: 10 }, { weight: 20, pause: {} }, { weight: 30, pause: { duration: '1h30m' } }],
    });
    expect(steps.map((s) => s.pauseMs)).toEqual([0, null, 90 * MIN, 0]);
  });

  it('keeps fractional weights as written', () => {
    expect(strategySteps({ steps: [{ weight: 0.5 }, { weight: 33.33 }] }).map((s) => s.weight)).toEqual([0.5, 33.33, 100]);
  });

  it('the schema accepts exactly one of preset or steps', () => {
    const target = { version: '2' };
    expect(rolloutSchema.safeParse({ target, strategy: { preset: 'AllAtOnce' } }).success).toBe(true);
    expect(rolloutSchema.safeParse({ target, strategy: { steps: [{ weight: 10 }] } }).success).toBe(true);
    expect(rolloutSchema.safeParse({ target, strategy: {} }).success).toBe(false);
    expect(rolloutSchema.safeParse({ target, strategy: { preset: 'AllAtOnce', steps: [{ weight: 10 }] } }).success).toBe(false);
    expect(rolloutSchema.safeParse({ target, strategy: { steps: [] } }).success).toBe(false);
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90 * S],
    ['1h30m', 90 * MIN],
    ['1.5h', 90 * MIN],
    ['500ms', 500],
    ['5m', 5 * MIN],
    ['0s', 0],
    ['1m30s', 90 * S],
    ['2h0m5s250ms', 2 * 60 * MIN + 5 * S + 250],
    ['0.5s', 500],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', 'm', '5x', '1h 30m', ' 5m', '5m ', '-5s', '5m3', '1.5', '.5s', '1d', '5M', 'abc'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });

  it('accepts exactly what the schema pattern accepts', () => {
    for (const text of ['90s', '1h30m', '1.5h', '500ms', '']) {
      let parses = true;
      try {
        parseDuration(text);
      } catch {
        parses = false;
      }
      expect(parses, text).toBe(DURATION.test(text));
    }
    for (const text of ['5', '5x', '1h 30m', '-5s', '1d']) expect(DURATION.test(text), text).toBe(false);
  });
});
