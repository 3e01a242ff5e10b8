import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A run that finds no test must fail (CI would otherwise pass on nothing).
    passWithNoTests: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    pool: 'forks',
    // Two test files at a time (vitest's default on 2 cores is one): most suites wait on
    // sockets and timers (dynalite, DynamoDB Local, simulators), not on the CPU.
    maxWorkers: 2,
  },
});
