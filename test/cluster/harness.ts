// What the cluster scenarios share: the stack with ACK's part played (by the
// stand-in, or opt-in by the real controller, see ack-real.ts), and
// ways to look at the three places a rollout shows itself — moto's alias (the
// real traffic), the XR (status, conditions) and Kubernetes events.
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { lambdaFixture, routing, type LambdaFixture } from './moto.js';
import { REPO_ROOT, REGION, realAckController, startStack, waitFor, type Stack, type StackOptions } from './stack.js';
import { Kube } from './kube.js';
import { startAckStandIn, type AckStandIn, type AckStandInOptions } from './ack-standin.js';
import { startRealAck, type RealAck } from './ack-real.js';

/** Whoever plays ACK's part: the stand-in (always in CI) or, opt-in, the real controller. */
export interface AckPart {
  kind: 'stand-in' | 'real';
  /** The stand-in, when it plays the part. */
  standIn?: AckStandIn;
  /** The real controller, when FLC_ACK_CONTROLLER named one. */
  real?: RealAck;
  /**
   * Hold off publishing the Version "namespace/name" until releasePublish. The
   * stand-in holds just that Version; the real controller is paused as a whole
   * (SIGSTOP / SIGCONT), so nothing ACK does happens meanwhile.
   */
  holdPublish(key: string): void;
  releasePublish(key: string): void;
  stop(): Promise<void>;
}

export interface Harness {
  stack: Stack;
  aws: LambdaFixture;
  ack: AckPart;
  kube: Kube;
  stop(): Promise<void>;
}

export async function startHarness(opts: StackOptions & { ack?: Partial<AckStandInOptions> } = {}): Promise<Harness> {
  const stack = await startStack(opts);
  try {
    const kube = new Kube({
      server: stack.apiServer.url,
      caFile: stack.apiServer.caFile,
      certFile: stack.apiServer.certFile,
      keyFile: stack.apiServer.keyFile,
    });
    const aws = await lambdaFixture(stack.motoEndpoint);
    const realAck = realAckController();
    let ack: AckPart;
    if (realAck) {
      const real = await startRealAck(stack, { binary: realAck.binary, region: REGION });
      // Stopped by its PID with the rest of the stack.
      ack = { kind: 'real', real, holdPublish: () => real.pause(), releasePublish: () => real.resume(), stop: () => real.stop() };
    } else {
      const standIn = startAckStandIn({ kube, lambdaEndpoint: stack.motoEndpoint, region: REGION, ...opts.ack });
      ack = {
        kind: 'stand-in',
        standIn,
        holdPublish: (k) => standIn.holdPublish(k),
        releasePublish: (k) => standIn.releasePublish(k),
        stop: () => standIn.stop(),
      };
    }
    return {
      stack,
      aws,
      ack,
      kube,
      async stop() {
        await ack.stop().catch(() => undefined);
        kube.close();
        await stack.stop();
      },
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

export const XR_API = 'canary.lambda.fn.crossplane.io/v1alpha1';

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface XrObject {
  metadata: { name: string; namespace?: string; generation?: number };
  spec: Record<string, unknown>;
  status?: { conditions?: Condition[]; rollout?: Record<string, unknown>; [k: string]: unknown };
}

export function condition(obj: { status?: { conditions?: Condition[] } } | undefined, type: string): Condition | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

export const waitUntil = waitFor;

/**
 * Waits for an XRD to be Established (and Offered, for one with a claim),
 * then applies its Composition: a Composition's type exists only then.
 */
export async function installComposition(h: Harness, xrdName: string, compositionFile: string, { offered = false } = {}): Promise<void> {
  await waitFor(`the XRD ${xrdName} to be Established${offered ? ' and Offered' : ''}`, 60_000, () => {
    const xrd = h.stack.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['get', 'xrd', xrdName]);
    const ok = (t: string) => xrd.status?.conditions?.some((c) => c.type === t && c.status === 'True');
    return ok('Established') && (!offered || ok('Offered'));
  });
  h.stack.kubectl(['apply', '--server-side', '-f', compositionFile]);
}

/** One scenario's world: a namespace, a Lambda function in moto, and an XR in that namespace. */
export class Scenario {
  constructor(
    readonly h: Harness,
    readonly namespace: string,
    readonly functionName: string,
    readonly xrName = 'app',
    readonly aliasName = 'live',
  ) {}

  static async create(h: Harness, namespace: string): Promise<Scenario> {
    h.stack.kubectl(['create', 'namespace', namespace]);
    const s = new Scenario(h, namespace, `${namespace}-fn`);
    await h.aws.createFunction(s.functionName);
    return s;
  }

  private applied = 0;

  /**
   * Applies the XR's spec as GitOps would (server-side apply, its own field
   * manager), at a person's pace: Crossplane v2.2's per-XR watch circuit
   * breaker (100-event burst, 1 event/s refill, 5 min cooldown) opens when a
   * spec is changed several times within a few seconds — each change costs
   * about 20 watch events (Crossplane's and ACK's writes) — and then lets one
   * event through every 30 s. The first runs of this suite hit exactly that,
   * even with 5 s between changes; the rollouts file raises the burst, and
   * changes stay 2 s apart.
   */
  async apply(spec: Record<string, unknown>): Promise<void> {
    if (this.applied > 0) {
      const t = Date.now();
      await waitUntil('the XR to settle before the next change', 60_000, () => condition(this.xr(), 'Synced')?.status === 'True').catch(() => undefined);
      if (Date.now() - t > 5000)
        console.log(
          `[harness] ${this.namespace}: waited ${Date.now() - t} ms for Synced before the next change: ${JSON.stringify(this.xr().status?.conditions)}`,
        );
      await sleep(Math.max(0, this.applied + 2000 - Date.now()));
    }
    this.applied = Date.now();
    const xr = {
      apiVersion: XR_API,
      kind: 'LambdaCanary',
      metadata: { name: this.xrName, namespace: this.namespace },
      spec: { function: { name: this.functionName }, alias: { name: this.aliasName }, region: REGION, ...spec },
    };
    this.h.stack.kubectl(['apply', '--server-side', '--field-manager=gitops', '--force-conflicts', '-f', '-'], stringify(xr));
  }

  xr(): XrObject {
    return this.h.stack.kubectlJson<XrObject>(['-n', this.namespace, 'get', 'lambdacanary', this.xrName]);
  }

  async traffic(): Promise<string | undefined> {
    return routing(await this.h.aws.alias(this.functionName, this.aliasName));
  }

  /** Waits until moto's alias routes exactly `want` (e.g. "1", "1 + 2@0.1"). */
  async waitTraffic(want: string, timeoutMs = 60_000): Promise<void> {
    const t = Date.now();
    try {
      await this.waitTrafficInner(want, timeoutMs);
    } finally {
      if (Date.now() - t > 5000) console.log(`[harness] ${this.namespace}: ${Date.now() - t} ms until moto routed ${want}`);
    }
  }

  private async waitTrafficInner(want: string, timeoutMs: number): Promise<void> {
    let last: string | undefined;
    const slow = setTimeout(
      () => console.log(`[harness] ${this.namespace}: still waiting for ${want} after 10 s (moto: ${String(last)})\n${this.diagnose()}`),
      10_000,
    );
    try {
      await this.waitTrafficLoop(want, timeoutMs, (r) => (last = r));
    } finally {
      clearTimeout(slow);
    }
  }

  private async waitTrafficLoop(want: string, timeoutMs: number, seen: (r: string | undefined) => void): Promise<void> {
    let last: string | undefined;
    await waitUntil(
      () => `moto alias ${this.functionName}:${this.aliasName} to route ${want} (last: ${String(last)})\n${this.diagnose()}`,
      timeoutMs,
      async () => {
        last = await this.traffic();
        seen(last);
        return last === want;
      },
    );
  }

  /** Waits until the ACK Version object `name` has status.version and returns it. */
  async waitPublished(name: string, timeoutMs = 60_000): Promise<string> {
    const t = Date.now();
    const v = await this.waitPublishedInner(name, timeoutMs);
    if (Date.now() - t > 5000) console.log(`[harness] ${this.namespace}: ${Date.now() - t} ms until ACK published ${name}`);
    return v;
  }

  private async waitPublishedInner(name: string, timeoutMs: number): Promise<string> {
    return waitUntil(`ACK Version ${this.namespace}/${name} to be published`, timeoutMs, () => {
      const v = this.h.stack.kubectlJson<{ status?: { version?: string } }>(['-n', this.namespace, 'get', 'versions.lambda.services.k8s.aws', name]);
      return v.status?.version;
    });
  }

  /** The ACK Alias object Crossplane composed. */
  aliasObject():
    | {
        metadata: { name: string; managedFields?: unknown[]; annotations?: Record<string, string> };
        spec: Record<string, unknown>;
        status?: { conditions?: Condition[] };
      }
    | undefined {
    const list = this.h.stack.kubectlJson<{ items: { metadata: { name: string }; spec: Record<string, unknown> }[] }>([
      '-n',
      this.namespace,
      'get',
      'aliases.lambda.services.k8s.aws',
    ]);
    return list.items[0];
  }

  /** The rollout's memory as the API server holds it on the Alias (the annotation, parsed), if any. */
  aliasMemory(): { traffic?: unknown; rollout?: Record<string, unknown> } | undefined {
    const text = this.aliasObject()?.metadata.annotations?.['lambdacanary.fn.crossplane.io/rollout-state'];
    return text !== undefined ? (JSON.parse(text) as { traffic?: unknown; rollout?: Record<string, unknown> }) : undefined;
  }

  /** Removes status.rollout with a status patch, as a restore from a backup without status would leave it. */
  wipeRolloutStatus(): void {
    this.h.stack.kubectl([
      '-n',
      this.namespace,
      'patch',
      'lambdacanary',
      this.xrName,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/status/rollout' }]),
    ]);
  }

  /**
   * Logs where a split ended, for the record (docs/real-ack-check.md): moto's
   * FunctionVersion and RoutingConfig, the Alias's spec, which field managers
   * own its routingConfig, its ACK conditions, and who played ACK's part.
   */
  async logAliasState(label: string): Promise<void> {
    const moto = await this.h.aws.alias(this.functionName, this.aliasName);
    // kubectl leaves managedFields out unless asked.
    const list = this.h.stack.kubectlJson<{ items: unknown[] }>(['-n', this.namespace, 'get', 'aliases.lambda.services.k8s.aws', '--show-managed-fields']);
    const a = list.items[0] as
      | {
          spec: Record<string, unknown>;
          metadata: { managedFields?: { manager: string; operation: string; fieldsV1?: { f: Record<string, unknown> } }[] };
          status?: { conditions?: Condition[] };
        }
      | undefined;
    const managers = (a?.metadata.managedFields ?? []).map((m) => {
      const spec = (m.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.['f:spec'];
      const rc = spec?.['f:routingConfig'] as Record<string, Record<string, unknown>> | undefined;
      const keys = rc ? Object.keys(rc['f:additionalVersionWeights'] ?? {}).filter((k) => k.startsWith('f:')) : [];
      return `${m.manager}/${m.operation}${rc ? ` routingConfig${keys.length ? ` ${keys.join(',')}` : ''}` : ''}`;
    });
    const record = {
      ack: this.h.ack.kind,
      moto: { FunctionVersion: moto?.FunctionVersion, RoutingConfig: moto?.RoutingConfig },
      aliasSpec: { functionVersion: a?.spec['functionVersion'], routingConfig: a?.spec['routingConfig'] },
      managers,
      conditions: (a?.status?.conditions ?? []).map((c) => `${c.type}=${c.status}${c.message ? ` (${c.message})` : ''}`),
    };
    console.log(`[alias-state] ${this.namespace} ${label}: ${JSON.stringify(record)}`);
  }

  /** What a failed wait shows: the XR's status, the Alias's spec and conditions, the events. */
  diagnose(): string {
    const safe = (f: () => unknown) => {
      try {
        return JSON.stringify(f());
      } catch (err) {
        return String(err);
      }
    };
    return [
      `XR status: ${safe(() => this.xr().status)}`,
      `Alias: ${safe(() => {
        const a = this.aliasObject();
        return a && { spec: a.spec, conditions: a.status?.conditions };
      })}`,
      `events: ${safe(() => this.events(undefined).slice(-12))}`,
    ].join('\n');
  }

  /**
   * The start of most scenarios: the XR publishes `name` and routes all
   * traffic to it; then $LATEST gets new code, so the next Version published
   * gets a new number.
   */
  async deployStable(name: string, nextRelease = 'release-2'): Promise<void> {
    await this.apply({ versions: [{ name }], stable: { versionRef: { from: { name } } } });
    await this.waitPublished(name);
    await this.waitTraffic('1');
    await this.newRelease(nextRelease);
  }

  /** Kubernetes events about the XR: "Type Reason: message". */
  events(kind: string | undefined = 'LambdaCanary'): string[] {
    const list = this.h.stack.kubectlJson<{ items: { type: string; reason: string; message: string; involvedObject: { name: string; kind: string } }[] }>([
      '-n',
      this.namespace,
      'get',
      'events',
    ]);
    return list.items
      .filter((e) => kind === undefined || e.involvedObject.kind === kind)
      .map((e) => `${e.involvedObject.kind} ${e.type} ${e.reason}: ${e.message}`);
  }

  /** A publishable code change: $LATEST differs, so the next Version published gets a new number. */
  async newRelease(release: string): Promise<string> {
    return this.h.aws.newCode(this.functionName, release);
  }
}

export { REPO_ROOT, sleep };

/** Polls moto's alias and the XR until stopped, recording every change with its time. */
export class Recorder {
  readonly traffic: { at: number; routing: string | undefined }[] = [];
  readonly nextStepAt = new Map<number, string>();
  private running = true;
  private loop: Promise<void>;

  constructor(
    private readonly s: Scenario,
    intervalMs = 200,
  ) {
    this.loop = (async () => {
      while (this.running) {
        const r = await s.traffic().catch(() => 'error');
        if (this.traffic.at(-1)?.routing !== r) this.traffic.push({ at: Date.now(), routing: r });
        try {
          const rollout = s.xr().status?.rollout;
          const step = rollout?.['step'];
          const next = rollout?.['nextStepAt'];
          if (typeof step === 'number' && typeof next === 'string' && !this.nextStepAt.has(step)) this.nextStepAt.set(step, next);
        } catch {
          // The XR may not be readable for a moment; the next poll tries again.
        }
        await sleep(intervalMs);
      }
    })();
  }

  /** When moto first routed `want`, or undefined. */
  firstAt(want: string): number | undefined {
    return this.traffic.find((t) => t.routing === want)?.at;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    // One last sample, so a change the caller just waited for is in the record.
    const r = await this.s.traffic().catch(() => 'error');
    if (this.traffic.at(-1)?.routing !== r) this.traffic.push({ at: Date.now(), routing: r });
  }
}
