/**
 * The http sink's reading of an answer, without I/O: which statuses are done, retried or
 * dead-lettered, Retry-After in both of its forms, and the excerpt a failure carries.
 */
import { BODY_EXCERPT_MAX_CHARS, bodyExcerpt, classifyStatus, describeStatus, parseRetryAfter } from '../../../../src/sinks/http/status.js';

describe('classifyStatus', () => {
  test.each([
    [200, 'done'],
    [201, 'done'],
    [204, 'done'],
    [299, 'done'],
    [408, 'retriable'],
    [429, 'retriable'],
    [500, 'retriable'],
    [502, 'retriable'],
    [503, 'retriable'],
    [599, 'retriable'],
    [400, 'permanent'],
    [401, 'permanent'],
    [403, 'permanent'],
    [404, 'permanent'],
    [409, 'permanent'],
    [410, 'permanent'],
    [422, 'permanent'],
    [301, 'permanent'],
    [304, 'permanent'],
    [101, 'permanent'],
  ] as const)('%i is %s', (status, outcome) => {
    expect(classifyStatus(status)).toBe(outcome);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');

  test('delay-seconds become milliseconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  test('an HTTP-date is measured from now; a past date means no wait', () => {
    expect(parseRetryAfter('Wed, 01 May 2024 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
  });

  test('the first of repeated headers counts', () => {
    expect(parseRetryAfter(['3', '9'], now)).toBe(3_000);
  });

  test.each([undefined, '', '   ', '-5', '1.5', 'soon', '2024-05-01', 'Thu, 99 Foo 2024 00:00:00 GMT'])('%p gives no hint', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('bodyExcerpt', () => {
  test('collapses whitespace to one line', () => {
    expect(bodyExcerpt('{\n  "error": "sku\tunknown"\n}\n')).toBe('{ "error": "sku unknown" }');
  });

  test(`cuts at ${BODY_EXCERPT_MAX_CHARS} characters, marking the cut`, () => {
    const excerpt = bodyExcerpt('x'.repeat(5_000));
    expect(excerpt).toHaveLength(BODY_EXCERPT_MAX_CHARS);
    expect(excerpt.endsWith('…')).toBe(true);
    expect(bodyExcerpt('y'.repeat(BODY_EXCERPT_MAX_CHARS))).toBe('y'.repeat(BODY_EXCERPT_MAX_CHARS));
  });
});

describe('describeStatus', () => {
  test('status, reason phrase and excerpt', () => {
    expect(describeStatus(422, 'Unprocessable Entity', '{"error":"bad"}')).toBe('422 Unprocessable Entity: {"error":"bad"}');
    expect(describeStatus(599, undefined, '')).toBe('599');
  });
});
