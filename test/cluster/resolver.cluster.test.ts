// Resolver mode on a real control plane: the platform team's unchanged
// function-patch-and-transform step renders an ACK Alias with version
// references; our step, served the same way (mTLS on Crossplane's own
// certificates, the External runtime, a package from the local registry),
// resolves them from ACK Versions its team's CI published. Both functions are
// real processes that Crossplane v2.2.1 calls.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { REPO_ROOT, Scenario, sleep, startHarness, waitUntil, condition, type Harness } from './harness.js';
import { TOOLS_DIR } from './stack.js';

const PT_DIR = join(TOOLS_DIR, 'function-patch-and-transform-v0.5.0');
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    functions: [
      {
        name: 'function-patch-and-transform',
        binary: join(PT_DIR, 'function-patch-and-transform'),
        // function-sdk-go spells the flag --tls-certs-dir.
        args: (address, tlsDir) => [`--address=${address}`, `--tls-certs-dir=${tlsDir}`],
        // scripts/install-functions.sh puts its crossplane.yaml, alone, in meta/.
        packageRoot: join(PT_DIR, 'meta'),
      },
    ],
    manifests: [join(REPO_ROOT, 'test/cluster/fixtures/service-xrd.yaml')],
  });
  await waitUntil('the Service XRD to be Established', 60_000, () => {
    const xrd = h.stack.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['get', 'xrd', 'services.platform.example.org']);
    return xrd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
  });
  h.stack.kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'examples/resolver-patch-and-transform/composition.yaml')]);
});

afterAll(async () => {
  await h?.stop();
});

describe('resolver mode after function-patch-and-transform, on a real control plane', () => {
  it('resolves the Alias that patch-and-transform renders from the Versions CI published, and moves the split as the XR says', async () => {
    const s = await Scenario.create(h, 'team-a');
    const version = (name: string) =>
      h.stack.kubectl(
        ['apply', '--server-side', '--field-manager=ci', '-f', '-'],
        stringify({
          apiVersion: 'lambda.services.k8s.aws/v1alpha1',
          kind: 'Version',
          metadata: { name, namespace: s.namespace, annotations: { 'services.k8s.aws/region': 'us-east-1' } },
          spec: { functionName: s.functionName },
        }),
      );
    version('app-v1');
    expect(await s.waitPublished('app-v1')).toBe('1');
    await s.newRelease('release-2');
    version('app-v2');
    expect(await s.waitPublished('app-v2')).toBe('2');
    const service = (release: Record<string, unknown>) =>
      h.stack.kubectl(
        ['apply', '--server-side', '--field-manager=gitops', '--force-conflicts', '-f', '-'],
        stringify({
          apiVersion: 'platform.example.org/v1alpha1',
          kind: 'Service',
          metadata: { name: 'orders', namespace: s.namespace },
          spec: { functionName: s.functionName, region: 'us-east-1', owner: 'team-a@example.org', release },
        }),
      );
    service({ stable: 'app-v1', canary: 'app-v2', canaryWeight: 0.1 });
    // P&T names the Alias "<XR name>-live" with alias name "live".
    await s.waitTraffic('1 + 2@0.1', 90_000);
    const alias = h.stack.kubectlJson<{ spec: Record<string, unknown> }>(['-n', s.namespace, 'get', 'aliases.lambda.services.k8s.aws', 'orders-live']);
    expect(alias.spec['functionVersion']).toBe('1');
    expect(alias.spec['functionVersionRef']).toBeUndefined();
    expect(alias.spec['routingConfig']).toEqual({ additionalVersionWeights: { '2': 0.1 } });
    const cm = h.stack.kubectlJson<{ data: Record<string, string> }>(['-n', s.namespace, 'get', 'configmap', 'orders-settings']);
    expect(cm.data['FUNCTION_NAME']).toBe(s.functionName);
    // The platform's Composition always writes one weighted entry (P&T has no
    // conditional), so the split moves but is never removed from here.
    await sleep(2000);
    service({ stable: 'app-v1', canary: 'app-v2', canaryWeight: 0.5 });
    await s.waitTraffic('1 + 2@0.5', 60_000);
    const xr = h.stack.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
      '-n',
      s.namespace,
      'get',
      'services.platform.example.org',
      'orders',
    ]);
    expect(condition(xr as never, 'Synced')?.status).toBe('True');
  });
});
