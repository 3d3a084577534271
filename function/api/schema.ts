// The single source of the LambdaCanary API and of the function's Input.
// The XRDs and the Input CRD in package/ are generated from these schemas
// (scripts/generate-crds.ts); a test fails when the committed YAML drifts.
//
// Kubernetes-only facts that zod cannot express (CEL rules, printer columns)
// ride along as JSON-schema metadata (`.meta`), so they stay next to the
// field they describe.
import { z } from 'zod';
import { ON_ANY_OBJECT, rejectNearMisses, rejectUnknownFields } from './unknown-fields.js';

/** Kubernetes object names (DNS-1123 subdomain), as ACK resources require. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Lambda alias names: letters, digits, '-' and '_', not all digits, at most 128. */
// No look-ahead: the pattern is also enforced by the API server, whose RE2 has none.
export const ALIAS_NAME = /^[a-zA-Z0-9_-]*[a-zA-Z_-][a-zA-Z0-9_-]*$/;
/**
 * A published Lambda version number, or $LATEST. Lambda numbers versions
 * from 1 and never writes a leading zero: "041" beside "41" would name the
 * same version twice (and split traffic onto itself).
 */
export const LITERAL_VERSION = /^([1-9][0-9]*|\$LATEST)$/;
/** Kubernetes namespace names (DNS-1123 label): no dots, at most 63. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const objectName = z.string().min(1).max(253).regex(DNS1123_SUBDOMAIN, 'must be a Kubernetes object name: lower-case letters, digits, "-" and "."');

/** ACK's reference shape: `{from: {name, namespace?}}`. */
export const resourceReferenceSchema = z
  .strictObject({
    from: z
      .strictObject({
        name: objectName.describe('Name of the referenced ACK resource.'),
        namespace: z
          .string()
          .min(1)
          .max(63)
          .regex(DNS1123_LABEL, 'must be a namespace name: lower-case letters, digits and "-", at most 63')
          .optional()
          .describe('Namespace of the referenced resource. Defaults to the namespace the rendered objects go to.'),
      })
      .describe('The referenced ACK resource.'),
  })
  .describe('A reference to an ACK resource, in the shape ACK itself uses.');

const exactlyOne = (a: string, b: string) => ({
  rule: `has(self.${a}) != has(self.${b})`,
  message: `set exactly one of ${a} or ${b}`,
});

/** Where an exactly-one-of rule fails, the message names both fields. */
function requireExactlyOne<T extends Record<string, unknown>>(a: keyof T & string, b: keyof T & string) {
  return (value: T, ctx: z.RefinementCtx) => {
    const has = (k: string) => value[k] !== undefined;
    if (has(a) === has(b)) {
      ctx.addIssue({
        code: 'custom',
        message: `set exactly one of ${a} or ${b}`,
        path: [],
      });
    }
  };
}

export const functionSelectorSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      // Lambda's FunctionName for aliases: a name of at most 64, or a (partial)
      // ARN of at most 140 characters.
      .max(140)
      .refine((n) => n.includes(':') || n.length <= 64, {
        message: 'must be a function name of at most 64 characters, or a function ARN of at most 140',
      })
      .optional()
      .describe('Lambda function name (at most 64 characters) or ARN (at most 140), written to the Alias spec.functionName.'),
    ref: resourceReferenceSchema.optional().describe('An ACK Function, written to the Alias spec.functionRef.'),
  })
  .superRefine(requireExactlyOne('name', 'ref'))
  .meta({ 'x-kubernetes-validations': [exactlyOne('name', 'ref')] })
  .describe('The Lambda function the alias belongs to: exactly one of name or ref.');

export const aliasSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(ALIAS_NAME, 'must be a Lambda alias name: letters, digits, "-" or "_", and not all digits')
      .describe('The Lambda alias name (for example "live"). Not all digits; [a-zA-Z0-9-_]+; at most 128.'),
    description: z.string().max(256).optional().describe('The alias description.'),
  })
  .describe('The Lambda alias this XR manages.');

const versionFields = {
  version: z
    .string()
    .regex(LITERAL_VERSION, 'must be a published version number without leading zeros, such as "5", or "$LATEST"')
    .optional()
    .describe('A literal Lambda version: digits, or $LATEST.'),
  versionRef: resourceReferenceSchema.optional().describe('An ACK Version; its status.version is used once ACK has published it.'),
};

export const versionSelectorSchema = z
  .strictObject(versionFields)
  .superRefine(requireExactlyOne('version', 'versionRef'))
  .meta({ 'x-kubernetes-validations': [exactlyOne('version', 'versionRef')] })
  .describe('A Lambda version: exactly one of version or versionRef.');

/** A percentage with at most two decimals, as written by people and pipelines. */
export const weightPercentSchema = z
  .number()
  .min(0)
  .max(100)
  // Exactly a number with two decimals, as YAML reads "33.33": a tolerance
  // would let 99.9999999999 through as 100 and 1e-10 as 0.
  .refine((w) => Number.isFinite(w) && Math.round(w * 100) / 100 === w, {
    message: 'must have at most two decimals (for example 10 or 33.33)',
  });

export const canarySchema = z
  .strictObject({
    ...versionFields,
    weight: weightPercentSchema.describe(
      'Percent of the alias traffic the canary version receives, 0-100, up to two decimals. 0: no routing; 100: the alias moves wholly to the canary.',
    ),
  })
  .superRefine(requireExactlyOne('version', 'versionRef'))
  .meta({ 'x-kubernetes-validations': [exactlyOne('version', 'versionRef')] })
  .describe('The canary version and its share of traffic (manual mode).');

export const publishedVersionSchema = z
  .strictObject({
    name: objectName.describe('Name of the ACK Version object; versionRef.from.name may name it.'),
    codeSHA256: z
      .string()
      .regex(/^[A-Za-z0-9+/=]+$/, 'must be the base64 SHA-256 of the code, as Lambda reports CodeSha256')
      .optional()
      .describe('Publish only if the function code has this SHA-256 (Lambda CodeSha256).'),
    description: z.string().max(256).optional().describe('Description of the published version.'),
  })
  .describe('An ACK Version this XR publishes itself.');

export const ROLLOUT_PRESETS = [
  'Canary10Percent5Minutes',
  'Canary10Percent10Minutes',
  'Canary10Percent15Minutes',
  'Canary10Percent30Minutes',
  'Linear10PercentEvery1Minute',
  'Linear10PercentEvery2Minutes',
  'Linear10PercentEvery3Minutes',
  'Linear10PercentEvery10Minutes',
  'AllAtOnce',
] as const;

/** Go-style durations such as 30s, 5m, 1h30m. */
export const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
export const MAX_PAUSE_MS = 8760 * 3600_000;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000 };

/** Milliseconds in a duration that matches DURATION. */
export function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  return total;
}

export const rolloutStepSchema = z
  .strictObject({
    weight: weightPercentSchema.describe('Percent of traffic the target gets during this step.'),
    pause: z
      .strictObject({
        duration: z
          .string()
          .regex(DURATION, 'must be a duration such as 30s, 5m or 1h30m')
          // A pause past any clock (99999999999h) would end in an invalid date.
          .refine((d) => !DURATION.test(d) || durationMs(d) <= MAX_PAUSE_MS, { message: 'must be at most 8760h (one year)' })
          .optional()
          .describe('How long to hold this weight. Omit to hold until spec.rollout.resume changes.'),
      })
      .optional()
      .describe('How long to hold the weight before the next step. Omit pause to move on as soon as the step is synced.'),
  })
  .describe('One step of a custom rollout.');

const durationField = (what: string) =>
  z
    .string()
    .regex(DURATION, 'must be a duration such as 30s, 5m or 1h30m')
    .refine((d) => !DURATION.test(d) || durationMs(d) <= MAX_PAUSE_MS, { message: 'must be at most 8760h (one year)' })
    .describe(what);

/** A bound on one measured value: absolute, relative to stable's, or both. */
const comparisonFields = (unit: string) => ({
  max: z.number().min(0).optional().describe(`Fail when the canary's value is above this (${unit}).`),
  maxRatioToStable: z
    .number()
    .min(1)
    .max(1000)
    .optional()
    .describe("Fail when the canary's value is above this multiple of stable's over the same window (for example 1.5)."),
});
const eitherBound = { message: 'set max, maxRatioToStable or both' };
const hasBound = (c: { max?: number; maxRatioToStable?: number }) => c.max !== undefined || c.maxRatioToStable !== undefined;
const comparisonSchema = (unit: string) => z.strictObject(comparisonFields(unit)).refine(hasBound, eitherBound);

export const metricStatSchema = z.strictObject({
  namespace: z.string().min(1).max(255).describe('CloudWatch namespace, for example AWS/Lambda or a team namespace.'),
  metricName: z.string().min(1).max(255).describe('Metric name.'),
  dimensions: z
    .array(z.strictObject({ name: z.string().min(1).max(255), value: z.string().min(1).max(1024) }))
    .max(30)
    .optional()
    .describe('Dimensions, in CloudWatch order.'),
  stat: z
    .string()
    .regex(
      /^(Sum|Average|Minimum|Maximum|SampleCount|p[0-9]{1,2}(\.[0-9]{1,2})?)$/,
      'must be Sum, Average, Minimum, Maximum, SampleCount or a percentile such as p99',
    )
    .describe('Statistic.'),
  periodSeconds: z.number().int().min(60).max(86400).multipleOf(60).default(60).describe('Period of the datapoints (a multiple of 60).'),
});

export const customCheckSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-zA-Z0-9_]{0,62}$/, 'must start with a lower-case letter and hold only letters, digits and _ (a CloudWatch query id)')
      .describe('Name of the check, shown in status and events.'),
    metric: metricStatSchema.optional().describe('A CloudWatch metric.'),
    expression: z.string().min(1).max(1024).optional().describe('A CloudWatch metric math expression, instead of metric.'),
    max: z.number().optional().describe('Fail when the value is above this.'),
    min: z.number().optional().describe('Fail when the value is below this.'),
  })
  .superRefine(requireExactlyOne('metric', 'expression'))
  .refine((c) => c.max !== undefined || c.min !== undefined, { message: 'set max, min or both' })
  .describe('A check of a metric of your own, over the step so far.');

export const analysisSchema = z
  .strictObject({
    alarms: z
      .strictObject({
        names: z.array(z.string().min(1).max(255)).min(1).max(10).describe('CloudWatch alarm names (at most 10, as CodeDeploy). Any in ALARM aborts.'),
        insufficientData: z
          .enum(['Ignore', 'Fail'])
          .default('Ignore')
          .describe('What INSUFFICIENT_DATA (or an alarm CloudWatch does not know) means: Ignore (default) or Fail (abort).'),
      })
      .optional()
      .describe('CloudWatch alarms watched for the whole rollout.'),
    errorRate: comparisonSchema('a fraction, 0.01 = 1%')
      .optional()
      .describe("The canary's Errors / Invocations through the alias, from Lambda's per-version metrics."),
    throttleRate: comparisonSchema('a fraction').optional().describe("The canary's Throttles / Invocations through the alias."),
    duration: z
      .strictObject({
        ...comparisonFields('milliseconds'),
        statistic: z
          .string()
          .regex(/^(Average|p[0-9]{1,2}(\.[0-9]{1,2})?)$/, 'must be Average or a percentile such as p99')
          .default('Average')
          .describe('Average (default) or a percentile such as p99.'),
      })
      .refine(hasBound, eitherBound)
      .optional()
      .describe("The canary's Duration through the alias."),
    metrics: z.array(customCheckSchema).max(10).optional().describe('Checks of metrics of your own.'),
    minInvocations: z
      .number()
      .int()
      .min(1)
      .max(100_000_000)
      .optional()
      .describe('A step ends only when its pause has elapsed AND the canary has served at least this many invocations in it.'),
    maxWaitForInvocations: durationField('How long a step may wait for minInvocations after its pause (default 1h).').optional(),
    onTooFewInvocations: z.enum(['Fail', 'Pass']).default('Fail').describe('After maxWaitForInvocations: Fail (abort, default) or Pass (advance).'),
    interval: durationField('How often to measure (default 1m, at least 30s).').optional(),
    failureLimit: z.number().int().min(0).max(100).default(0).describe('Failed measurements allowed; one more aborts (default 0: the first failure aborts).'),
    unreadableFor: durationField('How long CloudWatch may be unreadable (the step holds meanwhile) before the rollout aborts (default 10m).').optional(),
    skip: z.string().max(63).optional().describe('Change to any new value to skip analysis for the rest of this rollout (for an emergency fix).'),
  })
  .describe('Automated analysis: a step advances only when its checks pass; a failed check aborts the rollout.');

export const rolloutSchema = z
  .strictObject({
    target: versionSelectorSchema.describe('The version that should end up taking all traffic.'),
    strategy: z
      .strictObject({
        preset: z.enum(ROLLOUT_PRESETS).optional().describe('A CodeDeploy deployment preference by name.'),
        steps: z.array(rolloutStepSchema).min(1).max(100).optional().describe('Custom steps, Argo Rollouts style.'),
      })
      .superRefine(requireExactlyOne('preset', 'steps'))
      .meta({ 'x-kubernetes-validations': [exactlyOne('preset', 'steps')] })
      .describe('How traffic moves to the target: exactly one of preset or steps.'),
    paused: z.boolean().optional().describe('Hold the rollout at its current weight while true.'),
    abort: z.boolean().optional().describe('While true, all traffic returns to stable and the rollout stops.'),
    resume: z.string().max(63).optional().describe('Change to any new value to end an indefinite pause step.'),
    promote: z.string().max(63).optional().describe('Change to any new value to skip the remaining steps and send all traffic to the target.'),
    retry: z.string().max(63).optional().describe('Change to any new value to restart an aborted rollout from its first step.'),
    analysis: analysisSchema.optional(),
  })
  .describe('Progressive mode: declare the target and let the function move traffic step by step.');

const lambdaCanarySpecShape = {
  function: functionSelectorSchema,
  alias: aliasSchema,
  stable: versionSelectorSchema.optional().describe('Manual mode: the version that takes the traffic the canary does not.'),
  canary: canarySchema.optional(),
  rollout: rolloutSchema.optional(),
  versions: z.array(publishedVersionSchema).max(64).optional().describe('ACK Versions this XR publishes itself, one per entry.'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]+$/, 'must be an AWS region such as us-east-1')
    .optional()
    .describe('AWS region, written as the services.k8s.aws/region annotation on everything rendered.'),
};

/** The fields of ours at the top of a LambdaCanary spec. */
export const LAMBDA_CANARY_SPEC_FIELDS: readonly string[] = Object.keys(lambdaCanarySpecShape);

// Loose, not strict: Crossplane writes its own fields at the top of spec, and a
// platform team's XRD may add its own. Near misses of ours are still refused
// (unknown-fields.ts); the XRDs generated from this declare only our fields, so
// the API server prunes anything else before the function sees it.
export const lambdaCanarySpecSchema = z
  .looseObject(lambdaCanarySpecShape)
  .superRefine(rejectNearMisses(LAMBDA_CANARY_SPEC_FIELDS), ON_ANY_OBJECT)
  .superRefine((spec, ctx) => {
    if (spec.rollout !== undefined && (spec.stable !== undefined || spec.canary !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['rollout'],
        message: 'use either manual mode (stable and canary) or progressive mode (rollout), not both',
      });
    }
    if (spec.rollout === undefined && spec.stable === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['stable'],
        message: 'is required in manual mode; set stable (and optionally canary), or set rollout for progressive mode',
      });
    }
    const seen = new Set<string>();
    for (const [i, v] of (spec.versions ?? []).entries()) {
      if (seen.has(v.name)) {
        ctx.addIssue({ code: 'custom', path: ['versions', i, 'name'], message: `duplicates "${v.name}"; names must be unique` });
      }
      seen.add(v.name);
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '!(has(self.rollout) && (has(self.stable) || has(self.canary)))', message: 'use either stable/canary or rollout, not both' },
      { rule: 'has(self.rollout) || has(self.stable)', message: 'set stable (manual mode) or rollout (progressive mode)' },
    ],
  });

export type LambdaCanarySpec = z.infer<typeof lambdaCanarySpecSchema>;
export type VersionSelector = z.infer<typeof versionSelectorSchema>;
export type ResourceReference = z.infer<typeof resourceReferenceSchema>;
export type RolloutSpec = z.infer<typeof rolloutSchema>;
export type RolloutStep = z.infer<typeof rolloutStepSchema>;
export type AnalysisSpec = z.infer<typeof analysisSchema>;

// ---------------------------------------------------------------------------
// Status: what the function writes back. Also generated into the XRDs, so that
// the API server keeps it (status fields an XRD does not declare are pruned).

const resolvedVersionStatus = z.strictObject({
  name: z.string().optional().describe('The ACK Version name, where the version came from a reference.'),
  version: z.string().optional().describe('The Lambda version number.'),
  weight: z.number().optional().describe('Percent of alias traffic.'),
});

export const phaseValues = ['Stable', 'Progressing', 'Paused', 'Promoted', 'Aborted', 'Held'] as const;

export const rolloutStatusSchema = z.strictObject({
  phase: z.enum(phaseValues).optional(),
  target: z.string().optional().describe('Identity of the target the rollout moves to (version number or ACK Version name).'),
  targetVersion: z.string().optional(),
  step: z.number().int().optional().describe('Current step, 1-based; 0 before the first step.'),
  totalSteps: z.number().int().optional(),
  weight: z.number().optional().describe('Percent of traffic on the target now.'),
  stepStartedAt: z.string().optional(),
  nextStepAt: z.string().optional(),
  abortReason: z.string().optional(),
  stableVersion: z.string().optional().describe('The version that last took all traffic.'),
  stableRef: z.string().optional().describe('namespace/name of the ACK Version that is stable, where known.'),
  resumeToken: z.string().optional(),
  promoteToken: z.string().optional(),
  retryToken: z.string().optional(),
  changedAt: z.string().optional().describe('When this state last changed; orders a status and the Alias record that disagree.'),
  analysis: z
    .strictObject({
      result: z.enum(['Passing', 'Failing', 'Waiting', 'Unreadable', 'Skipped']).optional(),
      lastMeasuredAt: z.string().optional(),
      failures: z.number().int().optional().describe('Failed measurements in this rollout.'),
      canaryInvocations: z.number().optional().describe('Invocations the canary served in this step, as CloudWatch reports them.'),
      unreadableSince: z.string().optional(),
      pauseEndedAt: z.string().optional().describe('When an indefinite pause of this step was resumed.'),
      skipToken: z.string().optional(),
      checks: z
        .array(
          z.strictObject({
            name: z.string(),
            value: z.number().optional(),
            stable: z.number().optional(),
            bound: z.string().optional(),
            passed: z.boolean().optional(),
          }),
        )
        .max(20)
        .optional()
        .describe('The last value of each check.'),
      message: z.string().optional(),
    })
    .optional()
    .describe('Automated analysis: the last measurement of each check and why a step advanced or stopped.'),
});

export const lambdaCanaryStatusSchema = z.looseObject({
  stable: resolvedVersionStatus.optional(),
  canary: resolvedVersionStatus.optional(),
  aliasARN: z.string().optional(),
  message: z.string().optional(),
  stableVersion: z.string().optional().describe('Printer column: the stable version number.'),
  canaryVersion: z.string().optional().describe('Printer column: the canary version number.'),
  canaryWeight: z.number().optional().describe('Printer column: percent of traffic on the canary.'),
  rollout: rolloutStatusSchema.optional(),
});

export type LambdaCanaryStatus = z.infer<typeof lambdaCanaryStatusSchema>;

// ---------------------------------------------------------------------------
// The function's Input (Composition pipeline step input).

export const INPUT_API_VERSION = 'lambdacanary.fn.crossplane.io/v1beta1';
export const INPUT_KIND = 'Input';

const inputShape = {
  apiVersion: z.literal(INPUT_API_VERSION).optional(),
  kind: z.literal(INPUT_KIND).optional(),
  mode: z
    .enum(['LambdaCanary', 'Resolver'])
    .default('LambdaCanary')
    .describe(
      'LambdaCanary: render Aliases from a LambdaCanary XR. Resolver: resolve version references inside ACK Aliases that earlier pipeline steps rendered.',
    ),
  resolver: z
    .strictObject({
      keepFunctionVersionRef: z
        .boolean()
        .default(false)
        .describe(
          'Render spec.functionVersionRef alone, without spec.functionVersion (ACK refuses a reference and its value together), for ACK releases whose Alias has functionVersionRef; none released up to v1.14.2 has. Weight refs are still resolved into additionalVersionWeights.',
        ),
    })
    .optional()
    .describe('Options of Resolver mode.'),
};

/** The Input's own fields (apiVersion and kind included). */
export const INPUT_FIELDS: readonly string[] = Object.keys(inputShape);

// The Input is ours alone, so every unknown field is refused (metadata, which
// any Kubernetes-style object may carry, aside). Loose plus a refinement rather
// than strict: the Input CRD generated from this stays as it was, and the
// message can suggest the field that was meant.
export const inputSchema = z
  .looseObject(inputShape)
  .superRefine(rejectUnknownFields(INPUT_FIELDS), ON_ANY_OBJECT)
  .describe('Input of the function-lambda-canary pipeline step.');

export type FunctionInput = z.infer<typeof inputSchema>;
