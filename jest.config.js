/** @type {import('jest').Config} */
const common = {
  testEnvironment: '<rootDir>/test/node-env.js',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
};

module.exports = {
  // Integration tests share one Temporal server and PostgreSQL cluster, and each uses the CPU hard.
  maxWorkers: 1,
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
