/**
 * The schema registry stopped mid-run: ids the decoder already fetched keep decoding from
 * its cache, an id it has not fetched yet rejects with DecoderUnavailableError (so the router
 * waits and retries instead of dead-lettering a good event), and once the registry is back
 * that id decodes. A private registry process (infra/registry.sh on a port and data folder of
 * this test) is really stopped and started; the shared one stays up for the other tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { avroType } from '../../../src/schema/avro-types.js';
import { encodeConfluent } from '../../../src/schema/avro.js';
import { createDecoder, DecoderUnavailableError, type EventDecoder } from '../../../src/schema/decoder.js';
import { RegistryClient } from '../../../src/schema/registry.js';
import { freePort, uniqueName } from '../../helpers/servers.js';
import { PrivateRegistry, SCHEMAS_DIR, avroSource, orderEvent, schemaJson, schemaText } from './helpers.js';

const topic = uniqueName('avro-outage');
let registry: PrivateRegistry;
let stateDir: string;
let decoder: EventDecoder;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'flowyard-registry-'));
  registry = new PrivateRegistry(await freePort(), stateDir);
  await registry.up();
});

afterAll(async () => {
  await decoder?.close();
  await registry?.down();
  rmSync(stateDir, { recursive: true, force: true });
});

test('cached ids keep decoding while the registry is down, unknown ids wait for it, and decoding resumes when it is back', async () => {
  const client = new RegistryClient(registry.url);
  const idV1 = await client.register(`${topic}-value`, schemaText('v1'));
  const idV2 = await client.register(`${topic}-value`, schemaText('v2'));
  const v1Event = encodeConfluent(idV1, avroType(schemaJson('v1')).toBuffer(orderEvent(1)));
  const v2Event = encodeConfluent(idV2, avroType(schemaJson('v2')).toBuffer({ ...orderEvent(2), channel: 'app' }));

  decoder = await createDecoder(avroSource(topic), { schemaRegistryUrl: registry.url, schemasDir: SCHEMAS_DIR, registryTimeoutMs: 2_000 });
  expect(await decoder.decode(v1Event)).toEqual({ ok: true, payload: orderEvent(1) });

  await registry.down();
  await expect(fetch(`${registry.url}/subjects`)).rejects.toThrow(); // really down

  // id v1 was fetched before: served from the cache
  expect(await decoder.decode(v1Event)).toEqual({ ok: true, payload: orderEvent(1) });
  // id v2 was not: not the event's fault, so no { ok: false } (which would dead-letter it)
  const unavailable = decoder.decode(v2Event);
  await expect(unavailable).rejects.toBeInstanceOf(DecoderUnavailableError);
  await expect(unavailable).rejects.toThrow(new RegExp(`^cannot fetch writer schema id ${idV2}: registry .* is unreachable .*ECONNREFUSED`));
  // asking again while down fails the same way: the failure was not cached
  await expect(decoder.decode(v2Event)).rejects.toBeInstanceOf(DecoderUnavailableError);

  await registry.up(); // same data folder: the ids survive the restart
  expect(await decoder.decode(v2Event)).toEqual({ ok: true, payload: orderEvent(2) });
  expect(await decoder.decode(v1Event)).toEqual({ ok: true, payload: orderEvent(1) });
});
