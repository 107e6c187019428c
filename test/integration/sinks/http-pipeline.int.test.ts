/**
 * The real http sink inside a running pipeline (router + worker on the real broker and
 * Redis, the sink built by the normal factory from the topology's `sink: { type: http }`),
 * against a real node:http receiver on 127.0.0.1:
 * 1. the status rules end to end: 422 dead-letters after one request; 429 with Retry-After
 *    waits at least that long, then delivers; 503 twice then 200 delivers on the 3rd request;
 *    a hanging receiver is cut off at timeoutMs, retried, then dead-lettered as `timeout`;
 *    every other event is sent exactly once;
 * 2. a replayed source record (same event id) sends no second request, whether the router's
 *    routed mark stops it or, with that mark gone, the worker's done-key does.
 */
import { HEADER } from '../../../src/runtime/headers.js';
import { topologyKeyPrefix } from '../../../src/dedup/keys.js';
import type { OutgoingRecord } from '../../../src/kafka/records.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually } from '../../helpers/servers.js';
import { HttpReceiver, answer } from './http-receiver.js';

const ROLES = ['router', 'worker'] as const;

/**
 * One http destination. maxDelayMs (3 s) is above the Retry-After of 1 s, which is honoured
 * only up to it; the budget and breaker are opened wide so that the few failures here are
 * decided by the status rules alone, and a short breaker window keeps an exhausted write's
 * wait for its destination's state short.
 */
function topology(url: string): string {
  return `
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: hook
    sink: { type: http, url: '${url}' }
    timeoutMs: 500
    concurrency: 8
    retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 3000, budgetRatio: 1 }
    circuitBreaker: { minRequests: 1000, windowMs: 1000 }
`;
}

test('http status rules end to end: 422 dead-letters once, 429 honours Retry-After, 503 is retried, a hang times out, the rest arrive once', async () => {
  const events = 40;
  let ids: string[] = [];
  const rejected = new Set<string>();
  let throttled = '';
  let unavailable = '';
  let hanging = '';
  const receiver = new HttpReceiver((request, response) => {
    const id = request.idempotencyKey;
    if (rejected.has(id)) return answer(response, 422, JSON.stringify({ error: 'sku unknown', event: id }), { 'content-type': 'application/json' });
    if (id === throttled && request.nth === 1) return answer(response, 429, 'slow down', { 'Retry-After': '1' });
    if (id === unavailable && request.nth <= 2) return answer(response, 503, 'maintenance');
    if (id === hanging) return; // never answers
    answer(response, 200, 'ok');
  });
  const origin = await receiver.listen();
  let pipeline: TestPipeline | undefined;
  try {
    pipeline = await TestPipeline.create(topology(`${origin}/hook`));
    const { records, eventIds } = pipeline.samples(events, 8);
    ids = eventIds;
    rejected.add(ids[3]!).add(ids[17]!);
    throttled = ids[5]!;
    unavailable = ids[9]!;
    hanging = ids[12]!;
    await pipeline.startWith([...ROLES]);
    await pipeline.produce(records);

    const p = pipeline;
    expect(await eventually(() => p.finished('hook') === events, 90_000)).toBe(true);
    await p.drained(); // a wrong extra request or dead letter would be there now

    const counts = receiver.countsByKey('/hook');
    // 422: one request each, no retry; dead-lettered once with the status and the body excerpt.
    for (const id of rejected) expect([id, counts.get(id)]).toEqual([id, 1]);
    // 429 + Retry-After: 1 -> the second request no sooner than ~1 s after the first, then done.
    const [first, second, ...more] = receiver.requestsFor('/hook', throttled);
    expect(more).toEqual([]);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    // 503, 503, 200.
    expect(counts.get(unavailable)).toBe(3);
    // The hanging receiver: every attempt cut off, maxAttempts requests in all.
    expect(counts.get(hanging)).toBe(3);
    // Everything else exactly once; nothing the receiver does not know.
    const special = new Set([...rejected, throttled, unavailable, hanging]);
    const others = ids.filter((id) => !special.has(id));
    expect(others.filter((id) => counts.get(id) !== 1)).toEqual([]);
    expect([...counts.keys()].sort()).toEqual([...ids].sort());

    expect(await eventually(() => p.deadLetters.length >= 3, 10_000)).toBe(true);
    const letters = new Map(pipeline.deadLetters.map((l) => [l.headers[HEADER.eventId]!, l]));
    expect(pipeline.deadLetters).toHaveLength(3);
    expect([...letters.keys()].sort()).toEqual([...rejected, hanging].sort());
    for (const id of rejected) {
      // A 4xx is the event's fault for this receiver: the worker classes a permanent sink
      // error `invalid` (src/resilience/error-class.ts), not `destination`.
      expect(letters.get(id)!.headers).toMatchObject({
        [HEADER.errorClass]: 'invalid',
        [HEADER.destination]: 'hook',
        [HEADER.attempts]: '1',
      });
      expect(letters.get(id)!.headers[HEADER.error]).toContain(`422 Unprocessable Entity: {"error":"sku unknown","event":"${id}"}`);
    }
    expect(letters.get(hanging)!.headers).toMatchObject({
      [HEADER.errorClass]: 'timeout',
      [HEADER.destination]: 'hook',
      [HEADER.attempts]: '3',
      [HEADER.error]: 'gave up after 3 attempts: no answer within 500 ms',
    });
    // Original bytes in the dead letter.
    const index = ids.indexOf(hanging);
    expect(letters.get(hanging)!.value!.toString()).toBe(String(records[index]!.value));

    // Completions: ok for all but the three dead-lettered; the retried ones report their attempts.
    const completions = new Map(pipeline.completions.map((c) => [c.eventId, c]));
    expect(pipeline.completions).toHaveLength(events);
    expect(completions.get(throttled)).toMatchObject({ status: 'ok', attempts: 2 });
    expect(completions.get(unavailable)).toMatchObject({ status: 'ok', attempts: 3 });
    expect(pipeline.completions.filter((c) => c.status === 'failed').map((c) => c.eventId).sort()).toEqual([...rejected, hanging].sort());
  } finally {
    await pipeline?.close();
    await receiver.close();
  }
});

test('a replayed source record sends no second HTTP request: stopped by the router\'s routed mark, and without it by the worker\'s done-key', async () => {
  const receiver = new HttpReceiver((_request, response) => answer(response, 200, 'ok'));
  const origin = await receiver.listen();
  let pipeline: TestPipeline | undefined;
  try {
    pipeline = await TestPipeline.create(topology(`${origin}/hook`));
    const p = pipeline;
    const { records, eventIds } = pipeline.samples(12, 4);
    await pipeline.startWith([...ROLES]);
    await pipeline.produce(records);
    expect(await eventually(() => p.finished('hook') === 12, 60_000)).toBe(true);
    expect(receiver.received).toHaveLength(12);

    /** One new event per key after the replay: once each has arrived, the replayed records (same keys, so same partitions, earlier) were consumed too. */
    let round = 0;
    const replayThenMarkers = async (): Promise<string[]> => {
      round += 1;
      const markers = [0, 1, 2, 3].map((k): { id: string; record: OutgoingRecord } => {
        const id = `${p.runId}-marker-${round}-${k}`;
        const key = `customer-${k}`;
        return { id, record: { key, value: JSON.stringify({ customerId: key, eventId: id, n: 1000 + k }) } };
      });
      await p.produce([...records, ...markers.map((m) => m.record)]);
      const ids = markers.map((m) => m.id);
      expect(await eventually(() => ids.every((id) => receiver.countsByKey('/hook').get(id) === 1), 60_000)).toBe(true);
      return ids;
    };

    // 1. Plain replay: the router knows these ids were routed and drops them.
    await replayThenMarkers();
    await p.drained();
    const afterRouterDedup = receiver.countsByKey('/hook');
    expect(eventIds.filter((id) => afterRouterDedup.get(id) !== 1)).toEqual([]);
    // Nothing reached the worker: one completion per original event.
    expect(pipeline.completions.filter((c) => eventIds.includes(c.eventId))).toHaveLength(12);

    // 2. The routed marks gone (as after a router crash between its commit and marking): the
    //    router routes the replay again, and the worker's done-keys must stop the requests.
    const prefix = topologyKeyPrefix(pipeline.plan.name);
    expect(await pipeline.shared.redis.del(...eventIds.map((id) => `${prefix}:routed:${id}`))).toBe(12);
    await replayThenMarkers();
    // The copies did reach the worker: each original event now has a second ok completion...
    expect(await eventually(() => p.completions.filter((c) => eventIds.includes(c.eventId)).length === 24, 30_000)).toBe(true);
    await p.drained();
    // ...and still exactly one request each at the receiver.
    const afterWorkerDedup = receiver.countsByKey('/hook');
    expect(eventIds.filter((id) => afterWorkerDedup.get(id) !== 1)).toEqual([]);
    expect(receiver.received).toHaveLength(12 + 8);
    expect(pipeline.completions.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await pipeline?.close();
    await receiver.close();
  }
});
