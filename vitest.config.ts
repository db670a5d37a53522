import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'protocols/test/**/*.test.ts',
      'edge-agent/test/**/*.test.ts',
      'hub/test/**/*.test.ts',
      'dashboard/test/**/*.test.ts',
      'tests/**/*.test.ts',
    ],
    // Integration tests start brokers, hubs, agents and a browser on a 2-core machine: one file at a
    // time keeps their timing honest and their ports apart.
    fileParallelism: false,
    globalSetup: ['tests/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
