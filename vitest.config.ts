import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Kubernetes smoke suite runs inside the test bed's network namespace (.ci/k8s-testbed.sh test).
    exclude: ['test/k8s/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
