import { completionsRecord, parseCompletionsRecord, withoutValue, type EventOutcome } from '../../../src/runtime/completion.js';
import { HEADER } from '../../../src/runtime/headers.js';
import { oversizedLetter } from '../../../src/sequencer/emitter.js';

const outcome: EventOutcome = {
  kind: 'event',
  status: 'completed',
  failed: [],
  eventId: 'e1',
  key: 'k1',
  seq: 6,
  plan: 't@1',
  ingestedAt: 1,
  at: 2,
  value: Buffer.from('{"big":true}'),
  origin: { topic: 't.fanout.a', partition: 1, offset: '5' },
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
};

test('withoutValue drops the value, keeps every other field and says how many bytes it had (fy-value-omitted on the completions topic)', () => {
  const bare = withoutValue(outcome);
  expect(bare).toEqual({ ...outcome, value: null, valueOmittedBytes: 12 });
  const record = completionsRecord(bare);
  expect(record.headers![HEADER.valueOmitted]).toBe('12');
  expect(parseCompletionsRecord({ value: null, headers: { ...record.headers } as Record<string, string> })).toEqual(bare);
  expect(withoutValue(bare)).toBe(bare);
});

test('the sequencer\'s oversized letter of a verdict without its value is empty, names the size and points at the worker\'s input record', () => {
  const letter = oversizedLetter(withoutValue(outcome), 'left out');
  expect(letter.value).toEqual(Buffer.alloc(0));
  expect(letter.headers).toMatchObject({
    [HEADER.errorClass]: 'oversized',
    [HEADER.destination]: 'sequencer',
    [HEADER.truncated]: '12',
    [HEADER.origin]: 't.fanout.a/1/5',
    [HEADER.eventId]: 'e1',
    [HEADER.seq]: '6',
    [HEADER.error]: 'left out',
  });
});

test('with the value at hand the letter keeps it whole', () => {
  const letter = oversizedLetter(outcome, 'too large for the output');
  expect(letter.value).toEqual(Buffer.from('{"big":true}'));
  expect(letter.headers![HEADER.truncated]).toBeUndefined();
});
