// Crossplane v1.16.0 core, run the same way as v2.2.1 (real `core init` and
// `core start`, External runtime, the Function package from the registry):
// the oldest release the package's metadata named. It calls the function
// (v1beta1 service, extra resources) but cannot record a namespaced composed
// resource in a cluster-scoped XR: v1's XR schema has no
// spec.resourceRefs[].namespace, and every ACK object is namespaced. This
// test pins that limit (also reported for v1.19.0 upstream,
// crossplane/crossplane#6362) and that nothing reaches AWS meanwhile; the
// README's compatibility table follows from it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { condition, REPO_ROOT, Scenario, sleep, startHarness, waitUntil, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ crossplane: 'v1.16.0', manifests: [join(REPO_ROOT, 'package/configuration-v1/xrd.yaml')] });
  await waitUntil('the XLambdaCanary XRD to be Established and Offered', 60_000, () => {
    const xrd = h.stack.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
      'get',
      'xrd',
      'xlambdacanaries.canary.lambda.fn.crossplane.io',
    ]);
    const ok = (t: string) => xrd.status?.conditions?.some((c) => c.type === t && c.status === 'True');
    return ok('Established') && ok('Offered');
  });
  h.stack.kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'package/configuration-v1/composition.yaml')]);
});

afterAll(async () => {
  await h?.stop();
});

describe('on Crossplane v1.16.0 core', () => {
  it('calls the function, then cannot record the namespaced ACK Alias in the cluster-scoped XR; no alias reaches AWS', async () => {
    const s = await Scenario.create(h, 'team-c');
    h.stack.kubectl(
      ['apply', '--server-side', '--field-manager=ci', '-f', '-'],
      stringify({
        apiVersion: 'lambda.services.k8s.aws/v1alpha1',
        kind: 'Version',
        metadata: { name: 'app-stable', namespace: 'team-c', annotations: { 'services.k8s.aws/region': 'us-east-1' } },
        spec: { functionName: s.functionName },
      }),
    );
    expect(await s.waitPublished('app-stable')).toBe('1');
    h.stack.kubectl(
      ['apply', '--server-side', '--field-manager=gitops', '-f', '-'],
      stringify({
        apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
        kind: 'LambdaCanary',
        metadata: { name: 'inventory', namespace: 'team-c' },
        spec: { function: { name: s.functionName }, alias: { name: 'live' }, region: 'us-east-1', stable: { versionRef: { from: { name: 'app-stable' } } } },
      }),
    );
    const xrs = () =>
      h.stack.kubectlJson<{ items: { status?: { conditions?: { type: string; status: string; message?: string }[] } }[] }>([
        'get',
        'xlambdacanaries.canary.lambda.fn.crossplane.io',
      ]).items;
    const synced = await waitUntil('the XR to report why it cannot compose', 90_000, () => {
      const c = condition(xrs()[0], 'Synced');
      return c?.status === 'False' && c.message?.includes('resourceRefs') ? c : undefined;
    });
    expect(synced.message).toContain('.spec.resourceRefs[0].namespace: field not declared in schema');
    // The function was called over v1beta1 (the only service v1.16 knows) with Crossplane's certificate.
    expect(readFileSync(h.stack.functionLog, 'utf8')).toContain('apiextensions.fn.proto.v1beta1.FunctionRunnerService');
    await sleep(3000);
    expect(await s.traffic()).toBeUndefined();
  });
});
