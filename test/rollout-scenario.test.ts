// Whole rollouts, step by step, through the real gRPC server: each request is
// built with the SDK types, sent over the wire, and the response is applied
// the way Crossplane + ACK would (desired XR status -> next observed status,
// desired Alias -> observed Alias, reported synced). Crossplane calls back
// after each response's TTL, so the schedule below is exactly what a cluster
// would see.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../function/server/server.js';
import { startLoopbackServer } from './support/server.js';
import { functionClient, type ApiVersion, type FunctionClient } from './support/grpc-client.js';
import { RolloutSim, progressiveSpec, rpcDriver, weightOn, type Tick } from './support/rollout-sim.js';

let server: RunningServer;
let clock = new Date(0);
const clients: FunctionClient[] = [];

beforeAll(async () => {
  server = await startLoopbackServer({ now: () => clock });
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.shutdown(1_000);
});

function grpcSim(spec: Record<string, unknown>, api: ApiVersion, extra: Partial<ConstructorParameters<typeof RolloutSim>[0]> = {}): RolloutSim {
  const client = functionClient(`127.0.0.1:${server.port}`, api);
  clients.push(client);
  return new RolloutSim({
    spec,
    start: '2026-11-26T10:00:00Z',
    namespace: 'team-a',
    name: 'orders',
    driver: rpcDriver(
      (req) => client.runFunction(req),
      (now) => (clock = now),
    ),
    ...extra,
  });
}

/** One row per call: seconds since the rollout began, weight on the target, step, phase, TTL. */
type Row = [seconds: number, weight: number, step: number | undefined, phase: string | undefined, ttl: number];

function rows(ticks: Tick[], t0: number, target: string): Row[] {
  return ticks.map((t) => [
    (t.at.getTime() - t0) / 1000,
    weightOn(t.rendered, target),
    t.rollout?.step as number | undefined,
    t.rollout?.phase as string | undefined,
    t.outcome.ttlSeconds,
  ]);
}

function expectClean(sim: RolloutSim): void {
  expect(sim.violations).toEqual([]);
  expect(sim.history.filter((t) => t.outcome.fatal !== undefined).map((t) => t.outcome.fatal)).toEqual([]);
}

describe('rollouts over gRPC', () => {
  it('Canary10Percent5Minutes: 10% at +0s, synced at +15s, 100% at +5m, promoted at +5m15s', async () => {
    const sim = grpcSim(progressiveSpec({ target: '41', functionName: 'orders-api', preset: 'Canary10Percent5Minutes' }), 'v1');

    // First deployment: straight to 41.
    const first = await sim.tickAsync();
    expect(first.rendered).toEqual({ primary: '41' });
    expect(first.rollout).toMatchObject({ phase: 'Stable', stableVersion: '41' });
    const steady = await sim.nextAsync();
    expect(steady.aliasSyncedBefore).toBe(true);
    expect(steady.outcome.desired.alias?.ready).toBe(true);

    // A commit sets the target to 42.
    sim.advance(3_600_000).setTarget('42');
    const t0 = sim.now.getTime();
    const ticks = [await sim.tickAsync(), ...(await sim.runUntilAsync((t) => t.rollout?.phase === 'Promoted', 20))];

    expect(rows(ticks, t0, '42')).toEqual([
      [0, 10, 1, 'Progressing', 15],
      [15, 10, 1, 'Progressing', 285],
      [300, 100, 2, 'Progressing', 15],
      [315, 100, 2, 'Promoted', 300],
    ]);

    // What was on the wire, call by call.
    expect(ticks.map((t) => t.rendered)).toEqual([
      { primary: '41', secondary: { version: '42', percent: 10 } },
      { primary: '41', secondary: { version: '42', percent: 10 } },
      { primary: '42' },
      { primary: '42' },
    ]);
    expect(ticks[0]!.alias).toEqual({
      apiVersion: 'lambda.services.k8s.aws/v1alpha1',
      kind: 'Alias',
      metadata: { name: 'orders-live', namespace: 'team-a', annotations: { 'lambdacanary.fn.crossplane.io/rollout-state': expect.any(String) } },
      spec: { name: 'live', functionName: 'orders-api', functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } },
    });
    // The Alias carries the state it was rendered from, with its traffic: the rollout's durable memory.
    const memory = JSON.parse(
      String((ticks[0]!.alias?.metadata as { annotations: Record<string, string> }).annotations['lambdacanary.fn.crossplane.io/rollout-state']),
    );
    expect(memory).toEqual({ v: 1, traffic: { primary: '41', secondary: { version: '42', percent: 10 } }, rollout: ticks[0]!.rollout });
    // The split ends with the old stable at weight 0: server-side apply cannot empty the map
    // (README "How a split ends"); the entry stays, byte for byte, once promoted.
    const promoted = { name: 'live', functionName: 'orders-api', functionVersion: '42', routingConfig: { additionalVersionWeights: { '41': 0 } } };
    expect(ticks[2]!.alias?.spec).toEqual(promoted);
    expect(ticks[3]!.alias?.spec).toEqual(promoted);
    expect(ticks.map((t) => t.outcome.desired.alias?.ready)).toEqual([false, true, false, true]);
    expect(ticks[0]!.rollout).toMatchObject({ stepStartedAt: '2026-11-26T11:00:15.000Z', nextStepAt: '2026-11-26T11:05:15.000Z', stableVersion: '41' });
    expect(ticks[3]!.rollout).toMatchObject({ stableVersion: '42', targetVersion: '42' });
    expect(ticks[3]!.outcome.status).toMatchObject({ stableVersion: '42', canaryWeight: 0 });
    expect(ticks.flatMap((t) => t.outcome.results.map((r) => `${r.severity} ${r.reason}`))).toEqual([
      'Normal RolloutStep',
      'Normal TrafficChanged',
      'Normal RolloutStep',
      'Normal TrafficChanged',
      'Normal ZeroWeightEntry',
      'Normal RolloutPromoted',
    ]);

    // Nothing moves afterwards.
    const after = await sim.nextAsync();
    expect(after.rendered).toEqual({ primary: '42' });
    expect(after.rollout).toMatchObject({ phase: 'Promoted', stableVersion: '42' });
    expectClean(sim);
  });

  it('Linear10PercentEvery1Minute to a Version the XR publishes: waits for ACK, then 10% .. 90% a minute apart, then 100%', async () => {
    const sim = grpcSim(
      progressiveSpec({
        target: '41',
        functionName: 'orders-api',
        preset: 'Linear10PercentEvery1Minute',
      }),
      'v1beta1',
      { versions: { 'orders-api-v42': { version: '42', publishAfter: 1 } } },
    );
    await sim.tickAsync();
    await sim.nextAsync();
    expect(sim.live).toEqual({ primary: '41' });

    sim.advance(3_600_000).edit((spec) => {
      spec.versions = [{ name: 'orders-api-v42' }];
    });
    sim.setTarget({ ref: 'orders-api-v42' });
    const t0 = sim.now.getTime();
    const ticks = [await sim.tickAsync(), ...(await sim.runUntilAsync((t) => t.rollout?.phase === 'Promoted', 60))];

    // ACK creates the Version (+0s), is still publishing it (+15s), has published it (+30s): step 1.
    const expected: Row[] = [
      [0, 0, 0, 'Progressing', 15],
      [15, 0, 0, 'Progressing', 15],
    ];
    const start = 30;
    for (let step = 1; step <= 9; step++) {
      const at = start + (step - 1) * 60;
      expected.push([at, step * 10, step, 'Progressing', 15], [at + 15, step * 10, step, 'Progressing', 45]);
    }
    expected.push([start + 540, 100, 10, 'Progressing', 15], [start + 555, 100, 10, 'Promoted', 300]);
    expect(rows(ticks, t0, '42')).toEqual(expected);

    // Every call before publication keeps all traffic on 41; weighted traffic only ever goes to 42.
    for (const t of ticks.slice(0, 2)) expect(t.rendered).toEqual({ primary: '41' });
    for (const t of ticks.slice(2, -2)) expect(t.rendered).toEqual({ primary: '41', secondary: { version: '42', percent: weightOn(t.rendered, '42') } });
    expect(ticks.at(-1)!.rollout).toMatchObject({ stableVersion: '42', stableRef: 'team-a/orders-api-v42' });
    // The desired Version is rendered on every call.
    for (const t of ticks)
      expect(t.outcome.desired['version-orders-api-v42']?.resource).toMatchObject({
        kind: 'Version',
        metadata: { name: 'orders-api-v42', namespace: 'team-a' },
      });
    // One RolloutStep event per step, 10 in all, a minute apart.
    const stepTimes = ticks.filter((t) => t.outcome.results.some((r) => r.reason === 'RolloutStep')).map((t) => (t.at.getTime() - t0) / 1000);
    expect(stepTimes).toEqual([30, 90, 150, 210, 270, 330, 390, 450, 510, 570]);
    expectClean(sim);
  });
});
