// A stand-in for the ACK lambda-controller (v1.14.1, runtime v0.61.0) in the real-control-plane
// suite: no registry serves the controller, so this plays its part for ACK Version and Alias
// objects against moto. It follows the controller's reconcile flow as read from its source
// (facts only, nothing copied): what it calls on AWS, what it writes back into spec and status, and
// which conditions it sets. Where it deliberately differs, the difference is named in a comment
// starting with "STAND-IN:".
//
// Flow per object (ACK's runtime Reconcile → Sync):
//   read the object → (being deleted? → ReadOne, Delete, remove finalizer)
//   clear conditions → resolve spec.functionRef → ReadOne
//   not found → add finalizer → Create → ReadOne → merge-patch spec/metadata with what Create returned
//   found → Delta(desired, latest) on spec → Update → merge-patch spec with what Update returned
//   ensure ACK.ResourceSynced and Ready → merge-patch /status → requeue (10 h when synced)
// Spec and status writes are JSON merge patches computed between the object as read and as ACK
// would hold it afterwards, so only what differs is sent (and managedFields show the stand-in as an
// `Update` manager of just those fields).

import * as L from '@aws-sdk/client-lambda';
import { Kube, KubeError, isNotFound, resourcePath, type Watch, type WatchEvent } from './kube.js';

export const ACK_GROUP = 'lambda.services.k8s.aws';
export const ACK_API_VERSION = `${ACK_GROUP}/v1alpha1`;
export const ACK_FINALIZER = {
  Version: 'finalizers.lambda.services.k8s.aws/Version',
  Alias: 'finalizers.lambda.services.k8s.aws/Alias',
} as const;
export const ACK_REGION_ANNOTATION = 'services.k8s.aws/region';
export const ACK_DELETION_POLICY_ANNOTATION = 'services.k8s.aws/deletion-policy';

/** ACK's default resync period (runtime defaultResyncPeriod, --reconcile-default-resync-seconds). */
export const ACK_DEFAULT_RESYNC_MS = 10 * 60 * 60 * 1000;

export interface AckStandInOptions {
  kube: Kube;
  /** moto's URL, e.g. http://127.0.0.1:5000 */
  lambdaEndpoint: string;
  /** The controller's --aws-region: used when an object has no services.k8s.aws/region annotation. */
  region: string;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Requeue after a successful sync (default 10 h, as ACK). */
  resyncMs?: number;
  /** Requeue when ACK.ResourceSynced is not True without an error (ACK: 30 s). */
  notSyncedRequeueMs?: number;
  /** Per-object exponential backoff after errors (controller-runtime: 5 ms doubling to 1000 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Reconciles in flight per kind (ACK's --reconcile-resource-max-concurrency default: 1). */
  maxConcurrentReconciles?: number;
  /**
   * Field manager of the stand-in's writes. ACK's client sets none, so the API server names it
   * after the User-Agent of the binary, /bin/controller: "controller".
   */
  fieldManager?: string;
  /** The account ACK would get from STS (moto's default account). */
  accountID?: string;
  partition?: string;
  /** Namespace to watch (default: all). */
  namespace?: string;
}

export interface AwsCallRecord {
  op: string;
  input: Record<string, unknown>;
  ok: boolean;
  error?: string;
  at: number;
}

export interface AckStandInStats {
  /**
   * AWS calls by operation. A call with RoutingConfig is also counted under
   * `<op>+RoutingConfig` (e.g. `UpdateAlias+RoutingConfig`); failed calls also under `<op>!error`.
   */
  calls: Record<string, number>;
  /** The last 500 AWS calls with their inputs. */
  log: AwsCallRecord[];
  reconciles: Record<'Version' | 'Alias', number>;
  reconcileErrors: Record<'Version' | 'Alias', number>;
  /** Status/spec/metadata writes to the API server. */
  kubeWrites: number;
}

export interface AckStandIn {
  stop(): Promise<void>;
  stats(): AckStandInStats;
  /** Queue one object for reconcile now (a test can use it to skip waiting for a resync). */
  kick(kind: 'Version' | 'Alias', namespace: string, name: string): void;
  /**
   * Test control, not ACK behaviour: hold off publishing the Version
   * "namespace/name" (its reconcile requeues without calling Lambda) until
   * releasePublish, to play a slow ACK or a slow Lambda.
   */
  holdPublish(key: string): void;
  releasePublish(key: string): void;
}

type Kind = 'Version' | 'Alias';
type Json = any;
type Cond = { type: string; status: string; lastTransitionTime?: string; reason?: string; message?: string };

// ---------------------------------------------------------------------------------------------
// Errors, as ACK's runtime distinguishes them

const NOT_FOUND = new Error('resource not found'); // ackerr.NotFound
const TERMINAL = new Error('resource is in terminal condition'); // ackerr.Terminal
class TerminalError extends Error {} // ackerr.NewTerminalError(err): message is err's
class RequeueAfter extends Error {
  constructor(
    readonly ms: number,
    cause?: Error,
  ) {
    super(cause?.message ?? `requeue after ${ms} ms`, { cause });
  }
}

/** An AWS call that failed; `apiError` mirrors aws-sdk-go-v2's smithy.APIError, when there is one. */
class AwsCallError extends Error {
  constructor(
    readonly op: string,
    readonly apiError: { code: string; message: string; modelled: boolean } | undefined,
    readonly httpStatus: number | undefined,
    readonly requestId: string | undefined,
    cause: unknown,
  ) {
    super(AwsCallError.chain(op, apiError, httpStatus, requestId, cause), { cause });
  }
  /** smithy.APIError.Error(): "<Code>: <msg>" for a modelled exception, "api error <Code>: <msg>" otherwise. */
  get apiErrorString(): string | undefined {
    if (!this.apiError) return undefined;
    return this.apiError.modelled ? `${this.apiError.code}: ${this.apiError.message}` : `api error ${this.apiError.code}: ${this.apiError.message}`;
  }
  /** The Go SDK's whole error chain, as ACK puts it into a condition's reason. */
  private static chain(op: string, api: AwsCallError['apiError'], status: number | undefined, rid: string | undefined, cause: unknown): string {
    const inner = api
      ? api.modelled
        ? `${api.code}: ${api.message}`
        : `api error ${api.code}: ${api.message}`
      : cause instanceof Error
        ? cause.message
        : String(cause);
    const http = status !== undefined ? `https response error StatusCode: ${status}, RequestID: ${rid ?? ''}, ` : '';
    return `operation error Lambda: ${op}, ${http}${inner}`;
  }
}

const isAwsApiError = (e: unknown): e is AwsCallError => e instanceof AwsCallError && e.apiError !== undefined;
const awsCode = (e: unknown): string | undefined => (e instanceof AwsCallError ? e.apiError?.code : undefined);

// ---------------------------------------------------------------------------------------------
// Small JSON helpers

const clone = <T>(v: T): T => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObj(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}
/** RFC 7386 merge patch turning a into b (as evanphx/json-patch CreateMergePatch does). */
function mergeDiff(a: Json, b: Json): Json | undefined {
  if (!isObj(a) || !isObj(b)) return deepEqual(a, b) ? undefined : b;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(a)) if (!(k in b)) out[k] = null;
  for (const k of Object.keys(b)) {
    if (!(k in a)) {
      out[k] = b[k];
      continue;
    }
    if (isObj(a[k]) && isObj(b[k])) {
      const d = mergeDiff(a[k], b[k]);
      if (d !== undefined && Object.keys(d).length > 0) out[k] = d;
    } else if (!deepEqual(a[k], b[k])) out[k] = b[k];
  }
  return Object.keys(out).length ? out : undefined;
}
/** Drops keys whose value is undefined (Go's omitempty on a nil pointer). */
function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
const nonEmptyMap = (m: unknown): Record<string, unknown> | undefined => (isObj(m) && Object.keys(m).length > 0 ? m : undefined);
const nonEmptyList = <T>(l: T[] | undefined | null): T[] | undefined => (Array.isArray(l) && l.length > 0 ? l : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** Go-style "nil difference or unequal" for *string fields (ackcompare.HasNilDifference + value compare). */
const strDiff = (a: unknown, b: unknown) => (a === undefined || a === null) !== (b === undefined || b === null) || (a != null && a !== b);
const metaTime = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

// Spec normalisation: how the controller's Go structs marshal the fields it touches, so that a diff
// computed here matches the one ACK's client.MergeFrom would send.
function goRouting(rc: unknown): Json | undefined {
  if (rc === undefined || rc === null) return undefined;
  const w = nonEmptyMap(isObj(rc) ? rc.additionalVersionWeights : undefined);
  return w ? { additionalVersionWeights: w } : {};
}
function goSpec(kind: Kind, spec: Json): Json {
  const s = clone(isObj(spec) ? spec : {});
  for (const k of ['description', 'functionName', 'codeSHA256', 'revisionID']) if (s[k] === null) delete s[k];
  if (kind === 'Alias') {
    const rc = goRouting(s.routingConfig);
    if (rc === undefined) delete s.routingConfig;
    else s.routingConfig = rc;
    if (Array.isArray(s.permissions) && s.permissions.length === 0) delete s.permissions;
    // functionVersion and name have no omitempty: a nil pointer marshals as null.
    s.functionVersion ??= null;
    s.name ??= null;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Conditions (runtime pkg/condition): Set* stamp lastTransitionTime every time.

function setCond(conds: Cond[], type: string, status: string, message?: string, reason?: string, stamp = true): void {
  let c = conds.find((x) => x.type === type);
  if (!c) {
    c = { type, status };
    conds.push(c);
  }
  c.status = status;
  if (stamp) c.lastTransitionTime = metaTime();
  if (message === undefined) delete c.message;
  else c.message = message;
  if (reason === undefined) delete c.reason;
  else c.reason = reason;
}
const findCond = (conds: Cond[], type: string) => conds.find((c) => c.type === type);

const MSG = {
  synced: 'Resource synced successfully',
  notSynced: 'Resource not synced',
  unknownSynced: 'Unable to determine if desired resource state matches latest observed state',
  refFailed: 'Reference resolution failed',
  notManaged: 'Resource already exists',
  notManagedReason:
    'This resource already exists but is not managed by ACK. To bring the resource under ACK management, you should explicitly adopt the resource by creating a services.k8s.aws/AdoptedResource',
  noChanges: 'No changes were made to $LATEST since publishing last version, so no version was published.',
};

// ---------------------------------------------------------------------------------------------
// A work queue with controller-runtime's semantics: one key is never reconciled twice at once, a key
// added while it is being reconciled runs again afterwards, delayed adds keep the earliest time.

class WorkQueue {
  private readonly pending: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private active = 0;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly workers: number,
    private readonly handle: (key: string) => Promise<{ requeueAfter?: number }>,
    private readonly backoff: { base: number; max: number },
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.processing.has(key)) this.pending.push(key);
    this.pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const cur = this.delayed.get(key);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  private pump(): void {
    while (!this.stopped && this.active < this.workers && this.pending.length > 0) {
      const key = this.pending.shift()!;
      this.dirty.delete(key);
      this.processing.add(key);
      this.active++;
      const p = this.run(key).finally(() => {
        this.inflight.delete(p);
        this.processing.delete(key);
        this.active--;
        if (this.dirty.has(key)) this.pending.push(key);
        this.pump();
      });
      this.inflight.add(p);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const res = await this.handle(key);
      this.failures.delete(key);
      if (res.requeueAfter !== undefined) this.addAfter(key, res.requeueAfter);
    } catch (err) {
      if (this.stopped) return;
      this.onError(key, err);
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.addAfter(key, Math.min(this.backoff.base * 2 ** (n - 1), this.backoff.max));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.pending.length = 0;
    await Promise.allSettled([...this.inflight]);
  }
}

// ---------------------------------------------------------------------------------------------
// Lambda field mappings (sdkFind / sdkCreate / sdkUpdate output → spec and status)

function aliasFromOutput(ko: Json, resp: L.AliasConfiguration): void {
  ko.status ??= {};
  ko.status.ackResourceMetadata ??= {};
  if (resp.AliasArn !== undefined) ko.status.ackResourceMetadata.arn = resp.AliasArn;
  ko.spec.description = resp.Description;
  ko.spec.functionVersion = resp.FunctionVersion ?? null;
  ko.spec.name = resp.Name ?? null;
  ko.status.revisionID = resp.RevisionId;
  ko.spec.routingConfig = resp.RoutingConfig ? goRouting({ additionalVersionWeights: resp.RoutingConfig.AdditionalVersionWeights }) : undefined;
  compact(ko.spec);
  compact(ko.status);
}

/** GetFunctionConfiguration / PublishVersion output → Version spec and status, field by field. */
function versionFromConfig(ko: Json, r: L.FunctionConfiguration): void {
  ko.status ??= {};
  const s = ko.status;
  s.architectures = nonEmptyList(r.Architectures);
  ko.spec.codeSHA256 = r.CodeSha256;
  s.codeSize = r.CodeSize ?? 0; // a plain int64 in the Go SDK: always set
  s.deadLetterConfig = r.DeadLetterConfig ? compact({ targetARN: r.DeadLetterConfig.TargetArn }) : undefined;
  ko.spec.description = r.Description;
  const dc = (r as any).DurableConfig;
  s.durableConfig = dc ? compact({ executionTimeout: dc.ExecutionTimeout, retentionPeriodInDays: dc.RetentionPeriodInDays }) : undefined;
  s.environment = r.Environment
    ? compact({
        error: r.Environment.Error ? compact({ errorCode: r.Environment.Error.ErrorCode, message: r.Environment.Error.Message }) : undefined,
        variables: nonEmptyMap(r.Environment.Variables),
      })
    : undefined;
  s.ephemeralStorage = r.EphemeralStorage ? compact({ size: r.EphemeralStorage.Size }) : undefined;
  s.fileSystemConfigs = r.FileSystemConfigs
    ? nonEmptyList(r.FileSystemConfigs.map((f) => compact({ arn: f.Arn, localMountPath: f.LocalMountPath })))
    : undefined;
  s.functionARN = r.FunctionArn;
  ko.spec.functionName = r.FunctionName;
  s.handler = r.Handler;
  s.imageConfigResponse = r.ImageConfigResponse
    ? compact({
        error: r.ImageConfigResponse.Error
          ? compact({ errorCode: r.ImageConfigResponse.Error.ErrorCode, message: r.ImageConfigResponse.Error.Message })
          : undefined,
        imageConfig: r.ImageConfigResponse.ImageConfig
          ? compact({
              command: nonEmptyList(r.ImageConfigResponse.ImageConfig.Command),
              entryPoint: nonEmptyList(r.ImageConfigResponse.ImageConfig.EntryPoint),
              workingDirectory: r.ImageConfigResponse.ImageConfig.WorkingDirectory,
            })
          : undefined,
      })
    : undefined;
  s.kmsKeyARN = r.KMSKeyArn;
  s.lastModified = r.LastModified;
  s.lastUpdateStatus = r.LastUpdateStatus || undefined;
  s.lastUpdateStatusReason = r.LastUpdateStatusReason;
  s.lastUpdateStatusReasonCode = r.LastUpdateStatusReasonCode || undefined;
  s.layers = r.Layers
    ? nonEmptyList(
        r.Layers.map((l) =>
          compact({ arn: l.Arn, codeSize: l.CodeSize ?? 0, signingJobARN: l.SigningJobArn, signingProfileVersionARN: l.SigningProfileVersionArn }),
        ),
      )
    : undefined;
  s.masterARN = r.MasterArn;
  s.memorySize = r.MemorySize;
  s.packageType = r.PackageType || undefined;
  ko.spec.revisionID = r.RevisionId;
  s.role = r.Role;
  s.runtime = r.Runtime || undefined;
  s.signingJobARN = r.SigningJobArn;
  s.signingProfileVersionARN = r.SigningProfileVersionArn;
  s.snapStart = r.SnapStart
    ? compact({ applyOn: r.SnapStart.ApplyOn || undefined, optimizationStatus: r.SnapStart.OptimizationStatus || undefined })
    : undefined;
  s.state = r.State || undefined;
  s.stateReason = r.StateReason;
  s.stateReasonCode = r.StateReasonCode || undefined;
  const tc = (r as any).TenancyConfig;
  s.tenancyConfig = tc ? compact({ tenantIsolationMode: tc.TenantIsolationMode || undefined }) : undefined;
  s.timeout = r.Timeout;
  s.tracingConfig = r.TracingConfig ? compact({ mode: r.TracingConfig.Mode || undefined }) : undefined;
  s.version = r.Version;
  s.vpcConfig = r.VpcConfig
    ? compact({
        ipv6AllowedForDualStack: r.VpcConfig.Ipv6AllowedForDualStack,
        securityGroupIDs: nonEmptyList(r.VpcConfig.SecurityGroupIds),
        subnetIDs: nonEmptyList(r.VpcConfig.SubnetIds),
        vpcID: r.VpcConfig.VpcId,
      })
    : undefined;
  compact(ko.spec);
  compact(s);
}

// ---------------------------------------------------------------------------------------------

export function startAckStandIn(opts: AckStandInOptions): AckStandIn {
  const heldPublishes = new Set<string>();
  const { kube } = opts;
  const log = opts.log ?? (() => undefined);
  const resyncMs = opts.resyncMs ?? ACK_DEFAULT_RESYNC_MS;
  const notSyncedRequeueMs = opts.notSyncedRequeueMs ?? 30_000;
  const fieldManager = opts.fieldManager ?? 'controller';
  const accountID = opts.accountID ?? '123456789012';
  const partition = opts.partition ?? 'aws';

  const calls: Record<string, number> = {};
  const callLog: AwsCallRecord[] = [];
  const reconciles = { Version: 0, Alias: 0 };
  const reconcileErrors = { Version: 0, Alias: 0 };
  let kubeWrites = 0;
  let stopped = false;

  const clients = new Map<string, L.LambdaClient>();
  const lambda = (region: string) => {
    let c = clients.get(region);
    if (!c) {
      c = new L.LambdaClient({
        endpoint: opts.lambdaEndpoint,
        region,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      clients.set(region, c);
    }
    return c;
  };

  const COMMANDS = {
    GetAlias: L.GetAliasCommand,
    CreateAlias: L.CreateAliasCommand,
    UpdateAlias: L.UpdateAliasCommand,
    DeleteAlias: L.DeleteAliasCommand,
    GetFunctionConfiguration: L.GetFunctionConfigurationCommand,
    ListVersionsByFunction: L.ListVersionsByFunctionCommand,
    PublishVersion: L.PublishVersionCommand,
    DeleteFunction: L.DeleteFunctionCommand,
  } as const;
  type Op = keyof typeof COMMANDS;

  async function aws<T = any>(region: string, op: Op, input: Record<string, unknown>): Promise<T> {
    const cleaned = compact({ ...input });
    const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
    count(op);
    if (cleaned.RoutingConfig !== undefined) count(`${op}+RoutingConfig`);
    const rec: AwsCallRecord = { op, input: clone(cleaned), ok: true, at: Date.now() };
    callLog.push(rec);
    if (callLog.length > 500) callLog.shift();
    try {
      const Cmd = COMMANDS[op] as any;
      const out = await lambda(region).send(new Cmd(cleaned));
      return out as T;
    } catch (e: any) {
      count(`${op}!error`);
      let apiError: AwsCallError['apiError'];
      if (e instanceof L.LambdaServiceException) {
        apiError = { code: e.name, message: e.message, modelled: e.constructor !== L.LambdaServiceException };
      }
      const err = new AwsCallError(op, apiError, e?.$metadata?.httpStatusCode, e?.$metadata?.requestId, e);
      rec.ok = false;
      rec.error = err.message;
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Kubernetes side

  const plural = (kind: Kind) => (kind === 'Version' ? 'versions' : 'aliases');
  const objPath = (kind: Kind, ns: string, name: string) => resourcePath({ apiVersion: ACK_API_VERSION, plural: plural(kind), namespace: ns, name });

  async function patchMetaAndSpec(kind: Kind, desired: Json, latest: Json): Promise<void> {
    // ClearResolvedReferences: a functionName that came from functionRef is not written back.
    const clean = (o: Json) => {
      const c = { metadata: { finalizers: o.metadata?.finalizers ?? [] }, spec: goSpec(kind, o.spec) };
      if (o.spec?.functionRef) delete c.spec.functionName;
      if (c.metadata.finalizers.length === 0) delete (c.metadata as any).finalizers;
      return c;
    };
    const patch = mergeDiff(clean(desired), clean(latest));
    if (!patch) return;
    kubeWrites++;
    log('patch metadata+spec', { kind, name: desired.metadata.name, patch });
    await kube.patch(objPath(kind, desired.metadata.namespace, desired.metadata.name), patch, 'merge', { fieldManager });
  }

  async function patchStatus(kind: Kind, desired: Json, latest: Json): Promise<void> {
    const a = goStatus(desired.status);
    const b = goStatus(latest.status);
    const d = mergeDiff(a, b);
    if (!d) return;
    kubeWrites++;
    try {
      await kube.patch(objPath(kind, desired.metadata.namespace, desired.metadata.name), { status: d }, 'merge', {
        fieldManager,
        subresource: 'status',
      });
    } catch (e) {
      if (!isNotFound(e)) log('status patch failed', { kind, name: desired.metadata.name, error: String(e) });
    }
  }
  // ackResourceMetadata and conditions have no omitempty; everything else is dropped when unset.
  const goStatus = (s: Json) => {
    const o = clone(isObj(s) ? s : {});
    o.ackResourceMetadata ??= null;
    o.conditions ??= null;
    return o;
  };

  const isManaged = (kind: Kind, o: Json) => (o.metadata?.finalizers ?? []).includes(ACK_FINALIZER[kind]);

  async function setManaged(kind: Kind, res: Json, managed: boolean): Promise<void> {
    if (isManaged(kind, res) === managed) return;
    const orig = clone(res);
    const f: string[] = res.metadata.finalizers ?? [];
    res.metadata.finalizers = managed ? [...f, ACK_FINALIZER[kind]] : f.filter((x) => x !== ACK_FINALIZER[kind]);
    await patchMetaAndSpec(kind, orig, res);
  }

  // -------------------------------------------------------------------------------------------
  // Resource managers

  const regionOf = (o: Json): string => str(o.status?.ackResourceMetadata?.region) ?? str(o.metadata?.annotations?.[ACK_REGION_ANNOTATION]) ?? opts.region;

  function setStatusDefaults(ko: Json, region: string): void {
    ko.status ??= {};
    const m = (ko.status.ackResourceMetadata ??= {});
    m.region ??= region;
    m.partition ??= partition;
    m.ownerAccountID ??= accountID;
    ko.status.conditions ??= [];
  }

  /** rm.onError: Terminal for a TerminalError, Recoverable otherwise; returns the error ACK returns. */
  function onError(ko: Json, err: unknown, region: string): { ko: Json; err: unknown } {
    setStatusDefaults(ko, region);
    const conds: Cond[] = ko.status.conditions;
    if (err instanceof TerminalError) {
      setCond(conds, 'ACK.Terminal', 'True', err.message, undefined, false);
      return { ko, err: TERMINAL };
    }
    const t = findCond(conds, 'ACK.Terminal');
    if (t) {
      t.status = 'False';
      delete t.message;
    }
    const msg = err instanceof AwsCallError ? (err.apiErrorString ?? err.message) : err instanceof Error ? err.message : String(err);
    setCond(conds, 'ACK.Recoverable', 'True', msg, undefined, false);
    return { ko, err };
  }

  // STAND-IN: ACK also reads/writes FunctionEventInvokeConfig, ProvisionedConcurrencyConfig and (for
  // an Alias) the resource policy as part of every ReadOne/Create/Update. moto has no provisioned
  // concurrency API, and the project sets none of these, so the stand-in refuses objects that set them
  // instead of half-supporting them.
  function unsupported(kind: Kind, spec: Json): Error | undefined {
    const f = ['functionEventInvokeConfig', 'provisionedConcurrencyConfig', ...(kind === 'Alias' ? ['permissions'] : [])].filter((k) =>
      k === 'permissions' ? Array.isArray(spec?.[k]) && spec[k].length > 0 : spec?.[k] != null,
    );
    return f.length ? new Error(`the ACK stand-in does not support spec.${f.join(', spec.')}`) : undefined;
  }

  /** rm.ResolveReferences for spec.functionRef → spec.functionName (an ACK Function's spec.name). */
  async function resolveRefs(ko: Json): Promise<{ resolved: Json; hasRefs: boolean; err?: Error }> {
    const resolved = clone(ko);
    const spec = resolved.spec ?? {};
    let err: Error | undefined;
    if (spec.functionRef != null && spec.functionName != null) {
      err = new Error('both resource reference wrapper and ID cannot be used together: FunctionName,FunctionRef');
    } else if (spec.functionRef == null && spec.functionName == null) {
      err = new Error('resource reference wrapper or ID required: FunctionName,FunctionRef');
    }
    const from = spec.functionRef?.from;
    if (spec.functionRef == null || from == null) return { resolved, hasRefs: false, err };
    const ns: string = resolved.metadata.namespace;
    if (!from.name) return { resolved, hasRefs: true, err: new Error('provided resource reference is nil or empty: FunctionRef') };
    if (from.namespace && from.namespace !== ns) {
      return {
        resolved,
        hasRefs: true,
        err: new Error(
          `cross-namespace resource reference is not allowed. Set --enable-cross-namespace=true to allow it: source namespace ${ns}, target namespace ${from.namespace}, name ${from.name}`,
        ),
      };
    }
    let fn: Json;
    try {
      fn = await kube.get(resourcePath({ apiVersion: ACK_API_VERSION, plural: 'functions', namespace: ns, name: from.name }));
    } catch (e) {
      return { resolved, hasRefs: true, err: e instanceof KubeError ? new Error(e.serverMessage) : (e as Error) };
    }
    const conds: Cond[] = fn.status?.conditions ?? [];
    const where = `resource:Function, namespace:${ns}, name:${from.name}`;
    if (conds.some((c) => c.type === 'ACK.Terminal' && c.status === 'True')) {
      return { resolved, hasRefs: true, err: new Error(`the referenced resource has 'ACK.Terminal' condition 'True'. Cannot be referenced. ${where}`) };
    }
    if (!conds.some((c) => c.type === 'ACK.ResourceSynced' && c.status === 'True')) {
      return { resolved, hasRefs: true, err: new Error(`the referenced resource is not synced yet. ${where}`) };
    }
    if (fn.spec?.name == null) {
      return { resolved, hasRefs: true, err: new Error(`the referenced resource is missing the target field. ${where}, targetField:Spec.Name`) };
    }
    spec.functionName = fn.spec.name;
    return { resolved, hasRefs: true, err };
  }

  interface Manager {
    readOne(r: Json, region: string): Promise<Json>; // throws NOT_FOUND
    create(r: Json, region: string): Promise<Json>;
    /** Returns true when desired and latest differ in spec (ACK's Delta(...).DifferentAt("Spec")). */
    delta(desired: Json, latest: Json): boolean;
    update(desired: Json, latest: Json, region: string): Promise<Json>;
    remove(r: Json, region: string): Promise<void>;
  }

  const versionManager: Manager = {
    async readOne(r, region) {
      if (r.status?.version == null || r.spec?.functionName == null) throw NOT_FOUND;
      let resp: L.FunctionConfiguration;
      try {
        resp = await aws(region, 'GetFunctionConfiguration', { FunctionName: r.spec.functionName, Qualifier: r.status.version });
      } catch (e) {
        if (awsCode(e) === 'ResourceNotFoundException') throw NOT_FOUND;
        throw e;
      }
      const ko = clone(r);
      versionFromConfig(ko, resp);
      setStatusDefaults(ko, region);
      return ko;
    },
    async create(r, region) {
      if (heldPublishes.has(`${r.metadata?.namespace}/${r.metadata?.name}`)) throw new RequeueAfter(300);
      // sdkCreate lists the function's versions first: a PublishVersion that answers with a version
      // that already existed means nothing was published, and ACK makes that Terminal (it does not
      // adopt the existing version). moto answers an unchanged function exactly so.
      const known: string[] = [];
      let marker: string | undefined;
      do {
        const page: L.ListVersionsByFunctionResponse = await aws(region, 'ListVersionsByFunction', { FunctionName: r.spec.functionName, Marker: marker });
        for (const v of page.Versions ?? []) if (v.Version) known.push(v.Version);
        marker = page.NextMarker;
      } while (marker);
      // CodeSha256 goes to Lambda as given; ACK checks nothing itself. Real Lambda refuses a mismatch
      // (a Recoverable error here); moto ignores it and publishes.
      const resp: L.FunctionConfiguration = await aws(region, 'PublishVersion', {
        FunctionName: r.spec.functionName,
        CodeSha256: r.spec.codeSHA256,
        Description: r.spec.description,
        RevisionId: r.spec.revisionID,
      });
      if (resp.Version !== undefined && known.includes(resp.Version)) throw new TerminalError(MSG.noChanges);
      const ko = clone(r);
      versionFromConfig(ko, resp);
      setStatusDefaults(ko, region);
      return ko;
    },
    delta(a, b) {
      const x = a.spec ?? {};
      const y = b.spec ?? {};
      return (
        strDiff(x.codeSHA256, y.codeSHA256) ||
        strDiff(x.description, y.description) ||
        strDiff(x.functionName, y.functionName) ||
        !deepEqual(x.functionRef ?? null, y.functionRef ?? null) ||
        strDiff(x.revisionID, y.revisionID)
      );
    },
    async update(desired, _latest, region) {
      // customUpdateVersion: only FunctionEventInvokeConfig and ProvisionedConcurrencyConfig can
      // change; anything else in spec is overwritten by what AWS holds (ReadOne, then the spec patch).
      if (desired.status?.state === 'Pending') {
        throw new RequeueAfter(5000, new Error("function in 'Pending' state, cannot be modified or deleted"));
      }
      return versionManager.readOne(desired, region);
    },
    async remove(r, region) {
      await aws(region, 'DeleteFunction', { FunctionName: r.spec.functionName, Qualifier: r.status?.version });
    },
  };

  const aliasManager: Manager = {
    async readOne(r, region) {
      if (r.spec?.functionName == null || r.spec?.name == null) throw NOT_FOUND;
      let resp: L.AliasConfiguration;
      try {
        resp = await aws(region, 'GetAlias', { FunctionName: r.spec.functionName, Name: r.spec.name });
      } catch (e) {
        if (awsCode(e) === 'ResourceNotFoundException') throw NOT_FOUND;
        throw e;
      }
      const ko = clone(r);
      aliasFromOutput(ko, resp);
      setStatusDefaults(ko, region);
      return ko;
    },
    async create(r, region) {
      const resp: L.AliasConfiguration = await aws(region, 'CreateAlias', {
        Description: r.spec.description,
        FunctionName: r.spec.functionName,
        FunctionVersion: r.spec.functionVersion,
        Name: r.spec.name,
        RoutingConfig: routingInput(r.spec.routingConfig),
      });
      const ko = clone(r);
      aliasFromOutput(ko, resp);
      setStatusDefaults(ko, region);
      return ko;
    },
    delta(a, b) {
      const x = a.spec ?? {};
      const y = b.spec ?? {};
      if (strDiff(x.description, y.description) || strDiff(x.functionName, y.functionName)) return true;
      if (!deepEqual(x.functionRef ?? null, y.functionRef ?? null)) return true;
      if (strDiff(x.functionVersion, y.functionVersion) || strDiff(x.name, y.name)) return true;
      const ra = x.routingConfig;
      const rb = y.routingConfig;
      if ((ra == null) !== (rb == null)) return true;
      if (ra != null && rb != null) {
        const wa = isObj(ra.additionalVersionWeights) ? ra.additionalVersionWeights : {};
        const wb = isObj(rb.additionalVersionWeights) ? rb.additionalVersionWeights : {};
        if (Object.keys(wa).length !== Object.keys(wb).length) return true;
        if (Object.keys(wa).length > 0 && !deepEqual(wa, wb)) return true;
      }
      return false;
    },
    async update(desired, _latest, region) {
      const resp: L.AliasConfiguration = await aws(region, 'UpdateAlias', {
        Description: desired.spec.description,
        FunctionName: desired.spec.functionName,
        FunctionVersion: desired.spec.functionVersion,
        Name: desired.spec.name,
        RevisionId: desired.status?.revisionID,
        RoutingConfig: routingInput(desired.spec.routingConfig),
      });
      const ko = clone(desired);
      aliasFromOutput(ko, resp);
      setStatusDefaults(ko, region);
      return ko;
    },
    async remove(r, region) {
      await aws(region, 'DeleteAlias', { FunctionName: r.spec.functionName, Name: r.spec.name });
    },
  };
  /** RoutingConfig is sent only when spec.routingConfig is set; its weights exactly as in spec ({} allowed). */
  function routingInput(rc: Json): L.AliasRoutingConfiguration | undefined {
    if (rc == null) return undefined;
    const w = isObj(rc) ? rc.additionalVersionWeights : undefined;
    return w == null ? {} : { AdditionalVersionWeights: { ...w } };
  }

  const managers: Record<Kind, Manager> = { Version: versionManager, Alias: aliasManager };

  // -------------------------------------------------------------------------------------------
  // The reconciler (runtime pkg/runtime/reconciler.go)

  async function reconcile(kind: Kind, key: string): Promise<{ requeueAfter?: number }> {
    reconciles[kind]++;
    const [ns, name] = key.split('/') as [string, string];
    let obj: Json;
    try {
      obj = await kube.get(objPath(kind, ns, name));
    } catch (e) {
      if (isNotFound(e)) return {};
      throw e;
    }
    const rm = managers[kind];
    const region = regionOf(obj);
    const desired: Json = obj; // conditions are cleared on this object, as ACK's resetConditions does

    let latest: Json | undefined;
    let err: unknown;
    if (obj.metadata.deletionTimestamp) {
      ({ latest, err } = await deleteFlow(kind, rm, desired, region));
    } else {
      ({ latest, err } = await sync(kind, rm, desired, region));
      if (!err) {
        // handleRequeues
        const synced = findCond(latest?.status?.conditions ?? [], 'ACK.ResourceSynced');
        if (synced) err = new RequeueAfter(synced.status === 'True' ? resyncMs : notSyncedRequeueMs);
      }
    }
    // HandleReconcileError: always write status when there is a latest.
    if (latest) await patchStatus(kind, desired, latest);
    if (err === undefined || err === TERMINAL) return {};
    if (err instanceof RequeueAfter) return { requeueAfter: err.ms };
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the reconciler threw, whatever it is, for the caller to report
    throw err;
  }

  async function sync(kind: Kind, rm: Manager, desired: Json, region: string): Promise<{ latest?: Json; err?: unknown }> {
    desired.status ??= {};
    desired.status.conditions = [];
    let latest: Json | undefined;
    let err: unknown;
    try {
      const refs = await resolveRefs(desired);
      if (refs.err) {
        // Returned without ensureConditions: only ACK.ReferencesResolved is written.
        const ko = clone(desired);
        const s = /Terminal|cross-namespace/.test(refs.err.message) ? 'False' : 'Unknown';
        setCond(ko.status.conditions, 'ACK.ReferencesResolved', s, MSG.refFailed, refs.err.message);
        return { latest: ko, err: refs.err };
      }
      const resolved = refs.resolved;
      if (refs.hasRefs) setCond(resolved.status.conditions, 'ACK.ReferencesResolved', 'True');
      const bad = unsupported(kind, resolved.spec);
      if (bad) {
        ({ ko: latest, err } = onError(clone(resolved), bad, region));
        return { latest, err };
      }
      try {
        latest = await rm.readOne(resolved, region);
      } catch (e) {
        if (e !== NOT_FOUND) {
          ({ ko: latest, err } = onError(clone(resolved), e, region));
          return { latest, err };
        }
        ({ latest, err } = await createResource(kind, rm, resolved, region));
        return { latest, err };
      }
      ({ latest, err } = await updateResource(kind, rm, resolved, latest, region));
      return { latest, err };
    } finally {
      if (latest) ensureConditions(latest, err);
    }
  }

  function ensureConditions(res: Json, reconcileErr: unknown): void {
    setStatusDefaults(res, regionOf(res));
    const conds: Cond[] = res.status.conditions;
    if (!findCond(conds, 'ACK.ResourceSynced')) {
      let status = 'True';
      let message = MSG.synced;
      let reason = '';
      if (reconcileErr !== undefined) {
        reason = reconcileErr instanceof Error ? reconcileErr.message : String(reconcileErr);
        if (reconcileErr === TERMINAL) {
          status = 'False';
          message = MSG.notSynced;
        } else {
          status = 'Unknown';
          message = MSG.unknownSynced;
        }
      }
      setCond(conds, 'ACK.ResourceSynced', status, message, reason);
    }
    const terminal = findCond(conds, 'ACK.Terminal');
    const recoverable = findCond(conds, 'ACK.Recoverable');
    const synced = findCond(conds, 'ACK.ResourceSynced')!;
    if (terminal?.status === 'True') setCond(conds, 'Ready', 'False', terminal.message, 'ACK.Terminal');
    else if (recoverable?.status === 'True') setCond(conds, 'Ready', 'False', recoverable.message, 'ACK.Recoverable');
    else setCond(conds, 'Ready', synced.status, synced.message, synced.reason);
  }

  async function createResource(kind: Kind, rm: Manager, desired: Json, region: string): Promise<{ latest?: Json; err?: unknown }> {
    await setManaged(kind, desired, true);
    let latest: Json;
    try {
      latest = await rm.create(desired, region);
    } catch (e) {
      const r = onError(clone(desired), e, region);
      // Only resources that exist in AWS keep the finalizer: an AWS API error unmanages.
      if (isAwsApiError(e)) {
        try {
          await setManaged(kind, desired, false);
        } catch {
          /* ACK ignores this failure too */
        }
      }
      return { latest: r.ko, err: r.err };
    }
    // ReadOne right after create, retried while it says not found (delayedReadOneAfterCreate, ≤10 s).
    let observed: Json | undefined;
    const deadline = Date.now() + 10_000;
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      try {
        observed = await rm.readOne(latest, region);
        break;
      } catch (e) {
        if (e !== NOT_FOUND) {
          const r = onError(latest, e, region);
          return { latest: r.ko, err: r.err };
        }
        if (Date.now() + delay > deadline) return { latest, err: new Error('failed to read the resource after create') };
        await new Promise((res) => setTimeout(res, delay));
      }
    }
    latest.status = observed!.status;
    await patchMetaAndSpec(kind, desired, latest);
    log(`created ${kind}`, { name: desired.metadata.name });
    return { latest };
  }

  async function updateResource(kind: Kind, rm: Manager, desired: Json, latest: Json, region: string): Promise<{ latest?: Json; err?: unknown }> {
    if (!isManaged(kind, latest)) {
      setCond(latest.status.conditions, 'ACK.Terminal', 'True', MSG.notManaged, MSG.notManagedReason);
      return { latest, err: TERMINAL };
    }
    if (!rm.delta(desired, latest)) return { latest };
    let updated: Json;
    try {
      updated = await rm.update(desired, latest, region);
    } catch (e) {
      // A RequeueAfter (Version still Pending) goes through onError too: ACK shows it as Recoverable.
      const r = onError(clone(latest), e, region);
      return { latest: r.ko, err: r.err };
    }
    await patchMetaAndSpec(kind, desired, updated);
    log(`updated ${kind}`, { name: desired.metadata.name });
    return { latest: updated };
  }

  async function deleteFlow(kind: Kind, rm: Manager, current: Json, region: string): Promise<{ latest?: Json; err?: unknown }> {
    if (!isManaged(kind, current)) return { latest: current };
    if ((current.metadata.annotations?.[ACK_DELETION_POLICY_ANNOTATION] ?? 'delete') === 'retain') {
      await setManaged(kind, current, false);
      return { latest: current };
    }
    const { resolved } = await resolveRefs(current); // errors ignored, as ACK does
    let observed: Json;
    try {
      observed = await rm.readOne(resolved, region);
    } catch (e) {
      if (e === NOT_FOUND) {
        await setManaged(kind, resolved, false);
        return { latest: current };
      }
      return { latest: current, err: e };
    }
    try {
      await rm.remove(observed, region);
    } catch (e) {
      const r = onError(observed, e, region);
      return { latest: r.ko, err: r.err };
    }
    await setManaged(kind, resolved, false);
    log(`deleted ${kind}`, { name: current.metadata.name });
    return { latest: current };
  }

  // -------------------------------------------------------------------------------------------
  // Watches and queues

  const backoff = { base: opts.backoffBaseMs ?? 5, max: opts.backoffMaxMs ?? 1_000_000 };
  const workers = opts.maxConcurrentReconciles ?? 1;
  const queues = {} as Record<Kind, WorkQueue>;
  const watches: Watch[] = [];
  for (const kind of ['Version', 'Alias'] as const) {
    const q = new WorkQueue(
      workers,
      (key) => reconcile(kind, key),
      backoff,
      (key, err) => {
        reconcileErrors[kind]++;
        log(`reconcile ${kind} ${key} failed`, { error: err instanceof Error ? err.message : String(err) });
      },
    );
    queues[kind] = q;
    // The informer cache's last generation per key: ACK's controller has a
    // GenerationChangedPredicate, so updates that leave metadata.generation alone (status,
    // finalizers, labels) do not trigger a reconcile.
    const seen = new Map<string, number | undefined>();
    const onEvent = (ev: WatchEvent) => {
      const md = ev.object.metadata ?? {};
      const key = `${md.namespace}/${md.name}`;
      if (ev.type === 'DELETED') {
        seen.delete(key);
        return;
      }
      const prev = seen.get(key);
      const had = seen.has(key);
      seen.set(key, md.generation);
      if (ev.type === 'ADDED' && !had) return q.add(key);
      // A relist (fromList) of a known object is an update event for controller-runtime.
      if (prev !== md.generation) q.add(key);
    };
    const collection = resourcePath({ apiVersion: ACK_API_VERSION, plural: plural(kind), namespace: opts.namespace });
    watches.push(
      kube.watch(collection, onEvent, {
        onError: (e) => {
          if (!stopped) log(`watch ${kind}`, { error: e.message });
        },
      }),
    );
  }

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const w of watches) w.stop();
      await Promise.all(Object.values(queues).map((q) => q.stop()));
      for (const c of clients.values()) c.destroy();
      clients.clear();
    },
    stats() {
      return {
        calls: { ...calls },
        log: callLog.map((r) => ({ ...r, input: clone(r.input) })),
        reconciles: { ...reconciles },
        reconcileErrors: { ...reconcileErrors },
        kubeWrites,
      };
    },
    kick(kind, namespace, name) {
      queues[kind].add(`${namespace}/${name}`);
    },
    holdPublish(key) {
      heldPublishes.add(key);
    },
    releasePublish(key) {
      heldPublishes.delete(key);
      const [namespace, name] = key.split('/');
      queues.Version.add(`${namespace}/${name}`);
    },
  };
}
