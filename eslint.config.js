import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.local/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    // The Kafka port (src/kafka/port.ts) is the only way flowyard's code reaches Kafka: a client
    // library is imported by its backend only. Tests and tools may use kafkajs as an outside client.
    files: ['src/**/*.ts'],
    ignores: ['src/kafka/kafkajs/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'kafkajs', message: 'Use the Kafka port (src/kafka/port.ts); kafkajs is imported only by its backend in src/kafka/kafkajs/.' }],
          patterns: [{ group: ['kafkajs/*'], message: 'Use the Kafka port (src/kafka/port.ts); kafkajs is imported only by its backend in src/kafka/kafkajs/.' }],
        },
      ],
    },
  },
);
