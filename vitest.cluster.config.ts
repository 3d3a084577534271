import { defineConfig } from 'vitest/config';

// The real-control-plane suite (scripts/e2e-cluster.sh runs it inside its own
// network namespace). One stack per file; files run one after another.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.cluster.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
