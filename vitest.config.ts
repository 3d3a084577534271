import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-control-plane suite runs separately, inside its own network namespace (npm run e2e:cluster).
    exclude: ['test/cluster/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // The e2e suites start real servers and the real Crossplane CLI; running
    // files in parallel on a 2-core machine only makes them contend.
    fileParallelism: false,
    reporters: ['default'],
  },
});
