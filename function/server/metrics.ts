// Prometheus metrics: the gRPC server metrics function-sdk-go functions expose
// (go-grpc-prometheus names and labels, so the same dashboards work), domain
// metrics read from each RunFunctionResponse, and Node's process metrics.
// Served on a tiny node:http server at GET /metrics. docs/metrics.md lists them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Severity, Status, type RunFunctionRequest, type RunFunctionResponse } from '@crossplane-org/function-sdk-typescript';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CONDITION_VERSIONS_RESOLVED } from '../core/plan-contract.js';
import type { UnknownFieldSink } from '../wire/protobuf.js';
import { phaseValues } from '../api/schema.js';
import { get, isRecord } from '../core/k8s.js';
import { splitHostPort, type HostPort } from './host-port.js';
import type { CallOutcome, CloudWatchApiName, CloudWatchObserver } from '../aws/cloudwatch.js';

/** grpc_code values as Go's codes.Code.String() spells them, indexed by the numeric status code. */
const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
] as const;

/** The Go name of a numeric gRPC status code; out-of-range codes are reported as Go does, e.g. Code(42). */
export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `Code(${code})`;
}

/**
 * Result reasons that mean the function changed, or decided to change, the
 * alias's traffic. TrafficChanged accompanies every call that renders routing
 * different from the observed Alias; the others say why.
 */
export const TRAFFIC_CHANGE_REASONS = [
  'TrafficChanged',
  'FirstDeployment',
  'RolloutStep',
  'RolloutPromoted',
  'RolloutPromotedEarly',
  'RolloutRestarted',
  'RolloutAborted',
  'FastRollback',
] as const;

const TRAFFIC_CHANGE_SET: ReadonlySet<string> = new Set(TRAFFIC_CHANGE_REASONS);

/**
 * What the server knows of one call beyond its response: how an analysis run
 * in this call is told from a measurement recorded by an earlier one.
 */
export interface CallFacts {
  /** The request, whose observed XR status holds the analysis record the call started from. */
  request?: RunFunctionRequest;
  /** The clock reading the real handler planned with (unset for a custom handler: no analysis metrics then). */
  plannedAt?: Date;
  /** Whether the planner asked for CloudWatch measurements in this call (the handler's second pass ran). */
  measured?: boolean;
}

/**
 * lambda_canary_analysis_runs_total{result}: what a measurement said
 * (status.rollout.analysis.result), or Unrecorded when promote ended the step
 * in the same call and the status kept no result.
 */
export const ANALYSIS_RUN_RESULTS = ['Passing', 'Failing', 'Waiting', 'Unreadable', 'Unrecorded'] as const;
/** lambda_canary_analysis_check_failures_total{check}: the kind of a failed check, not its name (alarm and metric names are unbounded). */
export const ANALYSIS_CHECK_KINDS = ['alarm', 'errorRate', 'throttleRate', 'duration', 'custom'] as const;
/** lambda_canary_analysis_aborts_total{cause}: the spec field whose limit the analysis crossed. */
export const ANALYSIS_ABORT_CAUSES = ['alarm', 'failureLimit', 'unreadableFor', 'tooFewInvocations'] as const;
type AnalysisRunResult = (typeof ANALYSIS_RUN_RESULTS)[number];
type AnalysisCheckKind = (typeof ANALYSIS_CHECK_KINDS)[number];
type AnalysisAbortCause = (typeof ANALYSIS_ABORT_CAUSES)[number];
const RUN_RESULT_SET: ReadonlySet<string> = new Set(ANALYSIS_RUN_RESULTS);

/** The kind of a check by the name the analysis gives it (core/analysis/checks.ts evaluate). */
export function analysisCheckKind(name: string): AnalysisCheckKind {
  if (name.startsWith('alarm ')) return 'alarm';
  if (name === 'errorRate' || name === 'throttleRate') return name;
  if (name.startsWith('duration ')) return 'duration';
  // A check of your own: its name is a CloudWatch query id, never with a space.
  return 'custom';
}

export interface AnalysisRun {
  result: AnalysisRunResult;
  /** Kinds of the checks this run failed, one entry per failed check. */
  failed: AnalysisCheckKind[];
  /** Set when the run aborted the rollout. */
  abort?: AnalysisAbortCause;
}

/**
 * The analysis run of one call, if it measured. The machine stamps
 * lastMeasuredAt with the call's clock, so a record stamped with this call's
 * planning time, and not the one the call observed, was measured now; a
 * record recalled from the Alias (status lost) or left from an earlier call
 * is not. A measurement that lets its step end is not kept (entering the next
 * step resets the step's record, keeping its checks): that call asked
 * CloudWatch (facts.measured) and entered a step (stepStartedAt is its
 * time). Moving on needs a Passing result; promote, which also ends the step,
 * does not, so that run is Unrecorded. An analysis that needs no CloudWatch
 * query (only Lambda checks at a 0 % step) and ends its step is not counted.
 */
export function analysisRun(rollout: unknown, results: readonly { reason?: string }[], facts: CallFacts | undefined): AnalysisRun | undefined {
  if (facts?.plannedAt === undefined) return undefined;
  const analysis = get(rollout, 'analysis');
  if (!isRecord(analysis)) return undefined;
  const at = facts.plannedAt.toISOString();
  const measuredAt = analysis['lastMeasuredAt'];
  const before = get(facts.request?.observed?.composite?.resource, 'status', 'rollout', 'analysis', 'lastMeasuredAt');
  let result: AnalysisRunResult;
  if (measuredAt === at && before !== at) {
    const r = analysis['result'];
    result = typeof r === 'string' && RUN_RESULT_SET.has(r) ? (r as AnalysisRunResult) : 'Unrecorded';
  } else if (facts.measured === true && measuredAt === undefined && get(rollout, 'stepStartedAt') === at) {
    result = results.some((r) => r?.reason === 'RolloutPromotedEarly') ? 'Unrecorded' : 'Passing';
  } else {
    return undefined;
  }
  const checks = Array.isArray(analysis['checks']) ? (analysis['checks'] as unknown[]) : [];
  const failed = checks.flatMap((c) => (isRecord(c) && c['passed'] === false && typeof c['name'] === 'string' ? [analysisCheckKind(c['name'])] : []));
  if (get(rollout, 'phase') !== 'Aborted') return { result, failed };
  // A measured call that ends Aborted was aborted by its analysis: spec.rollout.abort and a failed target abort before it.
  const abort: AnalysisAbortCause =
    result === 'Unreadable' ? 'unreadableFor' : failed.includes('alarm') ? 'alarm' : failed.length > 0 ? 'failureLimit' : 'tooFewInvocations';
  return { result, failed, abort };
}
const PHASE_SET: ReadonlySet<string> = new Set(phaseValues);

export interface FunctionMetrics {
  registry: Registry;
  /** Reports zeros for a method before its first call, as go-grpc-prometheus does, so rate() works from the start. */
  initCall(service: string, method?: string): void;
  /**
   * Records the start of one unary call (started and msg_received, as
   * go-grpc-prometheus does) and returns the function that records its end:
   * handled{grpc_code}, the handling-time histogram, and msg_sent when OK.
   */
  startCall(service: string, method?: string): (code: number) => void;
  /**
   * Records the domain metrics of one RunFunctionResponse; with `facts` (the
   * server passes them) also its analysis run, if the call measured. Never throws.
   */
  observeResponse(rsp: RunFunctionResponse, facts?: CallFacts): void;
  /**
   * Counts the request fields the wire decoder skipped because it does not
   * know them (lambda_canary_unknown_wire_fields_total). Cheap: a map update,
   * turned into the counter when scraped.
   */
  unknownFields: UnknownFieldSink;
  /** What the CloudWatch measurer reports: calls by API and outcome, their durations, cache hits. */
  cloudwatch: CloudWatchObserver;
}

/**
 * How many distinct (message, field) pairs unknown-field counting labels; any
 * further pairs are counted under field="other", so hostile input cannot grow
 * the label set without bound.
 */
export const MAX_UNKNOWN_FIELD_LABELS = 64;

export interface MetricsOptions {
  /** Register Node's default process metrics (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): FunctionMetrics {
  const registry = new Registry();
  const registers = [registry];
  const grpcLabels = ['grpc_type', 'grpc_service', 'grpc_method'] as const;

  const started = new Counter({
    name: 'grpc_server_started_total',
    help: 'Total number of RPCs started on the server.',
    labelNames: grpcLabels,
    registers,
  });
  const handled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: [...grpcLabels, 'grpc_code'],
    registers,
  });
  const handling = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labelNames: grpcLabels,
    // prometheus.DefBuckets, which go-grpc-prometheus uses.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const received = new Counter({
    name: 'grpc_server_msg_received_total',
    help: 'Total number of RPC stream messages received on the server.',
    labelNames: grpcLabels,
    registers,
  });
  const sent = new Counter({
    name: 'grpc_server_msg_sent_total',
    help: 'Total number of gRPC stream messages sent by the server.',
    labelNames: grpcLabels,
    registers,
  });

  const phases = new Counter({
    name: 'lambda_canary_rollout_phase_total',
    help: 'RunFunction calls whose desired LambdaCanary status.rollout.phase was this phase (progressive mode only).',
    labelNames: ['phase'],
    registers,
  });
  const trafficChanges = new Counter({
    name: 'lambda_canary_traffic_changes_total',
    help: 'Results announcing a change of alias traffic, by result reason (TrafficChanged counts every changed routing).',
    labelNames: ['reason'],
    registers,
  });
  const resolutionFailures = new Counter({
    name: 'lambda_canary_resolution_failures_total',
    help: 'RunFunction calls that set VersionsResolved=False, by condition reason.',
    labelNames: ['reason'],
    registers,
  });
  const fatals = new Counter({
    name: 'lambda_canary_fatal_results_total',
    help: 'Fatal results returned: the XR could not be composed (invalid spec or input, internal error).',
    registers,
  });

  const analysisRuns = new Counter({
    name: 'lambda_canary_analysis_runs_total',
    help: 'Rollout analysis measurements taken, by what they said (status.rollout.analysis.result; Unrecorded: promote ended the step in the same call).',
    labelNames: ['result'],
    registers,
  });
  const analysisCheckFailures = new Counter({
    name: 'lambda_canary_analysis_check_failures_total',
    help: 'Failed checks in rollout analysis measurements, by kind of check: alarm, errorRate, throttleRate, duration, custom.',
    labelNames: ['check'],
    registers,
  });
  const analysisAborts = new Counter({
    name: 'lambda_canary_analysis_aborts_total',
    help: 'Rollouts aborted by their analysis, by cause: alarm, failureLimit, unreadableFor, tooFewInvocations.',
    labelNames: ['cause'],
    registers,
  });
  for (const result of ANALYSIS_RUN_RESULTS) analysisRuns.inc({ result }, 0);
  for (const check of ANALYSIS_CHECK_KINDS) analysisCheckFailures.inc({ check }, 0);
  for (const cause of ANALYSIS_ABORT_CAUSES) analysisAborts.inc({ cause }, 0);

  // Unknown fields are counted in a plain map on the decoder's skip path and
  // moved into the counter when it is collected (at scrape time).
  const pendingUnknown = new Map<string, Map<number | 'other', number>>();
  let unknownLabels = 0;
  const unknownFields: UnknownFieldSink = {
    count(message, field) {
      let fields = pendingUnknown.get(message);
      if (fields === undefined) pendingUnknown.set(message, (fields = new Map<number | 'other', number>()));
      let key: number | 'other' = field;
      let n = fields.get(key);
      if (n === undefined) {
        if (unknownLabels >= MAX_UNKNOWN_FIELD_LABELS) {
          key = 'other';
          n = fields.get(key) ?? 0;
        } else unknownLabels++;
      }
      fields.set(key, (n ?? 0) + 1);
    },
  };
  const unknownWireFields = new Counter({
    name: 'lambda_canary_unknown_wire_fields_total',
    help:
      'Request fields the wire decoder skipped because it does not know them, by protobuf message and field number: ' +
      'the caller speaks a newer protocol than this build (the function ignores such fields).',
    labelNames: ['message', 'field'],
    registers,
    collect() {
      for (const [message, fields] of pendingUnknown) {
        for (const [field, n] of fields) {
          if (n === 0) continue;
          unknownWireFields.inc({ message, field: String(field) }, n);
          fields.set(field, 0);
        }
      }
    },
  });

  const cloudwatchCalls = new Counter({
    name: 'lambda_canary_cloudwatch_calls_total',
    help: 'CloudWatch API calls (each attempt and each page), by API and outcome: success, throttled, error, deadline.',
    labelNames: ['api', 'outcome'],
    registers,
  });
  const cloudwatchSeconds = new Histogram({
    name: 'lambda_canary_cloudwatch_call_seconds',
    help: 'Duration of CloudWatch API calls (each attempt and each page), by API.',
    labelNames: ['api'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const cloudwatchCacheHits = new Counter({
    name: 'lambda_canary_cloudwatch_cache_hits_total',
    help: 'Measurement queries answered from the CloudWatch cache, or joined to the identical query in flight, instead of a call.',
    registers,
  });
  const CLOUDWATCH_APIS: readonly CloudWatchApiName[] = ['DescribeAlarms', 'GetMetricData'];
  const CALL_OUTCOMES: readonly CallOutcome[] = ['success', 'throttled', 'error', 'deadline'];
  for (const api of CLOUDWATCH_APIS) {
    for (const outcome of CALL_OUTCOMES) cloudwatchCalls.inc({ api, outcome }, 0);
    cloudwatchSeconds.zero({ api });
  }

  for (const phase of phaseValues) phases.inc({ phase }, 0);
  for (const reason of TRAFFIC_CHANGE_REASONS) trafficChanges.inc({ reason }, 0);

  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  return {
    registry,
    unknownFields,
    cloudwatch: {
      call(api, outcome, seconds) {
        cloudwatchCalls.inc({ api, outcome });
        cloudwatchSeconds.observe({ api }, seconds);
      },
      cacheHit() {
        cloudwatchCacheHits.inc();
      },
    },
    initCall(service, method = 'RunFunction') {
      const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
      started.inc(labels, 0);
      received.inc(labels, 0);
      sent.inc(labels, 0);
      handled.inc({ ...labels, grpc_code: 'OK' }, 0);
      handling.zero(labels);
    },
    startCall(service, method = 'RunFunction') {
      const labels = { grpc_type: 'unary', grpc_service: service, grpc_method: method };
      started.inc(labels);
      received.inc(labels);
      const stopTimer = handling.startTimer(labels);
      let done = false;
      return (code) => {
        if (done) return;
        done = true;
        handled.inc({ ...labels, grpc_code: grpcCodeName(code) });
        if (code === 0) sent.inc(labels);
        stopTimer();
      };
    },
    observeResponse(rsp, facts) {
      try {
        const results = Array.isArray(rsp?.results) ? rsp.results : [];
        for (const r of results) {
          if (r?.severity === Severity.SEVERITY_FATAL) fatals.inc();
          if (typeof r?.reason === 'string' && TRAFFIC_CHANGE_SET.has(r.reason)) trafficChanges.inc({ reason: r.reason });
        }
        const conditions = Array.isArray(rsp?.conditions) ? rsp.conditions : [];
        for (const c of conditions) {
          if (c?.type === CONDITION_VERSIONS_RESOLVED && c.status === Status.STATUS_CONDITION_FALSE) {
            resolutionFailures.inc({ reason: typeof c.reason === 'string' && c.reason !== '' ? c.reason : 'Unknown' });
          }
        }
        const xr = rsp?.desired?.composite?.resource;
        const status = isRecord(xr) ? xr['status'] : undefined;
        const rollout = isRecord(status) ? status['rollout'] : undefined;
        const phase = isRecord(rollout) ? rollout['phase'] : undefined;
        // Only the schema's phases, so a stray value cannot grow the label set.
        if (typeof phase === 'string' && PHASE_SET.has(phase)) phases.inc({ phase });
        const run = analysisRun(rollout, results, facts);
        if (run !== undefined) {
          analysisRuns.inc({ result: run.result });
          for (const check of run.failed) analysisCheckFailures.inc({ check });
          if (run.abort !== undefined) analysisAborts.inc({ cause: run.abort });
        }
      } catch {
        // Metrics must never fail a call.
      }
    },
  };
}

let shared: FunctionMetrics | undefined;

/** The process-wide metrics main.ts serves and the function server records into. */
export function defaultMetrics(): FunctionMetrics {
  shared ??= createMetrics();
  return shared;
}

export interface MetricsServer {
  /** The port actually bound (useful when the address asked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** host:port by the one parser the gRPC address uses too (host-port.ts); throws a message naming the flag's form. */
function splitAddress(address: string): HostPort {
  const hp = splitHostPort(address);
  if (!hp) throw new Error(`serving metrics: "${address}" is not host:port (e.g. 0.0.0.0:8080 or 127.0.0.1:0)`);
  return hp;
}

/**
 * Serves GET /metrics in the Prometheus text format on host:port (port 0
 * picks a free port). Resolves once listening; rejects if it cannot bind.
 */
export function serveMetrics(address: string, metrics: FunctionMetrics = defaultMetrics()): Promise<MetricsServer> {
  const { registry } = metrics;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are served at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  });

  return new Promise((resolve, reject) => {
    const { host, port } = splitAddress(address); // a throw here rejects
    const onError = (err: Error): void => reject(new Error(`binding the metrics server to ${address}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      let closing: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Prometheus keeps scrape connections alive; do not wait for them.
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
