import { defineConfig } from 'vitest/config';

// The k8s suite runs only inside the test bed's network namespace (.ci/k8s-testbed.sh test), so its
// files are named *.k8s.ts: a repo-wide `vitest run` with the default *.test.ts pattern never picks them up.
export default defineConfig({
  test: {
    include: ['test/k8s/**/*.k8s.ts'],
    // One real cluster pair is shared: files run one after another.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 90_000,
    reporters: ['default'],
  },
});
