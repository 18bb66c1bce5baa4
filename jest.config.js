/** @type {import('jest').Config} */
const common = {
  testEnvironment: '<rootDir>/test/node-env.js',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  // Some unit tests build the 101k-image corpus or load 300 MB of word vectors.
  testTimeout: 60_000,
};

module.exports = {
  // Integration tests share one Temporal server and PostgreSQL cluster, and each uses the CPU hard.
  maxWorkers: 1,
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
};
