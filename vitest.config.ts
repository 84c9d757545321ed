import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup-env.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites start servers and worker pools; on a 2-core CI machine running files in parallel only adds contention.
    fileParallelism: false,
  },
});
