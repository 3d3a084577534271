// Analysis at a step with an indefinite pause (`pause: {}`), once `resume`
// has ended it. These failed before the fix in rollout/machine.ts `analyse`:
// the pause's end was taken as "now" on every call, so CloudWatch was asked on
// every reconcile instead of every analysis.interval, and a sample below
// minInvocations held the step for ever (maxWaitForInvocations never ran out).
// The first call that sees the resume now records when the pause ended.
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
  it('measures at most once per analysis.interval (1m) while the sample is too small', () => {
    const { sim, measured } = resumedAtIndefinitePause();
    const before = measured();
    const ticks: Tick[] = [];
    while (ticks.length < 20) ticks.push(sim.next());
    const minutes = (ticks.at(-1)!.at.getTime() - ticks[0]!.at.getTime()) / 60_000;
    // Observed: 20 CloudWatch measurements in 20 calls (every 15 s TTL), 4.75 minutes.
    expect(measured() - before).toBeLessThanOrEqual(Math.ceil(minutes) + 1);
  });

  it('gives up after maxWaitForInvocations (5m): onTooFewInvocations Fail (the default) aborts', () => {
    const { sim, resumedAt } = resumedAtIndefinitePause();
    const ticks: Tick[] = [];
    while (sim.now.getTime() - resumedAt < 15 * 60_000) ticks.push(sim.next());
    // Before the fix: 15 minutes after resume, still at 10%, phase Paused, analysis Waiting, no abort.
    const last = ticks.at(-1)!;
    expect(last.rollout).toMatchObject({ phase: 'Aborted' });
    expect(String(last.rollout?.['abortReason'])).toMatch(/too few invocations after waiting 5m/);
    expect(last.rendered).toEqual({ primary: '1' });
    // It held the canary's 10% until the wait ran out, not longer and not shorter.
    const abortedAt = ticks.find((t) => t.rollout?.phase === 'Aborted')!.at.getTime();
    expect(abortedAt - resumedAt).toBeGreaterThanOrEqual(5 * 60_000);
    expect(abortedAt - resumedAt).toBeLessThan(7 * 60_000);
    expect(ticks.filter((t) => t.at.getTime() < abortedAt).every((t) => weightOn(t.rendered, '2') === 10)).toBe(true);
  });
});
