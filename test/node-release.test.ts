// The image and CI run one Node.js release: the Dockerfile's base images, the
// release .ci/run installs (scripts/install-node.sh), package.json's engines
// floor and the bundle's esbuild target must agree.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/crossplane.js';

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

describe('one Node.js release for the image and CI', () => {
  const ci = /^NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(read('scripts/install-node.sh'));

  it('scripts/install-node.sh pins an exact release', () => {
    expect(ci, 'NODE_VERSION=<major>.<minor>.<patch> in scripts/install-node.sh').not.toBeNull();
  });

  it('the Dockerfile builds and runs on that release', () => {
    const froms = [...read('Dockerfile').matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual([`node:${ci![1]}.${ci![2]}.${ci![3]}-bookworm-slim`, `node:${ci![1]}.${ci![2]}.${ci![3]}-bookworm-slim`]);
  });

  it("package.json's engines floor and the bundle's target are its major", () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${ci![1]}.0.0`);
    expect(read('scripts/bundle.ts')).toContain(`target: 'node${ci![1]}'`);
  });

  it('.ci/run puts that release first on PATH before npm ci and npm test', () => {
    const run = read('.ci/run');
    expect(run).toMatch(/node_bin=\$\(bash scripts\/install-node\.sh\)\nexport PATH="\$node_bin:\$PATH"/);
    expect(run.indexOf('export PATH')).toBeLessThan(run.search(/^npm ci$/m));
    expect(run.search(/^npm ci$/m)).toBeLessThan(run.search(/^npm test$/m));
  });
});
