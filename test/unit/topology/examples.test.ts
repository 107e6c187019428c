/**
 * The example topologies in topologies/ are valid, and their plans print as recorded:
 * the golden text form of one domain (orders) as a fan-out, a chain and a dag.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTopology } from '../../../src/topology/load.js';
import { renderPlan } from '../../../src/topology/render.js';

const dir = fileURLToPath(new URL('../../../topologies/', import.meta.url));
const files = readdirSync(dir).filter((file) => file.endsWith('.yaml')).sort();

describe('example topologies', () => {
  test('there is one per mode', () => {
    expect(files).toEqual(expect.arrayContaining(['orders-cascade.yaml', 'orders-dag.yaml', 'orders-fanout.yaml']));
  });

  test.each(files)('%s is valid, points editors at the JSON Schema and compiles', async (file) => {
    const text = readFileSync(`${dir}${file}`, 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/topology.schema.json');
    const { plan } = await loadTopology(`${dir}${file}`, {});
    expect(plan.destinations.length).toBeGreaterThan(0);
    for (const format of ['text', 'json', 'mermaid'] as const) expect(renderPlan(plan, format).length).toBeGreaterThan(0);
  });

  test.each(['orders-fanout.yaml', 'orders-cascade.yaml', 'orders-dag.yaml'])('plan of %s (golden text)', async (file) => {
    const { plan } = await loadTopology(`${dir}${file}`, {});
    expect(renderPlan(plan, 'text')).toMatchSnapshot();
  });

  test('mermaid of the dag (golden)', async () => {
    const { plan } = await loadTopology(`${dir}orders-dag.yaml`, {});
    expect(renderPlan(plan, 'mermaid')).toMatchSnapshot();
  });

  test('the dag: ledger first, inventory and notify in parallel, archive joining both', async () => {
    const { plan } = await loadTopology(`${dir}orders-dag.yaml`, {});
    expect(plan.edges.map((edge) => `${edge.from} -> ${edge.to} (${edge.kind})`)).toEqual([
      'router -> ledger (direct)',
      'ledger -> inventory (direct)',
      'ledger -> notify (direct)',
      'inventory -> archive (join)',
      'notify -> archive (join)',
    ]);
  });

  test('JSON is the plan itself, stable across loads', async () => {
    const first = await loadTopology(`${dir}orders-fanout.yaml`, {});
    const second = await loadTopology(`${dir}orders-fanout.yaml`, {});
    const json = renderPlan(first.plan, 'json');
    expect(JSON.parse(json)).toEqual(first.plan);
    expect(renderPlan(second.plan, 'json')).toBe(json);
  });
});
