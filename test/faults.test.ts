// The fault catalogue (docs/faults.md): each fault is a scripted scenario
// through the real gRPC server, asserting what the user sees: the XR status,
// conditions and events (function results), or the gRPC status code.
//
// Planner faults run against an in-process server (startFunctionServer with
// the real handler and an injected clock). Faults where process behaviour
// matters (oversized requests, disconnects, SIGTERM, TLS garbage) run the
// shipped entry point, function/main.ts compiled and bundled into a temporary
// directory, as a child process.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Capability, Ready, RunFunctionRequest, Severity, Status, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NESTING } from '../function/wire/protobuf.js';
import { DEFAULT_GRACE_MS, type RunningServer } from '../function/server/server.js';
import { freePort, startLoopbackServer } from './support/server.js';
import { generateCerts, type TestCerts } from './support/certs.js';
import { functionClient, healthClient, type FunctionClient } from './support/grpc-client.js';

type Obj = Record<string, unknown>;

const ACK = 'lambda.services.k8s.aws/v1alpha1';
const NS = 'team-a';
const T0 = Date.parse('2026-11-26T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

// ---------------------------------------------------------------------------
// The world a scripted scenario evolves: the XR, what ACK reports, the clock.

function version(name: string, number: string | null, opts: { synced?: boolean; terminal?: string } = {}): Obj {
  const conditions: Obj[] = [{ type: 'ACK.ResourceSynced', status: opts.synced === false ? 'False' : 'True' }];
  if (opts.terminal !== undefined) conditions.push({ type: 'ACK.Terminal', status: 'True', reason: 'InvalidParameterValueException', message: opts.terminal });
  return {
    apiVersion: ACK,
    kind: 'Version',
    metadata: { name, namespace: NS },
    spec: { functionName: 'orders-api' },
    status: { ...(number !== null ? { version: number } : {}), state: 'Active', role: 'arn:aws:iam::123456789012:role/orders', conditions },
  };
}

/** The Alias as ACK reports it back: the spec last applied, and whether it synced. */
function liveAlias(spec: Obj, synced: boolean, message?: string, annotations?: Obj): Obj {
  return {
    apiVersion: ACK,
    kind: 'Alias',
    // The API server keeps the annotations applied with the spec: the rollout's memory rides there.
    metadata: { name: 'orders-live', namespace: NS, ...(annotations !== undefined ? { annotations: structuredClone(annotations) } : {}) },
    spec: structuredClone(spec),
    status: {
      ackResourceMetadata: { arn: 'arn:aws:lambda:us-east-1:123456789012:function:orders-api:live' },
      conditions: [{ type: 'ACK.ResourceSynced', status: synced ? 'True' : 'False', ...(message !== undefined ? { message } : {}) }],
    },
  };
}

interface World {
  spec: Obj;
  status?: Obj;
  observed: Record<string, Obj>;
  required?: Record<string, Obj[]>;
  capabilities?: Capability[];
}

function requestFor(w: World, tag: string): RunFunctionRequest {
  return RunFunctionRequest.fromPartial({
    meta: {
      tag,
      capabilities: w.capabilities ?? [Capability.CAPABILITY_CAPABILITIES, Capability.CAPABILITY_REQUIRED_RESOURCES, Capability.CAPABILITY_CONDITIONS],
    },
    observed: {
      composite: {
        resource: {
          apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
          kind: 'LambdaCanary',
          metadata: { name: 'orders', namespace: NS },
          spec: w.spec,
          ...(w.status !== undefined ? { status: w.status } : {}),
        },
      },
      resources: Object.fromEntries(Object.entries(w.observed).map(([k, v]) => [k, { resource: v }])),
    },
    requiredResources: Object.fromEntries(Object.entries(w.required ?? {}).map(([k, items]) => [k, { items: items.map((resource) => ({ resource })) }])),
  });
}

/** What the user sees from one response. */
interface Seen {
  rsp: RunFunctionResponse;
  alias: Obj | undefined;
  status: Obj;
  rollout: Obj;
  conditions: Record<string, { status: Status; reason: string; message?: string }>;
  events: { severity: 'Normal' | 'Warning' | 'Fatal'; reason?: string; message: string }[];
  ttl: number;
}

function seen(rsp: RunFunctionResponse): Seen {
  const status = (rsp.desired?.composite?.resource?.['status'] ?? {}) as Obj;
  const sev = { [Severity.SEVERITY_NORMAL]: 'Normal', [Severity.SEVERITY_WARNING]: 'Warning', [Severity.SEVERITY_FATAL]: 'Fatal' } as Record<
    number,
    Seen['events'][number]['severity']
  >;
  return {
    rsp,
    alias: rsp.desired?.resources['alias']?.resource,
    status,
    rollout: (status['rollout'] ?? {}) as Obj,
    conditions: Object.fromEntries(
      rsp.conditions.map((c) => [c.type, { status: c.status, reason: c.reason, ...(c.message !== undefined ? { message: c.message } : {}) }]),
    ),
    events: rsp.results.map((r) => ({ severity: sev[r.severity] ?? 'Normal', ...(r.reason !== undefined ? { reason: r.reason } : {}), message: r.message })),
    ttl: rsp.meta?.ttl?.seconds ?? -1,
  };
}

const aliasSpec = (s: Seen) => s.alias?.['spec'] as Obj | undefined;
const reasons = (s: Seen, severity: 'Normal' | 'Warning') => s.events.filter((e) => e.severity === severity).map((e) => e.reason);

// ---------------------------------------------------------------------------
// The in-process server with a settable clock.

let clock = new Date(T0);
let srv: RunningServer | undefined;
let client: FunctionClient;

async function call(w: World, tag = 'fault'): Promise<Seen> {
  return seen(await client.runFunction(requestFor(w, tag)));
}

/** Crossplane + ACK applying a response: status written back, the Alias applied (synced or not). */
function applied(w: World, s: Seen, aliasSynced: boolean, message?: string): World {
  const observed = { ...w.observed };
  if (s.alias !== undefined)
    observed['alias'] = liveAlias(s.alias['spec'] as Obj, aliasSynced, message, (s.alias['metadata'] as Obj)['annotations'] as Obj | undefined);
  return { ...w, status: s.status, observed };
}

const rolloutSpec = (target: string) => ({
  function: { name: 'orders-api' },
  alias: { name: 'live' },
  versions: [{ name: 'orders-api-v41' }, { name: 'orders-api-v42' }],
  rollout: { target: { versionRef: { from: { name: target } } }, strategy: { preset: 'Canary10Percent5Minutes' } },
});

/** orders runs version 41 (stable, recorded in status); target 42 published: step 1, 10%, synced at T0. */
async function midRollout(): Promise<World> {
  const published = { 'version-orders-api-v41': version('orders-api-v41', '41'), 'version-orders-api-v42': version('orders-api-v42', '42') };
  clock = at(-600);
  let w: World = { spec: rolloutSpec('orders-api-v41'), observed: { 'version-orders-api-v41': published['version-orders-api-v41'] } };
  w = applied(w, await call(w, 'first-deployment'), true);
  clock = at(0);
  w = { ...w, spec: rolloutSpec('orders-api-v42'), observed: { ...w.observed, ...published } };
  const step1 = await call(w, 'step-1');
  expect(aliasSpec(step1)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
  expect(step1.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 10, stableVersion: '41' });
  return applied(w, step1, true);
}

describe('fault catalogue: the planner through the real server', () => {
  beforeAll(async () => {
    srv = await startLoopbackServer({ now: () => clock });
    client = functionClient(`127.0.0.1:${srv.port}`, 'v1');
  });
  afterAll(async () => {
    client?.close();
    await srv?.shutdown(1_000);
  });

  it('Version deleted mid-rollout: the live Alias is held at 10%, VersionsResolved=False, Warning, retried in 15 s', async () => {
    let w = await midRollout();
    // The target's ACK Version disappears from the observed resources (deleted out of band).
    const { ['version-orders-api-v42']: _gone, ...rest } = w.observed;
    w = { ...w, observed: rest };
    clock = at(400); // the 5-minute pause is over: the rollout would otherwise go to 100%
    const s = await call(w, 'version-deleted');
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(s.conditions['VersionsResolved']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'NotPublished' });
    expect(s.conditions['TrafficRouted']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Held' });
    expect(s.events).toContainEqual(
      expect.objectContaining({
        severity: 'Warning',
        reason: 'VersionUnresolved',
        message: expect.stringMatching(/keeping alias live: 90% to version 41, 10% to version 42 unchanged/),
      }),
    );
    expect(s.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 10, stableVersion: '41' });
    expect(s.ttl).toBeLessThanOrEqual(15);
    // Crossplane re-creates the Version (it is still desired) and ACK publishes it again: the rollout goes on.
    expect(s.rsp.desired?.resources['version-orders-api-v42']).toBeDefined();
    w = applied({ ...w, observed: { ...w.observed, 'version-orders-api-v42': version('orders-api-v42', '42') } }, s, true);
    const back = await call(w, 'version-back');
    expect(back.rollout).toMatchObject({ step: 2, weight: 100 });
    expect(aliasSpec(back)).toMatchObject({ functionVersion: '42' });
  });

  it('Version deleted mid-rollout (a pre-existing Version, required resource gone): held, VersionsResolved=False NotFound', async () => {
    clock = at(0);
    const spec = {
      function: { name: 'orders-api' },
      alias: { name: 'live' },
      rollout: { target: { versionRef: { from: { name: 'orders-api-v42' } } }, strategy: { preset: 'Canary10Percent5Minutes' } },
    };
    const status = {
      rollout: {
        phase: 'Progressing',
        target: `ref:${NS}/orders-api-v42`,
        targetVersion: '42',
        step: 1,
        totalSteps: 2,
        weight: 10,
        stepStartedAt: at(0).toISOString(),
        stableVersion: '41',
      },
    };
    const alias = liveAlias(
      { name: 'live', functionName: 'orders-api', functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } },
      true,
    );
    clock = at(400);
    const s = await call({ spec, status, observed: { alias }, required: { [`lambda-version.${NS}.orders-api-v42`]: [] } }, 'required-gone');
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(s.conditions['VersionsResolved']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'NotFound' });
    expect(s.conditions['VersionsResolved']?.message).toMatch(
      /ACK Version team-a\/orders-api-v42 was not found; create it, list it in spec.versions, or fix the reference/,
    );
    expect(reasons(s, 'Warning')).toContain('VersionUnresolved');
    expect(s.rollout).toMatchObject({ step: 1, weight: 10 });
    expect(s.ttl).toBeLessThanOrEqual(15);
  });

  it("Version Terminal: the rollout aborts, all traffic back to stable, phase Aborted, Warning with ACK's message", async () => {
    let w = await midRollout();
    const why = 'CodeSha256 mismatch: the code changed after the version was requested';
    w = { ...w, observed: { ...w.observed, 'version-orders-api-v42': version('orders-api-v42', null, { synced: false, terminal: why }) } };
    clock = at(60);
    const s = await call(w, 'terminal');
    // Routing ends with the canary at weight 0 (server-side apply cannot empty the map), so AWS drops the 10% too.
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0 } } });
    expect(Object.keys((aliasSpec(s) as any).routingConfig.additionalVersionWeights)).toEqual(['42']);
    expect(s.rollout).toMatchObject({ phase: 'Aborted', weight: 0, stableVersion: '41' });
    expect(String(s.rollout['abortReason'])).toContain(why);
    expect(s.conditions['VersionsResolved']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'VersionFailed' });
    expect(reasons(s, 'Warning')).toEqual(expect.arrayContaining(['RolloutAborted', 'VersionFailed']));
    expect(s.events.find((e) => e.reason === 'VersionFailed')?.message).toContain(`is Terminal: ${why}`);
    expect(s.status['canaryWeight']).toBe(0);
    // Stays aborted (nothing moves) until the target or retry changes.
    w = applied(w, s, true);
    clock = at(3600);
    const later = await call(w, 'terminal-later');
    expect(later.rollout).toMatchObject({ phase: 'Aborted' });
    expect(aliasSpec(later)?.['functionVersion']).toBe('41');
  });

  it('Required resource missing: requirements asked, LookupPending, then NotFound; no Alias is created, a live one is held', async () => {
    clock = at(0);
    const spec = {
      function: { name: 'orders-api' },
      alias: { name: 'live' },
      stable: { versionRef: { from: { name: 'orders-api-v41' } } },
      canary: { versionRef: { from: { name: 'orders-api-v42' } }, weight: 10 },
    };
    // First call: nothing fetched yet. Crossplane v2.2+ gets requirements.resources.
    const first = await call({ spec, observed: {} }, 'required-1');
    expect(Object.keys(first.rsp.requirements?.resources ?? {}).sort()).toEqual([`lambda-version.${NS}.orders-api-v41`, `lambda-version.${NS}.orders-api-v42`]);
    expect(first.rsp.requirements?.resources[`lambda-version.${NS}.orders-api-v41`]).toMatchObject({
      apiVersion: ACK,
      kind: 'Version',
      matchName: 'orders-api-v41',
      namespace: NS,
    });
    expect(first.alias).toBeUndefined();
    expect(first.conditions['VersionsResolved']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'LookupPending' });
    expect(first.conditions['TrafficRouted']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Waiting' });
    expect(first.ttl).toBe(15);
    // Older Crossplane gets the same selectors as extra_resources.
    const legacy = await call({ spec, observed: {}, capabilities: [] }, 'required-legacy');
    expect(Object.keys(legacy.rsp.requirements?.extraResources ?? {}).sort()).toEqual(Object.keys(first.rsp.requirements?.resources ?? {}).sort());
    // Crossplane looked and found nothing (the keys are present, empty).
    const none = { [`lambda-version.${NS}.orders-api-v41`]: [], [`lambda-version.${NS}.orders-api-v42`]: [] };
    const second = await call({ spec, observed: {}, required: none }, 'required-2');
    expect(second.alias).toBeUndefined();
    expect(second.conditions['VersionsResolved']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'NotFound' });
    expect(second.events).toContainEqual(
      expect.objectContaining({
        severity: 'Warning',
        message: expect.stringMatching(/^not creating alias live yet: stable: ACK Version team-a\/orders-api-v41 was not found/),
      }),
    );
    expect(second.rsp.requirements?.resources).toEqual(first.rsp.requirements?.resources); // the requirement loop settles
    // With a live Alias, it is kept exactly as it is.
    const alias = liveAlias({ name: 'live', functionName: 'orders-api', functionVersion: '41' }, true);
    const held = await call({ spec, observed: { alias }, required: none }, 'required-held');
    expect(aliasSpec(held)).toEqual({ name: 'live', functionName: 'orders-api', functionVersion: '41' });
    expect(held.conditions['TrafficRouted']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Held' });
    expect(String(held.status['message'])).toMatch(/alias live: 100% to version 41 \(held: stable: ACK Version team-a\/orders-api-v41 was not found/);
  });

  it('ACK Alias not synced for a long time: the rollout does not advance, TrafficRouted=False Syncing, TTL stays short', async () => {
    let w = await midRollout();
    // ACK applied step 1 but never reports the Alias synced again (throttled, or the controller is down).
    w = { ...w, observed: { ...w.observed, alias: liveAlias((w.observed['alias'] as Obj)['spec'] as Obj, false, 'ThrottlingException: Rate exceeded') } };
    for (const seconds of [60, 301, 3600, 86_400, 7 * 86_400]) {
      clock = at(seconds);
      const s = await call(w, `unsynced-${seconds}`);
      expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
      expect(s.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 10 });
      expect(s.conditions['TrafficRouted']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Syncing' });
      expect(s.conditions['TrafficRouted']?.message).toMatch(/^waiting for ACK to sync alias live: 90% to version 41, 10% to version 42/);
      expect(s.ttl).toBeLessThanOrEqual(15);
      expect(reasons(s, 'Normal')).not.toContain('RolloutStep');
      expect(s.rsp.desired?.resources['alias']?.ready).toBe(Ready.READY_FALSE);
      w = { ...w, status: s.status };
    }
    // ACK catches up: the overdue step happens on the next call, one step only.
    const held = w.observed['alias'] as Obj;
    w = { ...w, observed: { ...w.observed, alias: liveAlias(held['spec'] as Obj, true, undefined, (held['metadata'] as Obj)['annotations'] as Obj) } };
    const s = await call(w, 'synced-again');
    expect(s.rollout).toMatchObject({ step: 2, weight: 100 });
    expect(reasons(s, 'Normal')).toContain('RolloutStep');
  });

  it('XR status wiped mid-rollout: the Alias remembers; traffic unchanged, the same pause, a Normal StateRecalled', async () => {
    let w = await midRollout();
    clock = at(290); // 10 s before the pause ends
    w = { ...w, status: {} };
    const s = await call(w, 'status-wiped');
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(s.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 10, stableVersion: '41', stepStartedAt: at(0).toISOString() });
    expect(s.events).toContainEqual(
      expect.objectContaining({
        severity: 'Normal',
        reason: 'StateRecalled',
        message: expect.stringMatching(/status\.rollout was missing; continuing from the rollout state recorded on alias live/),
      }),
    );
    w = applied(w, s, true);
    clock = at(300); // the pause ends when it always would have
    const due = await call(w, 'status-wiped-due');
    expect(due.rollout).toMatchObject({ step: 2, weight: 100 });
  });

  it('XR status wiped AND the Alias record stripped: held as it is, RolloutHeld Warning, until spec.rollout.resume changes', async () => {
    let w = await midRollout();
    clock = at(290);
    const alias = structuredClone(w.observed['alias'] as Obj);
    delete (alias['metadata'] as Obj)['annotations'];
    w = { ...w, status: {}, observed: { ...w.observed, alias } };
    const s = await call(w, 'both-lost');
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(s.rollout).toMatchObject({ phase: 'Held', weight: 10, stableVersion: '41' });
    expect(s.conditions['TrafficRouted']).toMatchObject({ status: Status.STATUS_CONDITION_FALSE, reason: 'Held' });
    expect(reasons(s, 'Warning')).toContain('RolloutHeld');
    w = applied(w, s, true);
    clock = at(3600);
    const later = await call(w, 'both-lost-later');
    expect(later.rollout).toMatchObject({ phase: 'Held' });
    expect(aliasSpec(later)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    w = applied({ ...w, spec: { ...w.spec, rollout: { ...(w.spec['rollout'] as Obj), resume: 'go' } } }, later, true);
    const resumed = await call(w, 'both-lost-resumed');
    expect(resumed.rollout).toMatchObject({ phase: 'Progressing', step: 1, weight: 10 });
  });

  it('XR status corrupted (stableVersion "v41"): the Alias record wins, never routed to "v41", a StatusDisagrees Warning', async () => {
    let w = await midRollout();
    clock = at(30);
    w = { ...w, status: { ...w.status, rollout: { ...((w.status?.['rollout'] ?? {}) as Obj), stableVersion: 'v41' } } };
    const s = await call(w, 'status-corrupted');
    expect(aliasSpec(s)).toMatchObject({ functionVersion: '41', routingConfig: { additionalVersionWeights: { '42': 0.1 } } });
    expect(s.rollout).toMatchObject({ stableVersion: '41', step: 1, weight: 10 });
    expect(reasons(s, 'Warning')).toContain('StatusDisagrees');
  });

  it(`request nested deeper than ${MAX_NESTING} levels: INTERNAL "Error deserializing request", server keeps serving; ${MAX_NESTING - 10} levels work`, async () => {
    const nest = (levels: number): unknown => {
      let v: unknown = 'x';
      for (let i = 0; i < levels; i++) v = { a: v };
      return v;
    };
    const w: World = {
      spec: rolloutSpec('orders-api-v41'),
      observed: { 'helm-release': { apiVersion: 'helm.crossplane.io/v1beta1', kind: 'Release', spec: { values: nest(MAX_NESTING + 20) } } },
    };
    await expect(call(w, 'deep')).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'Error deserializing request' });
    // 90 levels: past the ~30 the SDK's generated decoder allowed before this function decoded requests itself.
    const ok = await call({ ...w, observed: { 'helm-release': { kind: 'Release', spec: { values: nest(MAX_NESTING - 10) } } } }, 'shallow');
    expect(ok.rsp.meta?.tag).toBe('shallow');
    expect(ok.events.some((e) => e.severity === 'Fatal')).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// The compiled function as a child process.

const repo = resolve(import.meta.dirname, '..');
let app: string;
let certs: TestCerts;
const children: ChildProcess[] = [];
const closers: (() => void)[] = [];

interface Child {
  proc: ChildProcess;
  target: string;
  logs: Obj[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startChild(args: string[]): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['dist/function-lambda-canary.mjs', '--address', `127.0.0.1:${port}`, '--metrics-address=', ...args], {
    cwd: app,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '' },
  });
  children.push(proc);
  const logs: Obj[] = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no "listening" log within 20 s; stderr: ${stderr}`)), 20_000);
    void exited.then(({ code }) => rej(new Error(`exited with ${code} before listening; stderr: ${stderr}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Obj;
      logs.push(entry);
      if (entry['msg'] === 'listening') {
        clearTimeout(timer);
        res();
      }
    });
  });
  return { proc, target: `127.0.0.1:${port}`, logs, stderr: () => stderr, exited };
}

function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

/** A request of about `bytes` bytes: the XR plus Versions listed as required resources (a v1 cluster-wide list). */
function bigRequest(tag: string, bytes: number): RunFunctionRequest {
  const one = version('orders-api-v00000', '1');
  const each = JSON.stringify(one).length + 40;
  const items = Array.from({ length: Math.max(1, Math.ceil(bytes / each)) }, (_, i) => ({
    ...one,
    metadata: { name: `orders-api-v${i}`, namespace: i % 2 === 0 ? NS : 'team-b' },
  }));
  const spec = { function: { name: 'orders-api' }, alias: { name: 'live' }, stable: { versionRef: { from: { name: 'orders-api-v2' } } } };
  return requestFor({ spec, observed: {}, required: { [`lambda-version.${NS}.orders-api-v2`]: items } }, tag);
}

/** A call whose ClientUnaryCall the test holds, to cancel it. */
function startCall(c: FunctionClient, req: RunFunctionRequest): { call: grpc.ClientUnaryCall; outcome: Promise<'answered' | grpc.status> } {
  let call!: grpc.ClientUnaryCall;
  const outcome = new Promise<'answered' | grpc.status>((res) => {
    const fn = (c.raw as unknown as Record<string, (...args: any[]) => unknown>)['runFunction']!;
    call = fn.call(c.raw, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null) =>
      res(err ? err.code : 'answered'),
    ) as grpc.ClientUnaryCall;
  });
  return { call, outcome };
}

describe('fault catalogue: the compiled function as a child process', () => {
  beforeAll(() => {
    // Build function/ alone and bundle it (as the Dockerfile does) into a temporary directory.
    const root = mkdtempSync(join(tmpdir(), 'fn-faults-'));
    for (const f of ['package.json', 'tsconfig.json']) cpSync(join(repo, f), join(root, f));
    cpSync(join(repo, 'function'), join(root, 'function'), { recursive: true });
    cpSync(join(repo, 'scripts/bundle.ts'), join(root, 'scripts/bundle.ts'));
    writeFileSync(join(root, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['function/**/*.ts', 'scripts/bundle.ts'] }));
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');
    execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: root,
      stdio: 'pipe',
      timeout: 240_000,
    });
    execFileSync(process.execPath, ['dist/scripts/bundle.js'], { cwd: root, stdio: 'pipe', timeout: 240_000 });
    app = root;
    certs = generateCerts();
  }, 300_000);

  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });
  afterAll(() => {
    for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  it('request bigger than --max-recv-msg-size: RESOURCE_EXHAUSTED, the server keeps serving', async () => {
    const child = await startChild(['--insecure', '--max-recv-msg-size', String(256 * 1024)]);
    const c = functionClient(child.target, 'v1');
    closers.push(() => c.close());
    await expect(c.runFunction(bigRequest('too-big', 1024 * 1024))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const ok = await c.runFunction(bigRequest('fits', 64 * 1024));
    expect(ok.meta?.tag).toBe('fits');
    expect(ok.results.some((r) => r.severity === Severity.SEVERITY_FATAL)).toBe(false);
    expect(alive(child)).toBe(true);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(child.stderr()).toBe('');
  }, 60_000);

  it('client disconnects mid-call (cancelled calls, dropped connections, half-sent requests): the server keeps serving', async () => {
    const child = await startChild(['--insecure']);
    // 1. Calls cancelled by the client while the server works on them.
    const quitter = functionClient(child.target, 'v1');
    closers.push(() => quitter.close());
    const started = Array.from({ length: 8 }, (_, i) => startCall(quitter, bigRequest(`cancel-${i}`, 512 * 1024)));
    await new Promise((r) => setTimeout(r, 30));
    for (const s of started) s.call.cancel();
    const calls = started.map((s) => s.outcome);
    // 2. A connection dropped in the middle of a request: HTTP/2 preface, settings, headers, half a message.
    const raw: Socket = connect(Number(child.target.split(':')[1]), '127.0.0.1');
    await new Promise<void>((r) => raw.once('connect', () => r()));
    raw.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), randomBytes(4096)]));
    await new Promise((r) => setTimeout(r, 30));
    raw.destroy();
    // 3. A deadline that expires while the server is still working.
    const hurried = functionClient(child.target, 'v1');
    closers.push(() => hurried.close());
    await expect(hurried.runFunction(bigRequest('deadline', 2 * 1024 * 1024), 1)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((o) => o === 'answered' || o === grpc.status.CANCELLED)).toBe(true);

    const fresh = functionClient(child.target, 'v1');
    closers.push(() => fresh.close());
    const ok = await fresh.runFunction(bigRequest('after-disconnects', 16 * 1024));
    expect(ok.meta?.tag).toBe('after-disconnects');
    const health = healthClient(child.target);
    closers.push(() => health.close());
    expect(await health.check('')).toBe('SERVING');
    expect(alive(child)).toBe(true);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(child.stderr()).toBe('');
  }, 60_000);

  it('SIGTERM with 64 calls in flight: all 64 answered, then exit 0', async () => {
    const child = await startChild(['--insecure']);
    const c = functionClient(child.target, 'v1');
    closers.push(() => c.close());
    await c.runFunction(bigRequest('warm-up', 1024)); // connect first, so the 64 streams share one connection
    const N = 64;
    let answered = 0;
    let firstAnswered!: () => void;
    const first = new Promise<void>((r) => (firstAnswered = r));
    const calls = Array.from({ length: N }, (_, i) =>
      c.runFunction(bigRequest(`inflight-${i}`, 384 * 1024), 30_000).then((rsp) => {
        answered++;
        firstAnswered();
        return rsp;
      }),
    );
    // Once the server answers one, it has read every stream's headers (HTTP/2 sends them
    // before the data), so all 64 calls are in flight: SIGTERM now.
    await first;
    const unansweredAtSigterm = N - answered;
    child.proc.kill('SIGTERM');
    const rsps = await Promise.all(calls);
    expect(rsps.map((r) => r.meta?.tag)).toEqual(Array.from({ length: N }, (_, i) => `inflight-${i}`));
    for (const r of rsps) expect(r.results.some((x) => x.severity === Severity.SEVERITY_FATAL)).toBe(false);
    expect(unansweredAtSigterm).toBeGreaterThanOrEqual(N / 2); // they really were in flight
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const msgs = child.logs.map((l) => l['msg']);
    expect(msgs).toContain('draining in-flight calls before exit');
    expect(msgs[msgs.length - 1]).toBe('stopped');
    expect(child.stderr()).toBe('');
  }, 60_000);

  // Issue 10, decision B: a log reader that goes away (a crashed log shipper, a
  // closed `kubectl logs -f | head`) must not keep the process alive. Before the
  // fix, pino flushed its buffer synchronously on exit and retried the EPIPE
  // forever, so the process needed SIGKILL.
  it('SIGTERM with stdout closed (the log reader went away): exit 0 within the drain timeout, no crash', async () => {
    const child = await startChild(['--insecure']);
    try {
      // Close the read end of the child's stdout: its next log line fails with EPIPE.
      child.proc.stdout!.destroy();
      // Calls still work with nowhere to log (without --debug nothing is logged per call).
      const c = functionClient(child.target, 'v1');
      expect((await c.runFunction(bigRequest('after-close', 1024))).meta?.tag).toBe('after-close');
      // No client left: the drain ends at once, before the EPIPE of its first log
      // line is reported, which is what left the old code stuck in pino's exit flush.
      c.close();
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      child.proc.kill('SIGTERM');
      const outcome = await Promise.race([child.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), DEFAULT_GRACE_MS + 3_000))]);
      expect(outcome, `stderr: ${child.stderr()}`).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(DEFAULT_GRACE_MS + 2_000);
      expect(child.stderr()).toBe('');
    } finally {
      // Stopped by PID even when an assertion above failed.
      if (alive(child) && child.proc.pid !== undefined) process.kill(child.proc.pid, 'SIGKILL');
    }
  }, 60_000);

  it('TLS handshake garbage on the mTLS port: connections dropped, the server keeps serving mTLS clients', async () => {
    const child = await startChild(['--tls-server-certs-dir', certs.serverDir]);
    const port = Number(child.target.split(':')[1]);
    const tlsName = { 'grpc.ssl_target_name_override': 'localhost' };
    const creds = grpc.credentials.createSsl(certs.ca, certs.client.key, certs.client.cert);
    const garbage = [
      randomBytes(1024), // random bytes
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), // plaintext HTTP/2 to a TLS port
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), randomBytes(200)]), // a ClientHello cut short, then noise
      Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff]), // a record header promising 64 KiB, never sent
    ];
    await Promise.all(
      garbage.map(
        (bytes) =>
          new Promise<void>((res) => {
            const s = connect(port, '127.0.0.1', () => s.write(bytes));
            s.on('error', () => res());
            s.on('close', () => res());
            setTimeout(() => {
              s.destroy();
              res();
            }, 500);
          }),
      ),
    );
    // A hundred more, interleaved with real calls. (Random bytes that happen to start like a
    // TLS record make the server wait for the rest, up to its handshake timeout: give up at 1 s.)
    const noise = Array.from(
      { length: 100 },
      () =>
        new Promise<void>((res) => {
          const s = connect(port, '127.0.0.1', () => s.write(randomBytes(64)));
          const done = () => {
            clearTimeout(timer);
            s.destroy();
            res();
          };
          const timer = setTimeout(done, 1_000);
          s.on('error', done);
          s.on('close', done);
        }),
    );
    // And one stalled handshake that stays open through SIGTERM.
    const stalled = connect(port, '127.0.0.1', () => stalled.write(Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff])));
    stalled.on('error', () => {});
    closers.push(() => stalled.destroy());
    const c = functionClient(child.target, 'v1', creds, tlsName);
    closers.push(() => c.close());
    const rsps = await Promise.all([1, 2, 3].map((i) => c.runFunction(bigRequest(`mtls-${i}`, 8 * 1024))));
    await Promise.all(noise);
    expect(rsps.map((r) => r.meta?.tag)).toEqual(['mtls-1', 'mtls-2', 'mtls-3']);
    const health = healthClient(child.target, creds, tlsName);
    closers.push(() => health.close());
    expect(await health.check('')).toBe('SERVING');
    // A client without a certificate is still refused.
    const anonymous = functionClient(child.target, 'v1', grpc.credentials.createSsl(certs.ca), tlsName);
    closers.push(() => anonymous.close());
    await expect(anonymous.runFunction(bigRequest('anonymous', 1024), 5_000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(alive(child)).toBe(true);
    // The stalled handshake does not hold the drain.
    const t0 = Date.now();
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(child.stderr()).toBe('');
  }, 60_000);
});
