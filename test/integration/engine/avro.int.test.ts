/**
 * Avro sources end to end, through the router and workers on the real broker, Redis and
 * schema registry: v1 and v2 events (v2 adds a defaulted field) flow through one topology
 * with the original bytes passed on; each kind of bad input is dead-lettered with its exact
 * reason while good events keep flowing; a registry stopped mid-run loses and dead-letters
 * nothing, and processing resumes when it returns.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEADER } from '../../../src/runtime/headers.js';
import { avroType } from '../../../src/schema/avro-types.js';
import { encodeConfluent } from '../../../src/schema/avro.js';
import { RegistryClient } from '../../../src/schema/registry.js';
import type { OutgoingRecord } from '../../../src/kafka/records.js';
import { eventually, freePort } from '../../helpers/servers.js';
import { TestPipeline } from '../../helpers/pipeline.js';
import { PrivateRegistry, orderEvent, registryUrl, schemaJson, schemaText } from '../schema/helpers.js';

const topology = `
source: { topic: '{name}.events', format: avro, schema: order-event, key: customer.id, id: eventId }
mode: fanout
partitions: 3
destinations:
  - name: ledger
    sink: { type: kafka, topic: '{name}.ledger' }
  - name: notify
    sink: { type: kafka, topic: '{name}.notify' }
    ordering: none
`;
const v1 = avroType(schemaJson('v1'));
const v2 = avroType(schemaJson('v2'));
const event = (n: number, runId: string): Record<string, unknown> => ({ ...orderEvent(n), eventId: `${runId}-${n}` });
const keyOf = (e: Record<string, unknown>): string => (e.customer as { id: string }).id;

test('v1 and v2 events flow through one topology; bad input is dead-lettered with its reason while good events flow', async () => {
  const pipeline = await TestPipeline.create(topology, { SCHEMA_REGISTRY_URL: registryUrl() });
  try {
    const registry = new RegistryClient(registryUrl());
    const subject = `${pipeline.plan.source.topics[0]}-value`;
    const idV1 = await registry.register(subject, schemaText('v1'));
    const idV2 = await registry.register(subject, schemaText('v2'));
    await pipeline.start();
    const good: OutgoingRecord[] = [];
    for (let n = 0; n < 100; n += 1) {
      const e = event(n, pipeline.runId);
      const value = n % 2 === 0 ? encodeConfluent(idV1, v1.toBuffer(e)) : encodeConfluent(idV2, v2.toBuffer({ ...e, channel: 'app' }));
      good.push({ key: keyOf(e), value });
    }
    const body = v1.toBuffer(event(1000, pipeline.runId));
    const bad: OutgoingRecord[] = [
      { key: 'x', value: Buffer.concat([Buffer.from([1]), body]) }, // wrong magic byte
      { key: 'x', value: encodeConfluent(987_654, body) }, // unknown schema id
      { key: 'x', value: encodeConfluent(idV1, body.subarray(0, 10)) }, // truncated body
      { key: 'x', value: encodeConfluent(idV1, v1.toBuffer({ ...event(1001, pipeline.runId), customer: { id: '', email: null } })) }, // empty key field
    ];
    await pipeline.produce([...good.slice(0, 50), ...bad, ...good.slice(50)]);

    expect(await eventually(() => pipeline.finished('ledger') === 100 && pipeline.finished('notify') === 100 && pipeline.deadLetters.length === 4, 90_000)).toBe(true);
    const reasons = pipeline.deadLetters.map((l) => [l.headers[HEADER.errorClass], l.headers[HEADER.error]]);
    expect(reasons).toEqual([
      ['invalid', 'wrong magic byte 0x01: the Confluent wire format starts with 0x00, then a 4-byte schema id'],
      ['invalid', expect.stringMatching(/^unknown schema id 987654: /)],
      ['invalid', expect.stringMatching(new RegExp(`^truncated body: .* writer schema id ${idV1}`))],
      ['invalid', 'causal key: field customer.id must be a non-empty string or a number, got an empty string'],
    ]);
    expect(pipeline.deadLetters.map((l) => Buffer.compare(l.value!, bad[pipeline.deadLetters.indexOf(l)]!.value as Buffer))).toEqual([0, 0, 0, 0]);
    expect(pipeline.completions.every((c) => c.status === 'ok')).toBe(true);
  } finally {
    await pipeline.close();
  }
});

test('the registry stopped mid-run: no event is lost or dead-lettered, and processing resumes when it returns', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'flowyard-registry-'));
  const registryProcess = new PrivateRegistry(await freePort(), stateDir);
  await registryProcess.up();
  const pipeline = await TestPipeline.create(topology, { SCHEMA_REGISTRY_URL: registryProcess.url });
  try {
    const registry = new RegistryClient(registryProcess.url);
    const subject = `${pipeline.plan.source.topics[0]}-value`;
    const idV1 = await registry.register(subject, schemaText('v1'));
    const idV2 = await registry.register(subject, schemaText('v2'));
    await pipeline.start();
    const v1Events = Array.from({ length: 30 }, (_, n) => event(n, pipeline.runId));
    await pipeline.produce(v1Events.map((e) => ({ key: keyOf(e), value: encodeConfluent(idV1, v1.toBuffer(e)) })));
    expect(await eventually(() => pipeline.finished('ledger') === 30, 60_000)).toBe(true);

    await registryProcess.down();
    // v2's id was never fetched: the router cannot decode these until the registry returns.
    const v2Events = Array.from({ length: 30 }, (_, n) => ({ ...event(100 + n, pipeline.runId), channel: 'app' }));
    await pipeline.produce(v2Events.map((e) => ({ key: keyOf(e), value: encodeConfluent(idV2, v2.toBuffer(e)) })));
    await new Promise((r) => setTimeout(r, 5_000));
    expect(pipeline.finished('ledger')).toBe(30); // held, not routed...
    expect(pipeline.deadLetters).toEqual([]); // ...and not dead-lettered

    await registryProcess.up();
    expect(await eventually(() => pipeline.finished('ledger') === 60 && pipeline.finished('notify') === 60, 90_000)).toBe(true);
    expect(pipeline.deadLetters).toEqual([]);
  } finally {
    await pipeline.close();
    await registryProcess.down();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
