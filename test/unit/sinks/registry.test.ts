/**
 * Every registered sink spec is well-formed and its documented examples are valid, both
 * against its own schema and inside a topology (a spec's examples are tested).
 */
import { Ajv } from 'ajv';
import type { SinkContext } from '../../../src/sinks/define.js';
import { createSink, sinkSpec, sinkSpecs, sinks, sinkTypes } from '../../../src/sinks/registry.js';
import { parseTopology } from '../../../src/topology/load.js';

describe('sink registry', () => {
  test('types are unique and each spec selects itself with a literal `type`', () => {
    expect(new Set(sinkTypes()).size).toBe(sinkSpecs.length);
    for (const spec of sinkSpecs) {
      expect(spec.configSchema.properties.type).toMatchObject({ const: spec.type });
      expect(spec.configSchema.required).toContain('type');
      expect(spec.configSchema.additionalProperties).toBe(false);
      expect(spec.summary.length).toBeGreaterThan(0);
      expect(sinkSpec(spec.type)).toBe(spec);
    }
    expect(sinkSpec('carrier-pigeon')).toBeUndefined();
  });

  test('each spec says its delivery guarantee and documents defaults only of optional fields it has', () => {
    for (const spec of sinkSpecs) {
      expect(spec.delivery).toMatch(/\bpermanent\b/);
      expect(spec.delivery).toMatch(/\bretriable\b/);
      const required = new Set(spec.configSchema.required ?? []);
      for (const field of Object.keys(spec.defaults)) {
        expect({ type: spec.type, field, known: field in spec.configSchema.properties, required: required.has(field) }).toEqual({ type: spec.type, field, known: true, required: false });
      }
    }
  });

  test('one definition per sink module: the registry builds sinks from the same entries it validates with', () => {
    expect(sinks.map((sink) => sink.spec)).toEqual(sinkSpecs);
    for (const sink of sinks) expect(typeof sink.create).toBe('function');
  });

  test('creating a sink of an unregistered type is a bug, reported as such', async () => {
    await expect(createSink({ type: 'carrier-pigeon' }, {} as SinkContext)).rejects.toThrow('no sink registered for type "carrier-pigeon"');
  });

  test.each(sinkSpecs.flatMap((spec) => spec.examples.map((example) => [spec.type, example] as const)))(
    '%s example %j is valid on its own and in a topology',
    (type, example) => {
      const spec = sinkSpec(type);
      const validate = new Ajv({ allErrors: true }).compile(spec?.configSchema ?? {});
      const valid = validate(example);
      expect(validate.errors).toBeNull();
      expect(valid).toBe(true);
      const yaml = [
        'name: docs',
        'source: { topic: docs.events, key: k, id: id }',
        'mode: fanout',
        'destinations:',
        `  - name: example`,
        `    sink: ${JSON.stringify(example)}`,
      ].join('\n');
      expect(parseTopology(yaml, 'example.yaml', {}).plan.destinations[0]?.sink).toEqual(example);
    },
  );
});
