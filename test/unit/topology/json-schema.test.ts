import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { TOPOLOGY_SCHEMA_FILE, topologySchemaText, writeTopologySchema } from '../../../src/topology/write-json-schema.js';
import { parse } from 'yaml';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const topologiesDir = fileURLToPath(new URL('../../../topologies/', import.meta.url));

describe('published JSON Schema (schemas/topology.schema.json)', () => {
  test('equals the schema generated from the TypeBox definitions', () => {
    if (process.env.UPDATE_SCHEMA === '1') writeTopologySchema();
    const committed = readFileSync(TOPOLOGY_SCHEMA_FILE, 'utf8');
    if (committed !== topologySchemaText()) {
      throw new Error(
        'schemas/topology.schema.json is out of date; regenerate it with\n' +
          '  UPDATE_SCHEMA=1 npm run test:unit -- test/unit/topology/json-schema.test.ts',
      );
    }
  });

  test('works on its own (as an editor uses it): accepts every example topology', () => {
    const schema = JSON.parse(readFileSync(TOPOLOGY_SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    const validate = new Ajv({ allErrors: true, discriminator: true }).compile(schema);
    const files = readdirSync(topologiesDir).filter((file) => file.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const data: unknown = parse(readFileSync(`${topologiesDir}${file}`, 'utf8'));
      expect({ file, valid: validate(data), errors: validate.errors ?? null }).toEqual({ file, valid: true, errors: null });
    }
  });

  test('has the metadata editors show', () => {
    const schema = JSON.parse(topologySchemaText()) as Record<string, unknown>;
    expect(schema).toMatchObject({
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: 'urn:flowyard:topology:v1',
      title: expect.any(String),
      description: expect.any(String),
    });
    expect(schema.required).toEqual(['name', 'source', 'mode', 'destinations']);
  });
});
