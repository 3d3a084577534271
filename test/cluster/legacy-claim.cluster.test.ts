// A legacy (Crossplane v1 style) cluster-scoped XLambdaCanary created through
// its namespaced claim, on Crossplane v2.2.1, which still serves v1 XRDs. The
// XR is cluster-scoped, so it cannot ask for a Version by name: it lists them
// across namespaces and picks the claim's namespace/name itself.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { condition, REPO_ROOT, Scenario, startHarness, waitUntil, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ manifests: [join(REPO_ROOT, 'package/configuration-v1/xrd.yaml')] });
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

describe('a v1 cluster-scoped XR with a namespaced claim, on Crossplane v2.2.1', () => {
  it("routes the claim namespace's Versions, not a same-named Version of another team", async () => {
    const s = await Scenario.create(h, 'team-c');
    h.stack.kubectl(['create', 'namespace', 'team-d']);
    const version = (ns: string, name: string) =>
      h.stack.kubectl(
        ['apply', '--server-side', '--field-manager=ci', '-f', '-'],
        stringify({
          apiVersion: 'lambda.services.k8s.aws/v1alpha1',
          kind: 'Version',
          metadata: { name, namespace: ns, annotations: { 'services.k8s.aws/region': 'us-east-1' } },
          spec: { functionName: s.functionName },
        }),
      );
    version('team-c', 'app-stable');
    expect(await s.waitPublished('app-stable')).toBe('1');
    await s.newRelease('release-2');
    version('team-c', 'app-next');
    expect(await s.waitPublished('app-next')).toBe('2');
    // Another team's Version with the same name as the claim's stable, on other code.
    await s.newRelease('release-3');
    version('team-d', 'app-stable');
    const claim = (canaryWeight: number) =>
      h.stack.kubectl(
        ['apply', '--server-side', '--field-manager=gitops', '--force-conflicts', '-f', '-'],
        stringify({
          apiVersion: 'canary.lambda.fn.crossplane.io/v1alpha1',
          kind: 'LambdaCanary',
          metadata: { name: 'inventory', namespace: 'team-c' },
          spec: {
            function: { name: s.functionName },
            alias: { name: 'live' },
            region: 'us-east-1',
            stable: { versionRef: { from: { name: 'app-stable' } } },
            canary: { versionRef: { from: { name: 'app-next' } }, weight: canaryWeight },
          },
        }),
      );
    claim(25);
    await s.waitTraffic('1 + 2@0.25', 90_000);
    const aliases = h.stack.kubectlJson<{ items: { metadata: { name: string; namespace: string } }[] }>(['get', 'aliases.lambda.services.k8s.aws', '-A']).items;
    expect(aliases.map((a) => `${a.metadata.namespace}/${a.metadata.name}`)).toEqual(['team-c/inventory-live']);
    claim(0);
    await s.waitTraffic('1', 60_000);
    const got = h.stack.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
      '-n',
      'team-c',
      'get',
      'lambdacanaries.canary.lambda.fn.crossplane.io',
      'inventory',
    ]);
    await waitUntil(
      'the claim to be Ready',
      60_000,
      () =>
        condition(h.stack.kubectlJson<never>(['-n', 'team-c', 'get', 'lambdacanaries.canary.lambda.fn.crossplane.io', 'inventory']), 'Ready')?.status ===
        'True',
    );
    expect(condition(got as never, 'Synced')?.status).toBe('True');
  });
});
