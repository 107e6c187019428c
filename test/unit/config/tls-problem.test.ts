/**
 * tlsProblem: which TLS handshake errors are configuration mistakes, and the setting each
 * names. Errors here are shaped like Node's (code, reason, message); the real handshakes are
 * in test/integration/security/kafka-tls.int.test.ts and redis-tls.int.test.ts.
 */
import { tlsProblem } from '../../../src/config/tls-check.js';

const CA = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n';
const kafka = { prefix: 'KAFKA', address: 'kafka-0:9095', tls: { ca: CA } } as const;
const redis = { prefix: 'REDIS', address: 'cache:6380', tls: {} } as const;
const nodeError = (code: string, message: string, reason?: string): Error => Object.assign(new Error(message), { code, ...(reason && { reason }) });

test.each(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT'])(
  'an untrusted server certificate (%s) names the CA file',
  (code) => {
    expect(tlsProblem(kafka, nodeError(code, 'unable to verify the first certificate'))).toBe(
      'environment: KAFKA_TLS_CA_FILE: the certificate of Kafka at kafka-0:9095 is not signed by this CA (unable to verify the first certificate); set KAFKA_TLS_CA_FILE to the CA that signed it',
    );
  },
);

test('without a CA file, the system CAs are what did not sign it', () => {
  expect(tlsProblem(redis, nodeError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'))).toBe(
    'environment: REDIS_TLS_CA_FILE: the certificate of Redis at cache:6380 is not signed by a CA this system trusts (self-signed certificate in certificate chain); set REDIS_TLS_CA_FILE to the CA that signed it',
  );
});

test('a host name the certificate does not list names the address setting', () => {
  const error = nodeError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: cache. is not in the cert's altnames: DNS:redis", "Host: cache. is not in the cert's altnames: DNS:redis");
  expect(tlsProblem(redis, error)).toBe(
    "environment: REDIS_URL: the certificate of Redis at cache:6380 is not issued for this host name (Host: cache. is not in the cert's altnames: DNS:redis); connect by a name the certificate lists",
  );
});

describe('client certificates', () => {
  const alert = (code: string, reason: string): Error => nodeError(code, `80DC6A9B:error:0A000418:SSL routines:ssl3_read_bytes:${reason}:rec_layer_s3.c:1601:SSL alert number 48\n`, reason);

  test('required and none set: names both files', () => {
    expect(tlsProblem(kafka, alert('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'))).toBe(
      'environment: KAFKA_TLS_CERT_FILE, KAFKA_TLS_KEY_FILE: Kafka at kafka-0:9095 requires a client certificate and none is set (tlsv13 alert certificate required); set both to a certificate it trusts and its key',
    );
  });

  test.each([
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', 'sslv3 alert certificate unknown'],
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'],
    ['ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_UNKNOWN', 'ssl/tls alert certificate unknown'],
    ['ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'ssl/tls alert bad certificate'],
  ])('one set and refused (%s): names the certificate file', (code, reason) => {
    const withCert = { ...kafka, tls: { ca: CA, cert: CA, key: 'key' } };
    expect(tlsProblem(withCert, alert(code, reason))).toBe(
      `environment: KAFKA_TLS_CERT_FILE: Kafka at kafka-0:9095 refused the client certificate (${reason}); use one signed by a CA the server trusts, with its key in KAFKA_TLS_KEY_FILE`,
    );
  });
});

test('a reply that is not TLS names the TLS switch and the address', () => {
  expect(tlsProblem(redis, nodeError('ERR_SSL_WRONG_VERSION_NUMBER', 'ssl3_get_record:wrong version number', 'wrong version number'))).toBe(
    'environment: REDIS_TLS: Redis at cache:6380 does not speak TLS on this port (wrong version number); point REDIS_URL at its TLS port, or use redis:// without REDIS_TLS for a plain connection',
  );
});

test('errors from another realm (no Error prototype) are read by their fields', () => {
  expect(tlsProblem(kafka, { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' })).toMatch(/^environment: KAFKA_TLS_CA_FILE: /);
});

test.each([
  ['a refused connection', nodeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9095')],
  ['a reset (ambiguous: diagnoseTls asks the port in plain text first)', nodeError('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established')],
  ['an expired certificate (the server operator fixes that, not a setting)', nodeError('CERT_HAS_EXPIRED', 'certificate has expired')],
  ['no code', new Error('boom')],
  ['not an error', 'boom'],
])('%s is not a configuration mistake', (_case, error) => {
  expect(tlsProblem(kafka, error)).toBeUndefined();
});
