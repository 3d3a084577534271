// Rollout strategies: CodeDeploy's deployment-preference presets and custom
// Argo-Rollouts-style steps, expanded into one list of steps. The last step
// always sends 100% to the target: a rollout that does not end there is not
// finished.
import { DURATION, durationMs, ROLLOUT_PRESETS, type RolloutSpec } from '../api/schema.js';

export interface Step {
  /** Percent of traffic on the target during this step. */
  weight: number;
  /** How long to hold it: milliseconds; null = until resumed; 0 = move on once synced. */
  pauseMs: number | null;
}

type Preset = (typeof ROLLOUT_PRESETS)[number];

const MINUTE = 60_000;

/** CodeDeploy: CanaryXPercentYMinutes and LinearXPercentEveryYMinute(s), read from the name. */
export function presetSteps(preset: Preset): Step[] {
  if (preset === 'AllAtOnce') return [{ weight: 100, pauseMs: 0 }];
  const canary = /^Canary(\d+)Percent(\d+)Minutes$/.exec(preset);
  if (canary) {
    return [
      { weight: Number(canary[1]), pauseMs: Number(canary[2]) * MINUTE },
      { weight: 100, pauseMs: 0 },
    ];
  }
  const linear = /^Linear(\d+)PercentEvery(\d+)Minutes?$/.exec(preset);
  if (linear) {
    const increment = Number(linear[1]);
    const interval = Number(linear[2]) * MINUTE;
    const steps: Step[] = [];
    for (let w = increment; w < 100; w += increment) steps.push({ weight: w, pauseMs: interval });
    steps.push({ weight: 100, pauseMs: 0 });
    return steps;
  }
  // The schema's enum makes this unreachable; fail loudly if the two drift.
  throw new Error(`unknown rollout preset ${String(preset)}`);
}

/** Go-style durations ("90s", "1h30m", "1.5h") in milliseconds. */
export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(durationMs(text));
}

export function strategySteps(strategy: RolloutSpec['strategy']): Step[] {
  if (strategy.preset !== undefined) return presetSteps(strategy.preset);
  const steps: Step[] = (strategy.steps ?? []).map((s) => ({
    weight: s.weight,
    pauseMs: s.pause === undefined ? 0 : s.pause.duration === undefined ? null : parseDuration(s.pause.duration),
  }));
  if (steps.length === 0 || steps[steps.length - 1]!.weight < 100) steps.push({ weight: 100, pauseMs: 0 });
  return steps;
}
