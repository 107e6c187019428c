/**
 * Compensation through real sinks, on the real broker, Redis, PostgreSQL and a node:http
 * receiver: a fan-out whose http branch answers 422 for some events compensates, for exactly
 * those events, the two postgres branches that wrote them: one undoes with an http call (the
 * first undo of one event answers 503 and is retried), the other with a postgres sink that
 * inserts a reversal row. Each undo takes effect once per failed event, none for the others.
 */
import pg from 'pg';
import { HEADER } from '../../../src/runtime/headers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { eventually, uniqueName } from '../../helpers/servers.js';
import { HttpReceiver, answer } from '../sinks/http-receiver.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/flowyard';
const ROLES = ['router', 'worker', 'tracker'] as const;

async function rowsById(db: pg.Pool, table: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ event_id: string; n: number }>(`select event_id, count(*)::int as n from ${table} group by event_id`);
  return new Map(rows.map((row) => [row.event_id, row.n]));
}

test('a fan-out branch failing for good (http 422) compensates the postgres branches through a real http undo (retried after a 503) and a real postgres undo, once per failed event', async () => {
  const db = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const base = uniqueName('fy_comp').replace(/-/g, '_');
  const tables = { ledger: `${base}_ledger`, stock: `${base}_stock`, reversals: `${base}_reversals` };
  for (const table of Object.values(tables)) {
    await db.query(`create table ${table} (event_id text primary key, customer text not null, body text not null)`);
  }
  const doomed = new Set<string>();
  let flaky = '';
  const receiver = new HttpReceiver((request, response) => {
    if (request.path === '/notify') {
      if (doomed.has(request.idempotencyKey)) return answer(response, 422, '{"error":"no such recipient"}');
      return answer(response, 200, 'ok');
    }
    if (request.path === '/undo') {
      if (request.idempotencyKey === flaky && request.nth === 1) return answer(response, 503, 'try again');
      return answer(response, 200, 'undone');
    }
    answer(response, 404, 'unknown path');
  });
  const origin = await receiver.listen();
  let pipeline: TestPipeline | undefined;
  try {
    const row = (table: string) => `{ type: postgres, url: '${PG_URL}', table: ${table}, conflictKey: event_id, columns: { event_id: $eventId, customer: $key, body: $value } }`;
    const retry = 'retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200, budgetRatio: 1 }';
    pipeline = await TestPipeline.create(`
source: { topic: '{name}.events', key: customerId, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: ${row(tables.ledger)}
    compensate: { type: http, url: '${origin}/undo' }
    ${retry}
  - name: stock
    sink: ${row(tables.stock)}
    compensate: ${row(tables.reversals)}
    ${retry}
  - name: notify
    sink: { type: http, url: '${origin}/notify' }
    ${retry}
`);
    const p = pipeline;
    const events = 60;
    const { records, eventIds } = pipeline.samples(events, 6);
    for (const i of [4, 21, 22, 55]) doomed.add(eventIds[i]!);
    flaky = eventIds[21]!;
    await pipeline.startWith([...ROLES]);
    await pipeline.produce(records);

    expect(await eventually(() => p.outcomes.length >= events && p.compensations.length >= 2 * doomed.size, 120_000)).toBe(true);
    await p.drained(); // a wrong extra compensation would be there now

    // The http undo: reached the receiver for exactly the failed events; the 503 one was
    // retried and took effect once (one 200), every other one in a single request.
    const undo = receiver.countsByKey('/undo');
    expect([...undo.keys()].sort()).toEqual([...doomed].sort());
    for (const id of doomed) expect([id, undo.get(id)]).toEqual([id, id === flaky ? 2 : 1]);
    const undone = receiver.received.filter((r) => r.path === '/undo' && !(r.idempotencyKey === flaky && r.nth === 1));
    expect(undone.map((r) => r.idempotencyKey).sort()).toEqual([...doomed].sort());
    for (const request of undone) {
      // The undo carries the original event.
      expect(JSON.parse(request.body.toString())).toMatchObject({ eventId: request.idempotencyKey });
    }

    // The postgres undo: one reversal row per failed event, none for the others.
    const reversals = await rowsById(db, tables.reversals);
    expect([...reversals.keys()].sort()).toEqual([...doomed].sort());
    expect([...reversals.values()].every((n) => n === 1)).toBe(true);

    // Both postgres branches wrote every event once (compensation adds, it does not delete).
    for (const table of [tables.ledger, tables.stock]) {
      const rows = await rowsById(db, table);
      expect([rows.size, [...rows.values()].every((n) => n === 1)]).toEqual([events, true]);
    }
    // The notify branch: every event sent once; the 422s were not retried.
    const notify = receiver.countsByKey('/notify');
    expect(eventIds.filter((id) => notify.get(id) !== 1)).toEqual([]);

    // Compensation completions: ok, one per failed event and branch; the retried one says 2 attempts.
    const compensations = pipeline.compensations.map((c) => [c.destination, c.eventId, c.status, c.attempts] as const);
    expect(compensations.filter(([, , status]) => status !== 'ok')).toEqual([]);
    for (const destination of ['ledger', 'stock']) {
      expect(compensations.filter(([d]) => d === destination).map(([, id]) => id).sort()).toEqual([...doomed].sort());
    }
    expect(compensations.find(([d, id]) => d === 'ledger' && id === flaky)?.[3]).toBe(2);

    // Dead letters: only the 422s of notify, no compensation failed.
    expect(pipeline.deadLetters.map((l) => [l.headers[HEADER.destination], l.headers[HEADER.eventId]]).sort()).toEqual(
      [...doomed].sort().map((id) => ['notify', id]),
    );
    // Verdicts: failed (at notify) exactly for the doomed events, completed for the rest, once each.
    const failed = pipeline.outcomes.filter((o) => o.status === 'failed');
    expect(failed.map((o) => o.eventId).sort()).toEqual([...doomed].sort());
    expect(failed.every((o) => o.failed.join() === 'notify')).toBe(true);
    expect(pipeline.outcomes).toHaveLength(events);
  } finally {
    await pipeline?.close();
    await receiver.close();
    for (const table of Object.values(tables)) await db.query(`drop table if exists ${table}`);
    await db.end();
  }
});
