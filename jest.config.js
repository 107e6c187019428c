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
      slowTestThreshold: 30,
    },
  ],
};
