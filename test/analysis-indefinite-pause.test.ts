// Product bugs found while testing rollout analysis (function/core/rollout/machine.ts,
// `analyse`), kept as failing tests: `it.fails` passes while the bug is there;
// when it is fixed, vitest reports these as failed, and `.fails` goes.
//
// Both come from one line: for a step with an indefinite pause (`pause: {}`),
// `pauseEnd = step.pauseMs !== null ? start + step.pauseMs : now`, so once
// `resume` has ended the pause, the pause "ends" anew on every call:
//   - `due` (… || (step.pauseDone && last < pauseEnd)) is true on every call,
//     so CloudWatch is asked on every reconcile, not every analysis.interval;
//   - `now - pauseEnd >= maxWaitMs(spec)` is never true, so a sample that stays
//     below minInvocations holds the step for ever: maxWaitForInvocations and
//     onTooFewInvocations never apply.
import { describe, expect, it } from 'vitest';
import { measurementKey, type MeasurementQuery, type Measurements } from '../function/core/analysis/measurements.js';
import { RolloutSim, progressiveSpec, weightOn, type Tick } from './support/rollout-sim.js';

/** A rollout 1 → 2 whose step 1 (10%) waits for `resume`; CloudWatch says the canary served 1 invocation. */
function resumedAtIndefinitePause(): { sim: RolloutSim; measured: () => number; resumedAt: number } {
  const spec = progressiveSpec({
    target: '1',
    steps: [{ weight: 10, pause: {} }],
    rollout: { analysis: { minInvocations: 50, interval: '1m', maxWaitForInvocations: '5m' } },
  });
  const sim = new RolloutSim({ spec: { ...spec, region: 'us-east-1' } });
  let calls = 0;
  sim.cloudwatch = (queries: MeasurementQuery[]): Measurements => {
    calls++;
    return Object.fromEntries(
      queries.map((q) => [
        measurementKey(q),
        q.kind === 'metrics' ? { kind: 'metrics', values: { c_invocations: 1, s_invocations: 9 } } : { kind: 'alarms', states: {} },
      ]),
    );
  };
  expect(sim.tick().rollout).toMatchObject({ phase: 'Stable', stableVersion: '1' });
  sim.advance(60_000).setTarget('2');
  expect(sim.tick().rendered).toEqual({ primary: '1', secondary: { version: '2', percent: 10 } });
  sim.next();
  sim.next();
  sim.rollout.resume = 'go';
  return { sim, measured: () => calls, resumedAt: sim.now.getTime() };
}

describe('analysis at a step with an indefinite pause, after resume (product bugs)', () => {
  it.fails('measures at most once per analysis.interval (1m) while the sample is too small', () => {
    const { sim, measured } = resumedAtIndefinitePause();
    const before = measured();
    const ticks: Tick[] = [];
    while (ticks.length < 20) ticks.push(sim.next());
    const minutes = (ticks.at(-1)!.at.getTime() - ticks[0]!.at.getTime()) / 60_000;
    // Observed: 20 CloudWatch measurements in 20 calls (every 15 s TTL), 4.75 minutes.
    expect(measured() - before).toBeLessThanOrEqual(Math.ceil(minutes) + 1);
  });

  it.fails('gives up after maxWaitForInvocations (5m): onTooFewInvocations Fail (the default) aborts', () => {
    const { sim, resumedAt } = resumedAtIndefinitePause();
    const ticks: Tick[] = [];
    while (sim.now.getTime() - resumedAt < 15 * 60_000) ticks.push(sim.next());
    // Observed: 15 minutes after resume, still at 10%, phase Paused, analysis Waiting, no abort.
    const last = ticks.at(-1)!;
    expect(weightOn(last.rendered, '2')).toBe(10);
    expect(last.rollout).toMatchObject({ phase: 'Aborted' });
  });
});
