/**
 * Writes schemas/topology.schema.json from the TypeBox definitions, so editors can complete
 * and check topology files (`# yaml-language-server: $schema=../schemas/topology.schema.json`).
 *
 * Regenerate after changing spec.ts or a sink's config schema, with either
 *   UPDATE_SCHEMA=1 npm run test:unit -- test/unit/topology/json-schema.test.ts
 *   npm run build && node dist/topology/write-json-schema.js
 * A unit test fails while the committed file differs from the generated text.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { publishedTopologySchema } from './spec.js';

/** Where the schema is published; the same relative path from src/ and dist/. */
export const TOPOLOGY_SCHEMA_FILE = fileURLToPath(new URL('../../schemas/topology.schema.json', import.meta.url));

/** The file's exact content. */
export function topologySchemaText(): string {
  return `${JSON.stringify(publishedTopologySchema(), null, 2)}\n`;
}

export function writeTopologySchema(file: string = TOPOLOGY_SCHEMA_FILE): void {
  writeFileSync(file, topologySchemaText());
}

// Run as a script (not imported by the test): write the file.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeTopologySchema();
  process.stdout.write(`wrote ${TOPOLOGY_SCHEMA_FILE}\n`);
}
