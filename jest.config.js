/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/test/node-env.js',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60_000,
  maxWorkers: 1,
};
