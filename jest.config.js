// Two tiers: `unit` (pure logic, no I/O, *.test.ts) and `integration` (*.int.test.ts,
// real Kafka/Redis on 127.0.0.1 started by `make test`).
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  testEnvironment: 'node',
};

export default {
  // ms; integration scenarios wait for real brokers and rebalances. Jest reads this only at the
  // top level, so unit tests get it too; they finish in milliseconds either way.
  testTimeout: 180_000,
  // A test that times out leaves kafkajs consumers behind that test/setup/close-leftovers.ts
  // did not know about (a tail opened in the test itself), and Jest would wait on them forever
  // instead of reporting the failure: CI once sat out its whole time budget that way. Jest still
  // prints that it forced the exit, so a leak stays visible.
  forceExit: true,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{src,test}/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/{src,test}/**/*.int.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/setup/close-leftovers.ts'],
      slowTestThreshold: 30,
    },
  ],
};
