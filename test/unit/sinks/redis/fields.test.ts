/**
 * The redis sink's pure parts: hash keys from templates, cluster-safe guard keys, stream
 * and hash fields, config checks across modes, and the kind of a Redis error.
 */
import { redisConfigProblems } from '../../../../src/sinks/redis/config.js';
import {
  UnwritablePayloadError,
  compileKeyTemplate,
  guardKey,
  hashFields,
  redisErrorKind,
  streamFields,
} from '../../../../src/sinks/redis/fields.js';
import type { SinkRecord } from '../../../../src/sinks/sink.js';

function record(payload: unknown, overrides: Partial<SinkRecord> = {}): SinkRecord {
  return {
    eventId: 'e-1',
    key: 'c-9',
    value: Buffer.from(JSON.stringify(payload)),
    headers: { 'fy-seq': '4', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    payload,
    ...overrides,
  };
}

describe('compileKeyTemplate', () => {
  test('renders $eventId, $key, field paths and literal text', () => {
    const render = compileKeyTemplate('order:{$key}:{order.id}:{$eventId}:{n}');
    expect(render(record({ order: { id: 'o-7' }, n: 3 }))).toBe('order:c-9:o-7:e-1:3');
  });

  test('a missing or non-scalar field is the payload\'s fault', () => {
    const render = compileKeyTemplate('order:{order.id}');
    expect(() => render(record({}))).toThrow(UnwritablePayloadError);
    expect(() => render(record({ order: { id: { nested: true } } }))).toThrow(/order\.id/);
  });

  test.each(['', 'a{b', 'a}b', '{}', '{ }', '{$other}', '{a..b}', '{.a}'])('rejects the malformed template %p', (template) => {
    expect(() => compileKeyTemplate(template)).toThrow(Error);
  });
});

describe('guardKey', () => {
  test('wraps the data key in a hash tag so both share a cluster slot', () => {
    expect(guardKey('orders.audit', 'e-1')).toBe('{orders.audit}:done:e-1');
  });

  test('keeps a hash tag the data key already has', () => {
    expect(guardKey('{orders}.audit', 'e-1')).toBe('{orders}.audit:done:e-1');
    // `{}` is not a hash tag: Redis hashes the whole key, so flowyard adds its own.
    expect(guardKey('a{}b', 'e-1')).toBe('{a{}b}:done:e-1');
  });
});

describe('streamFields', () => {
  test('headers, then eventId, key and the original bytes', () => {
    const fields = streamFields(record({ a: 1 }));
    expect(fields.slice(0, 4)).toEqual(['fy-seq', '4', 'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
    expect(fields.slice(4, 8)).toEqual(['eventId', 'e-1', 'key', 'c-9']);
    expect(fields[8]).toBe('value');
    expect(Buffer.isBuffer(fields[9]) && fields[9].toString()).toBe('{"a":1}');
  });

  test('a header cannot shadow eventId, key or value', () => {
    const fields = streamFields(record({}, { headers: { value: 'evil', eventId: 'x' } }));
    expect(fields.filter((field) => field === 'value' || field === 'eventId')).toEqual(['eventId', 'value']);
  });
});

describe('hashFields', () => {
  test('strings as they are, everything else as JSON text', () => {
    expect(hashFields({ s: 'text', n: 12.5, b: false, z: null, o: { a: [1] }, l: ['x'] })).toEqual([
      's', 'text', 'n', '12.5', 'b', 'false', 'z', 'null', 'o', '{"a":[1]}', 'l', '["x"]',
    ]);
  });

  test.each([[null], [[1, 2]], ['text'], [7]])('a payload %p that is not an object is the event\'s fault', (payload) => {
    expect(() => hashFields(payload)).toThrow(UnwritablePayloadError);
  });
});

describe('redisConfigProblems', () => {
  test('a consistent config has none', () => {
    expect(redisConfigProblems({ type: 'redis', mode: 'stream', stream: 's', maxLen: 10 })).toEqual([]);
    expect(redisConfigProblems({ type: 'redis', mode: 'hash', keyPrefix: 'p:', keyTemplate: '{id}' })).toEqual([]);
  });

  test('fields of the other mode are named', () => {
    expect(redisConfigProblems({ type: 'redis', mode: 'stream', stream: 's', keyPrefix: 'p:' })).toEqual([
      'keyPrefix only apply in hash mode; remove them or set mode: hash',
    ]);
    expect(redisConfigProblems({ type: 'redis', mode: 'hash', stream: 's', maxLen: 3 })).toEqual([
      'stream, maxLen only apply in stream mode; remove them or set mode: stream',
    ]);
    expect(redisConfigProblems({ type: 'redis', mode: 'stream' })).toEqual(['stream mode needs `stream`, the stream key to XADD to']);
  });
});

describe('redisErrorKind', () => {
  function replyError(message: string): Error {
    const error = new Error(message);
    error.name = 'ReplyError';
    return error;
  }

  test('a refusal of this exact command is permanent', () => {
    expect(redisErrorKind(replyError('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('permanent');
    expect(redisErrorKind(replyError('ERR syntax error'))).toBe('permanent');
  });

  test.each(['LOADING Redis is loading the dataset in memory', 'BUSY Redis is busy running a script', 'OOM command not allowed', 'READONLY You can\'t write against a read only replica.', 'TRYAGAIN', 'CLUSTERDOWN'])(
    'the transient refusal %p is retriable',
    (message) => {
      expect(redisErrorKind(replyError(message))).toBe('retriable');
    },
  );

  test('connection failures are retriable', () => {
    expect(redisErrorKind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe('retriable');
    expect(redisErrorKind(new Error('Connection is closed.'))).toBe('retriable');
    expect(redisErrorKind('not even an error')).toBe('retriable');
  });
});
