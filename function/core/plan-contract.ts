// The plan contract: what a planner returns and the handler turns into a
// RunFunctionResponse, shared by the LambdaCanary planner (canary-planner.ts),
// the resolver-mode planner (resolver-planner.ts) and rollout.ts. Types and a
// few constants only, so the planners depend on it and not on each other.
import { CLAIM_NAMESPACE_LABEL, label, metaNamespace, type KubeObject } from './k8s.js';
import type { LambdaCanaryStatus } from '../api/schema.js';
import type { RequirementSelector } from './version-lookup.js';
import type { MeasurementQuery, Measurements } from './analysis/measurements.js';

export type Severity = 'Normal' | 'Warning' | 'Fatal';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface PlanResult {
  severity: Severity;
  message: string;
  reason?: string;
}

export interface PlanCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

export interface DesiredComposed {
  resource: KubeObject;
  ready: boolean;
}

export interface PlanInput {
  /** The observed composite resource (the LambdaCanary XR). */
  composite: KubeObject;
  /** Observed composed resources, by composition resource name. */
  observed: Readonly<Record<string, KubeObject>>;
  /** Required (or extra) resources, by requirement key; absent = not fetched yet. */
  required: Readonly<Record<string, KubeObject[]>>;
  now: Date;
  /**
   * CloudWatch's answers to the measurements a first pass asked for
   * (Plan.measure; handler.ts runFunctionWithMeasurements, aws/cloudwatch.ts);
   * undefined on the first pass.
   */
  measurements?: Measurements;
}

/**
 * What a Fatal result says happened, as its reason:
 * - InvalidSpec: the LambdaCanary's spec cannot be acted on;
 * - InvalidInput: the pipeline step's input is not a valid Input;
 * - NoComposite: the request carries no observed composite resource;
 * - NoNamespace: no namespace to render into (a cluster-scoped XR without a claim, an Alias without one);
 * - InvalidAlias: resolver mode, an Alias an earlier step rendered has invalid references;
 * - InternalError: a bug in the function.
 */
export type FatalReason = 'InvalidSpec' | 'InvalidInput' | 'NoComposite' | 'NoNamespace' | 'InvalidAlias' | 'ResourceNameConflict' | 'InternalError';

export interface Plan {
  /** Set when the spec cannot be acted on; nothing else is rendered then. */
  fatal?: string;
  /** The Fatal result's reason; set with fatal (fatalPlan sets both). */
  fatalReason?: FatalReason;
  desired: Record<string, DesiredComposed>;
  status?: LambdaCanaryStatus;
  conditions: PlanCondition[];
  results: PlanResult[];
  requirements: Record<string, RequirementSelector>;
  /** When Crossplane should call again, in seconds. */
  ttlSeconds: number;
  /**
   * Earlier steps' desired resources to leave out (resolver mode: an Alias
   * whose references do not resolve yet and that does not exist yet).
   */
  removed?: string[];
  /**
   * Measurements a rollout's analysis needs before it can decide: the
   * handler runs them (under a deadline) and plans again with the answers.
   * Nothing else in such a plan is used.
   */
  measure?: MeasurementQuery[];
}

export const CONDITION_VERSIONS_RESOLVED = 'VersionsResolved';
export const CONDITION_TRAFFIC_ROUTED = 'TrafficRouted';
export const CONDITION_ANALYSIS_PASSING = 'AnalysisPassing';

/** Re-check soon while something is pending; otherwise at Crossplane's usual pace. */
export const TTL_PENDING_SECONDS = 15;
export const TTL_STEADY_SECONDS = 60;

/** A plan that renders nothing and returns one Fatal result. */
export function fatalPlan(reason: FatalReason, message: string): Plan {
  return { fatal: message, fatalReason: reason, desired: {}, conditions: [], results: [], requirements: {}, ttlSeconds: TTL_STEADY_SECONDS };
}

/** Where rendered objects go: the XR's namespace, else its claim's. */
export function targetNamespace(composite: KubeObject): string | undefined {
  return metaNamespace(composite) || label(composite, CLAIM_NAMESPACE_LABEL) || undefined;
}
