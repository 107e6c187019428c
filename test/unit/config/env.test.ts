/**
 * The secure-connection settings of loadEnv: every incomplete or contradictory combination
 * is refused at start naming the variable, all problems at once; complete ones come back
 * as the connection objects the Kafka and Redis clients take. Pure: no variable here names
 * a file (files are read in test/integration/security/env-files.int.test.ts).
 */
import { loadEnv } from '../../../src/config/env.js';
import { InvalidInputError } from '../../../src/errors.js';

/** The problems loadEnv reports for `vars`, or [] when it accepts them. */
function problems(vars: Record<string, string>): readonly string[] {
  try {
    loadEnv(vars);
    return [];
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    return error.problems;
  }
}

describe('Kafka SASL', () => {
  test.each(['plain', 'scram-sha-256', 'scram-sha-512', 'SCRAM-SHA-512'])('mechanism %s with username and password', (mechanism) => {
    const env = loadEnv({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' });
    expect(env.kafka.sasl).toEqual({ mechanism: mechanism.toLowerCase(), username: 'svc', password: 'pw' });
    expect(env.kafka.tls).toBeUndefined();
  });

  test('no SASL variables: no SASL', () => {
    expect(loadEnv({}).kafka.sasl).toBeUndefined();
  });

  test('a mechanism without a password names KAFKA_SASL_PASSWORD', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc' })).toEqual([
      'environment: KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required when KAFKA_SASL_MECHANISM=scram-sha-512',
    ]);
  });

  test('an empty password counts as none', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: '  ' })).toEqual([
      'environment: KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required when KAFKA_SASL_MECHANISM=plain',
    ]);
  });

  test('a mechanism without username and password names both', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-256' })).toEqual([
      'environment: KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM=scram-sha-256',
      'environment: KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required when KAFKA_SASL_MECHANISM=scram-sha-256',
    ]);
  });

  test('credentials without a mechanism name KAFKA_SASL_MECHANISM', () => {
    expect(problems({ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' })).toEqual([
      'environment: KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SASL_MECHANISM is not: set it to one of plain, scram-sha-256, scram-sha-512',
    ]);
  });

  test('an unknown mechanism lists the known ones', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw' })).toEqual([
      'environment: KAFKA_SASL_MECHANISM="gssapi": expected one of plain, scram-sha-256, scram-sha-512',
    ]);
  });

  test('a password and a password file together: set only one', () => {
    expect(
      problems({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SASL_PASSWORD_FILE: '/run/secrets/pw' }),
    ).toEqual(['environment: KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set only one']);
  });

  test('the password never appears in a problem', () => {
    const found = problems({ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 'hunter2-secret', KAFKA_TLS: 'maybe' });
    expect(found).toHaveLength(2);
    expect(found.join('\n')).not.toContain('hunter2-secret');
  });
});

describe('TLS switches', () => {
  test('KAFKA_TLS=true without files: TLS with the system CAs', () => {
    expect(loadEnv({ KAFKA_TLS: 'true' }).kafka.tls).toEqual({});
    expect(loadEnv({ KAFKA_TLS: 'false' }).kafka.tls).toBeUndefined();
  });

  test('KAFKA_TLS must be a boolean', () => {
    expect(problems({ KAFKA_TLS: 'maybe' })).toEqual(['environment: KAFKA_TLS="maybe": expected true or false']);
  });

  test.each([
    ['KAFKA', 'CA_FILE'],
    ['KAFKA', 'CERT_FILE'],
    ['REDIS', 'KEY_FILE'],
  ])('%s_TLS_%s without %s_TLS=true is refused, not ignored', (prefix, suffix) => {
    expect(problems({ [`${prefix}_TLS_${suffix}`]: '/etc/tls/x.pem' })).toEqual([
      `environment: ${prefix}_TLS_${suffix} is set but ${prefix}_TLS is not true: set ${prefix}_TLS=true or remove it`,
    ]);
  });

  test('rediss:// turns Redis TLS on; redis:// leaves it off', () => {
    expect(loadEnv({ REDIS_URL: 'rediss://cache:6380' }).redis.tls).toEqual({});
    expect(loadEnv({ REDIS_URL: 'redis://cache:6379' }).redis.tls).toBeUndefined();
  });

  test('REDIS_TLS=false with a rediss:// URL contradicts itself and is refused', () => {
    expect(problems({ REDIS_URL: 'rediss://cache:6380', REDIS_TLS: 'false' })).toEqual([
      'environment: REDIS_TLS=false contradicts the rediss:// scheme of REDIS_URL: use redis:// for a plain connection or remove REDIS_TLS',
    ]);
    expect(loadEnv({ REDIS_URL: 'redis://cache:6379', REDIS_TLS: 'true' }).redis.tls).toEqual({});
  });
});

describe('Redis AUTH', () => {
  test('REDIS_PASSWORD is passed on; unset means none', () => {
    expect(loadEnv({ REDIS_PASSWORD: 'pw' }).redis).toEqual({ url: 'redis://127.0.0.1:6379', password: 'pw' });
    expect(loadEnv({}).redis).toEqual({ url: 'redis://127.0.0.1:6379' });
  });

  test('REDIS_PASSWORD and REDIS_PASSWORD_FILE together: set only one', () => {
    expect(problems({ REDIS_PASSWORD: 'pw', REDIS_PASSWORD_FILE: '/run/secrets/redis' })).toEqual([
      'environment: REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set: set only one',
    ]);
  });
});

test('several secure-connection mistakes are reported together', () => {
  expect(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_TLS_CA_FILE: '/ca.pem', REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: '/b' })).toEqual([
    'environment: KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): required when KAFKA_SASL_MECHANISM=scram-sha-512',
    'environment: KAFKA_TLS_CA_FILE is set but KAFKA_TLS is not true: set KAFKA_TLS=true or remove it',
    'environment: REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set: set only one',
  ]);
});

describe('KAFKA_CLIENT', () => {
  test('defaults to platformatic and takes every backend name, any case', () => {
    expect(loadEnv({}).kafka.client).toBe('platformatic');
    for (const client of ['kafkajs', 'confluent', 'Platformatic']) expect(loadEnv({ KAFKA_CLIENT: client }).kafka.client).toBe(client.toLowerCase());
  });

  test('an unknown client names the variable and the choices', () => {
    expect(problems({ KAFKA_CLIENT: 'rdkafka' })).toEqual(['environment: KAFKA_CLIENT="rdkafka": expected one of kafkajs, confluent, platformatic']);
  });
});

describe('KAFKA_COMPRESSION', () => {
  test('defaults to lz4 (bench/README.md has the measurement) and takes every Kafka codec name, any case', () => {
    expect(loadEnv({}).kafka.compression).toBe('lz4');
    for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'ZSTD']) expect(loadEnv({ KAFKA_COMPRESSION: codec }).kafka.compression).toBe(codec.toLowerCase());
  });

  test('an unknown codec names the variable and the choices', () => {
    expect(problems({ KAFKA_COMPRESSION: 'brotli' })).toEqual(['environment: KAFKA_COMPRESSION="brotli": expected one of none, gzip, snappy, lz4, zstd']);
  });
});
