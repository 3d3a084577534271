// The requests the benchmark sends, built the way Crossplane would send them.
//
// - reference: examples/canary-composed (a namespaced v2 XR that publishes two
//   Versions itself), with both observed ACK Versions carrying a realistic,
//   ~4 KB status (what the ACK controller writes back: environment variables,
//   layers, vpcConfig, ...) and the observed Alias.
// - scale(n): examples/v1-claim's cluster-scoped claim XR (label
//   crossplane.io/claim-namespace), whose two versionRefs must be found among
//   n Versions Crossplane sent as required resources (the cluster-wide list a
//   claim XR asks for), each with the same kind of realistic status.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Capability, RunFunctionRequest, type Resource } from '@crossplane-org/function-sdk-typescript';
import { ALL_VERSIONS_REQUIREMENT } from '../function/core/version-lookup.js';

type Obj = Record<string, unknown>;

/** Bytes of JSON the padded status of each Version aims at. */
export const STATUS_TARGET_BYTES = 4 * 1024;
export const SCALE_SIZES = [10, 100, 1000] as const;

/** The repository root, from bench/ (ts) or dist/bench/ (compiled). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'examples'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function readYaml(...path: string[]): Obj[] {
  const file = join(repoRoot(), ...path);
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`parsing ${file}: ${d.errors[0]!.message}`);
    return d.toJSON() as Obj;
  });
}

/** A deterministic stand-in for the UUIDs and hashes the API server and AWS write. */
function hex(seed: string, len: number): string {
  let h = 2166136261;
  let out = '';
  while (out.length < len) {
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619) >>> 0;
    out += h.toString(16).padStart(8, '0');
    seed += out.length;
  }
  return out.slice(0, len);
}

function uid(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const ACCOUNT = '123456789012';

/** Environment variables of the kind a production Lambda carries. */
function environmentVariables(fn: string, region: string, seed: string): Record<string, string> {
  const app = fn.replace(/-api$/, '');
  return {
    NODE_ENV: 'production',
    NODE_OPTIONS: '--enable-source-maps --max-old-space-size=896',
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    LOG_LEVEL: 'info',
    POWERTOOLS_SERVICE_NAME: fn,
    POWERTOOLS_METRICS_NAMESPACE: 'Commerce',
    POWERTOOLS_LOGGER_SAMPLE_RATE: '0.01',
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
    TABLE_NAME: `${app}-prod`,
    TABLE_ARN: `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${app}-prod`,
    EVENT_BUS_NAME: 'commerce-prod',
    EVENT_BUS_ARN: `arn:aws:events:${region}:${ACCOUNT}:event-bus/commerce-prod`,
    QUEUE_URL: `https://sqs.${region}.amazonaws.com/${ACCOUNT}/${app}-events-prod`,
    DLQ_URL: `https://sqs.${region}.amazonaws.com/${ACCOUNT}/${app}-events-prod-dlq`,
    CONFIG_BUCKET: `commerce-config-${ACCOUNT}-${region}`,
    SECRETS_ARN: `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${app}/prod/db-${hex(seed + 'secret', 6)}`,
    PAYMENTS_API_URL: 'https://payments.internal.example.com/v3',
    INVENTORY_API_URL: 'https://inventory.internal.example.com/v2',
    APPCONFIG_APPLICATION: app,
    APPCONFIG_ENVIRONMENT: 'prod',
    APPCONFIG_CONFIGURATION: 'feature-flags',
    OTEL_SERVICE_NAME: fn,
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
    OTEL_PROPAGATORS: 'tracecontext,baggage,xray',
    OTEL_RESOURCE_ATTRIBUTES: `deployment.environment=prod,service.namespace=commerce,service.version=${hex(seed + 'git', 12)}`,
    DD_SITE: 'datadoghq.com',
    DD_ENV: 'prod',
    DD_SERVICE: fn,
    DD_TRACE_ENABLED: 'true',
    DD_MERGE_XRAY_TRACES: 'true',
  };
}

/**
 * What ACK writes into a published Version's status, padded with further
 * (equally realistic) environment variables up to targetBytes of JSON.
 */
export function realisticVersionStatus(opts: { fn: string; region: string; version: string; role: string; seed: string; targetBytes?: number }): Obj {
  const { fn, region, version, role, seed } = opts;
  const arn = `arn:aws:lambda:${region}:${ACCOUNT}:function:${fn}:${version}`;
  const variables = environmentVariables(fn, region, seed);
  const status: Obj = {
    ackResourceMetadata: { arn, ownerAccountID: ACCOUNT, region },
    architectures: ['arm64'],
    codeSize: 18_874_211,
    conditions: [
      {
        type: 'ACK.ResourceSynced',
        status: 'True',
        message: 'Resource synced successfully',
        reason: '',
        lastTransitionTime: '2026-11-26T09:12:44Z',
      },
    ],
    deadLetterConfig: { targetARN: `arn:aws:sqs:${region}:${ACCOUNT}:${fn}-dlq` },
    environment: { variables },
    ephemeralStorage: { size: 512 },
    fileSystemConfigs: [{ arn: `arn:aws:elasticfilesystem:${region}:${ACCOUNT}:access-point/fsap-${hex(seed + 'efs', 17)}`, localMountPath: '/mnt/models' }],
    functionARN: arn,
    handler: 'dist/handler.main',
    kmsKeyARN: `arn:aws:kms:${region}:${ACCOUNT}:key/${uid(seed + 'kms')}`,
    lastModified: '2026-11-26T09:12:31.482+0000',
    lastUpdateStatus: 'Successful',
    layers: [
      { arn: `arn:aws:lambda:${region}:901920570463:layer:aws-otel-nodejs-arm64-ver-1-30-1:1`, codeSize: 9_613_274 },
      { arn: `arn:aws:lambda:${region}:464622532012:layer:Datadog-Extension-ARM:67`, codeSize: 12_412_095 },
      {
        arn: `arn:aws:lambda:${region}:${ACCOUNT}:layer:commerce-shared-deps:214`,
        codeSize: 27_801_339,
        signingJobARN: `arn:aws:signer:${region}:${ACCOUNT}:/signing-jobs/${uid(seed + 'job')}`,
        signingProfileVersionARN: `arn:aws:signer:${region}:${ACCOUNT}:/signing-profiles/commerce/${hex(seed + 'prof', 10)}`,
      },
    ],
    memorySize: 1024,
    packageType: 'Zip',
    qualifier: version,
    role,
    runtime: 'nodejs20.x',
    signingJobARN: `arn:aws:signer:${region}:${ACCOUNT}:/signing-jobs/${uid(seed + 'sjob')}`,
    signingProfileVersionARN: `arn:aws:signer:${region}:${ACCOUNT}:/signing-profiles/commerce/${hex(seed + 'sprof', 10)}`,
    snapStart: { applyOn: 'None', optimizationStatus: 'Off' },
    state: 'Active',
    timeout: 29,
    tracingConfig: { mode: 'Active' },
    version,
    vpcConfig: {
      ipv6AllowedForDualStack: false,
      securityGroupIDs: [`sg-${hex(seed + 'sg1', 17)}`, `sg-${hex(seed + 'sg2', 17)}`],
      subnetIDs: [`subnet-${hex(seed + 'sn1', 17)}`, `subnet-${hex(seed + 'sn2', 17)}`, `subnet-${hex(seed + 'sn3', 17)}`],
      vpcID: `vpc-${hex(seed + 'vpc', 17)}`,
    },
  };
  // Feature flags and downstream endpoints: the long tail of a real function's environment.
  const target = opts.targetBytes ?? STATUS_TARGET_BYTES;
  for (let i = 0; JSON.stringify(status).length < target; i++) {
    const key = `FEATURE_${['CHECKOUT', 'PRICING', 'SEARCH', 'RECOMMENDATIONS', 'LOYALTY', 'SHIPPING'][i % 6]}_${i}`;
    variables[key] = i % 2 === 0 ? 'enabled' : `https://flags.internal.example.com/${fn}/${hex(seed + key, 16)}`;
  }
  return status;
}

/** Realistic API-server metadata for an ACK Version. */
function versionMetadata(name: string, namespace: string, extra: Obj = {}): Obj {
  return {
    name,
    namespace,
    uid: uid(`${namespace}/${name}`),
    resourceVersion: String(40_000_000 + (parseInt(hex(name, 6), 16) % 1_000_000)),
    generation: 1,
    creationTimestamp: '2026-11-26T09:11:58Z',
    finalizers: ['finalizers.lambda.services.k8s.aws/Version'],
    ...extra,
  };
}

/** The observed Versions with ~4 KB of status each, the example's own status kept. */
function padObservedVersion(v: Obj): Obj {
  const meta = v.metadata as Obj;
  const spec = v.spec as Obj;
  const status = v.status as Obj;
  const padded = realisticVersionStatus({
    fn: String(spec.functionName),
    region: String((meta.annotations as Record<string, string> | undefined)?.['services.k8s.aws/region'] ?? 'us-east-1'),
    version: String(status.version),
    role: String(status.role),
    seed: String(meta.name),
  });
  return {
    ...v,
    metadata: versionMetadata(String(meta.name), String(meta.namespace), {
      annotations: meta.annotations,
      labels: { 'crossplane.io/composite': 'orders' },
    }),
    status: { ...padded, ...status, conditions: padded.conditions },
  };
}

const COMPOSITION_RESOURCE_NAME = 'crossplane.io/composition-resource-name';

function capabilities(): Capability[] {
  // What Crossplane v2.2 advertises.
  return [
    Capability.CAPABILITY_CAPABILITIES,
    Capability.CAPABILITY_REQUIRED_RESOURCES,
    Capability.CAPABILITY_CREDENTIALS,
    Capability.CAPABILITY_CONDITIONS,
    Capability.CAPABILITY_REQUIRED_SCHEMAS,
  ];
}

/** examples/canary-composed as Crossplane sends it, Versions padded with realistic status. */
export function referenceRequest(): RunFunctionRequest {
  const [xr] = readYaml('examples', 'canary-composed', 'xr.yaml');
  const observed = readYaml('examples', 'canary-composed', 'observed.yaml');
  const resources: Record<string, Resource> = {};
  let versions = 0;
  for (const obj of observed) {
    const name = ((obj.metadata as Obj).annotations as Obj)[COMPOSITION_RESOURCE_NAME];
    if (typeof name !== 'string') throw new Error('an observed resource in examples/canary-composed has no composition-resource-name');
    const resource = obj.kind === 'Version' ? padObservedVersion(obj) : obj;
    if (obj.kind === 'Version') versions++;
    resources[name] = { resource, connectionDetails: {}, ready: 0 };
  }
  if (versions !== 2 || Object.keys(resources).length !== 3) {
    throw new Error(`examples/canary-composed/observed.yaml changed: expected 2 Versions and an Alias, got ${Object.keys(resources).join(', ')}`);
  }
  return RunFunctionRequest.fromPartial({
    meta: { tag: 'bench-reference', capabilities: capabilities() },
    observed: { composite: { resource: xr! }, resources },
    desired: { composite: { resource: {} }, resources: {} },
  });
}

/**
 * The claim XR of examples/v1-claim with n Versions as required resources,
 * spread over ten namespaces. Its two references sit in the middle and at the
 * end of the list, and a same-named Version of another team comes first, so a
 * correct lookup has to scan and compare namespace and name.
 */
export function scaleRequest(n: number): RunFunctionRequest {
  if (!Number.isInteger(n) || n < 3) throw new Error(`scale request needs at least 3 Versions, got ${n}`);
  const [xr] = readYaml('examples', 'v1-claim', 'xr.yaml');
  const refs = readYaml('examples', 'v1-claim', 'required-resources.yaml');
  const namespace = ((xr!.metadata as Obj).labels as Obj)['crossplane.io/claim-namespace'] as string;
  const wanted = refs.filter((r) => (r.metadata as Obj).namespace === namespace);
  const decoys = refs.filter((r) => (r.metadata as Obj).namespace !== namespace);
  if (wanted.length !== 2) throw new Error(`examples/v1-claim/required-resources.yaml changed: expected 2 Versions in ${namespace}`);

  const items: Obj[] = [];
  const full = (v: Obj): Obj => {
    const meta = v.metadata as Obj;
    const status = v.status as Obj;
    const padded = realisticVersionStatus({
      fn: String((v.spec as Obj).functionName),
      region: 'us-east-1',
      version: String(status.version),
      role: String(status.role),
      seed: `${String(meta.namespace)}/${String(meta.name)}`,
    });
    return {
      ...v,
      metadata: versionMetadata(String(meta.name), String(meta.namespace), { annotations: meta.annotations }),
      status: { ...padded, ...status, conditions: padded.conditions },
    };
  };
  const teams = ['team-a', 'team-b', 'team-d', 'team-e', 'payments', 'search', 'checkout', 'identity', 'ml', 'platform'];
  const filler = (i: number): Obj => {
    const ns = teams[i % teams.length]!;
    const fn = `${ns}-svc-${Math.floor(i / teams.length) % 25}`;
    const version = String(1 + Math.floor(i / (teams.length * 25)) + (i % 7));
    return full({
      apiVersion: 'lambda.services.k8s.aws/v1alpha1',
      kind: 'Version',
      metadata: { name: `${fn}-${i}`, namespace: ns, annotations: { 'services.k8s.aws/region': 'us-east-1' } },
      spec: { functionName: fn },
      status: {
        version,
        state: 'Active',
        role: `arn:aws:iam::${ACCOUNT}:role/${fn}`,
        functionARN: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${fn}:${version}`,
      },
    });
  };
  items.push(...decoys.map(full));
  for (let i = items.length; items.length < n - 2; i++) items.push(filler(i));
  items.splice(Math.floor(n / 2), 0, full(wanted[0]!));
  items.push(full(wanted[1]!));
  if (items.length !== n) throw new Error(`scale request built ${items.length} Versions, wanted ${n}`);

  return RunFunctionRequest.fromPartial({
    meta: { tag: `bench-scale-${n}`, capabilities: capabilities() },
    observed: { composite: { resource: xr! }, resources: {} },
    desired: { composite: { resource: {} }, resources: {} },
    requiredResources: {
      [ALL_VERSIONS_REQUIREMENT]: { items: items.map((resource) => ({ resource, connectionDetails: {}, ready: 0 })) },
    },
  });
}

/** What to expect back: the Lambda version numbers the XR's refs resolve to. */
export function expectedVersions(kind: 'reference' | 'scale'): { stable: string; canary: string } {
  if (kind === 'reference') {
    const observed = readYaml('examples', 'canary-composed', 'observed.yaml').filter((o) => o.kind === 'Version');
    return { stable: String((observed[0]!.status as Obj).version), canary: String((observed[1]!.status as Obj).version) };
  }
  const refs = readYaml('examples', 'v1-claim', 'required-resources.yaml');
  const [xr] = readYaml('examples', 'v1-claim', 'xr.yaml');
  const namespace = ((xr!.metadata as Obj).labels as Obj)['crossplane.io/claim-namespace'];
  const spec = xr!.spec as { stable: { versionRef: { from: { name: string } } }; canary: { versionRef: { from: { name: string } } } };
  const versionOf = (name: string) =>
    String((refs.find((r) => (r.metadata as Obj).name === name && (r.metadata as Obj).namespace === namespace)!.status as Obj).version);
  return { stable: versionOf(spec.stable.versionRef.from.name), canary: versionOf(spec.canary.versionRef.from.name) };
}

/** A request by name, as the load process and the orchestrator ask for it. */
export function buildRequest(name: string): RunFunctionRequest {
  if (name === 'reference') return referenceRequest();
  const m = /^scale-(\d+)$/.exec(name);
  if (m) return scaleRequest(Number(m[1]));
  throw new Error(`unknown request "${name}": use reference or scale-<n>`);
}

/** JSON bytes of each observed/required Version's status, for reporting. */
export function versionStatusBytes(req: RunFunctionRequest): number[] {
  const all = [
    ...Object.values(req.observed?.resources ?? {}).map((r) => r.resource),
    ...Object.values(req.requiredResources ?? {}).flatMap((l) => l.items.map((i) => i.resource)),
  ];
  return all.filter((r) => r?.kind === 'Version').map((r) => JSON.stringify(r!.status).length);
}
