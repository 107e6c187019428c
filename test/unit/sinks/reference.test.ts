/**
 * The README's sink reference is generated from the registered specs (src/sinks/write-docs.ts)
 * and must equal what the specs say now; it lists every field of every sink.
 */
import { readFileSync } from 'node:fs';
import { BEGIN_MARKER, END_MARKER, README_FILE, sinkReference, withSinkReference, writeSinkReference } from '../../../src/sinks/write-docs.js';
import { sinkSpecs } from '../../../src/sinks/registry.js';

describe('README sink reference', () => {
  test('equals the reference generated from the sink specs', () => {
    if (process.env.UPDATE_DOCS === '1') writeSinkReference();
    const readme = readFileSync(README_FILE, 'utf8');
    if (withSinkReference(readme) !== readme) {
      throw new Error('README.md: the sink reference is out of date; regenerate it with\n  npm run docs');
    }
  });

  test('names every sink, its delivery guarantee and every config field', () => {
    const reference = sinkReference();
    for (const spec of sinkSpecs) {
      expect(reference).toContain(`### \`${spec.type}\``);
      expect(reference).toContain(spec.delivery);
      for (const field of Object.keys(spec.configSchema.properties)) expect(reference).toContain(`| \`${field}\` |`);
    }
  });

  test('replaces only the text between the markers, and refuses a README without them', () => {
    const readme = `intro\n${BEGIN_MARKER}\nstale\n${END_MARKER}\noutro\n`;
    expect(withSinkReference(readme, 'fresh\n')).toBe(`intro\n${BEGIN_MARKER}\n\nfresh\n\n${END_MARKER}\noutro\n`);
    expect(() => withSinkReference('no markers here')).toThrow(/lacks the sink reference markers/);
  });
});
