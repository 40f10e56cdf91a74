/** @type {import('jest').Config} */
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  setupFiles: ['<rootDir>/test/helpers/env.ts'],
};

// Integration and chaos tests share one local stack (Kafka, registry, PostgreSQL, SMTP) that
// global setup starts only when at least one of their tests runs.
const stack = {
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};

module.exports = {
  testTimeout: 120000,
  maxWorkers: 2,
  verbose: true,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      ...stack,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    // Crash and outage tests kill processes and restart the shared broker and PostgreSQL:
    // `npm run test:chaos` runs them on their own, one at a time.
    {
      ...common,
      ...stack,
      displayName: 'chaos',
      testMatch: ['<rootDir>/test/chaos/**/*.test.ts'],
    },
    // A three-node Kafka cluster of their own (free ports, temp folder) beside the shared stack,
    // whose registry and PostgreSQL they use: `npm run test:cluster` runs them on their own.
    {
      ...common,
      ...stack,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
    },
  ],
};
