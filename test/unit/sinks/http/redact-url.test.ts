/**
 * redactUrl (src/sinks/shared.ts), what the http, postgres and redis sinks and `flowyard plan`
 * print instead of a configured URL: no password, no query values, no fragment; the rest kept.
 */
import { redactUrl } from '../../../../src/sinks/shared.js';

describe('redactUrl', () => {
  test.each([
    ['https://user:pass@hooks.example.com/v1/orders?token=SECRET', 'https://user:***@hooks.example.com/v1/orders?token=***'],
    ['https://hooks.example.com/v1/orders?token=SECRET&tenant=acme', 'https://hooks.example.com/v1/orders?token=***&tenant=***'],
    ['http://127.0.0.1:8080/hook?SECRET&a=1&&b=', 'http://127.0.0.1:8080/hook?***&a=***&&b=***'],
    ['http://127.0.0.1:8080/hook?a=x=y', 'http://127.0.0.1:8080/hook?a=***'],
    ['https://hooks.example.com/cb#access_token=SECRET', 'https://hooks.example.com/cb#***'],
    ['postgres://postgres:pw@127.0.0.1:5432/flowyard?sslmode=require&password=pw2', 'postgres://postgres:***@127.0.0.1:5432/flowyard?sslmode=***&password=***'],
    ['redis://:pw@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
  ])('%s -> %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });

  test('keeps the path, user name, host and port, so endpoints can be told apart', () => {
    const redacted = redactUrl('https://svc:p4ss@api.example.com:8443/v1/orders/created?key=k3y');
    expect(redacted).toBe('https://svc:***@api.example.com:8443/v1/orders/created?key=***');
    expect(redacted).not.toMatch(/p4ss|k3y/);
  });

  test('a URL with nothing to hide comes back exactly as written', () => {
    for (const url of ['http://notifier:8080', 'http://127.0.0.1:8787/orders', 'postgres://postgres@127.0.0.1:5432/flowyard', 'http://h/?']) {
      expect(redactUrl(url)).toBe(url);
    }
  });

  test('applied twice, changes nothing more', () => {
    const once = redactUrl('https://u:p@h/x?t=s#f');
    expect(redactUrl(once)).toBe(once);
  });

  test('an unparsable URL is not echoed', () => {
    expect(redactUrl('http://user:SECRET@host:99999/x')).toBe('(unparsable url)');
    expect(redactUrl('not a url SECRET')).toBe('(unparsable url)');
  });
});
