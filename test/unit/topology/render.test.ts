/**
 * The printed plan (`flowyard plan`, every format) never shows the secrets `${ENV}`
 * placeholders put into sink configs: header values and URL passwords/query values print
 * as `***`, in destination sinks, compensation sinks and the rollout's plan. The Plan itself
 * (what the runtime reads, and what the plan id hashes) keeps the real values.
 */
import { parseTopology } from '../../../src/topology/load.js';
import { PLAN_FORMATS, renderPlan } from '../../../src/topology/render.js';

const SECRETS = { HOOK_TOKEN: 's3cr3t-bearer', HOOK_PASSWORD: 'pa55-word', HOOK_QUERY_TOKEN: 'qu3ry-t0ken', PG_PASSWORD: 'pg-pa55' };

const TOPOLOGY = [
  'name: orders',
  'source: { topic: orders.events, key: customerId, id: eventId }',
  'mode: fanout',
  'rollout: { to: cascade, percent: 10 }',
  'destinations:',
  '  - name: notify',
  '    sink:',
  '      type: http',
  '      url: "https://hook-user:${HOOK_PASSWORD}@hooks.example.com/v1/orders?token=${HOOK_QUERY_TOKEN}&tenant=acme"',
  '      method: PUT',
  '      headers: { Authorization: "Bearer ${HOOK_TOKEN}", X-Api-Key: "${HOOK_QUERY_TOKEN}" }',
  '    compensate:',
  '      type: http',
  '      url: "https://hook-user:${HOOK_PASSWORD}@hooks.example.com/v1/orders/cancel?token=${HOOK_QUERY_TOKEN}"',
  '      headers: { Authorization: "Bearer ${HOOK_TOKEN}" }',
  '  - name: ledger',
  '    sink: { type: postgres, url: "postgres://ledger:${PG_PASSWORD}@db:5432/orders", table: ledger, conflictKey: event_id, columns: { event_id: $eventId } }',
  '',
].join('\n');

function load(env: Record<string, string> = SECRETS) {
  return parseTopology(TOPOLOGY, 'secrets.yaml', env).plan;
}

describe('rendered plans hide sink secrets', () => {
  test.each(PLAN_FORMATS)('%s shows none of the secret values', (format) => {
    const output = renderPlan(load(), format);
    for (const secret of Object.values(SECRETS)) expect(output).not.toContain(secret);
    expect(output).toContain('***');
  });

  test('text: headers masked, URLs keep user, host and path, other fields as they are', () => {
    const text = renderPlan(load(), 'text');
    expect(text).toContain(
      '  sink http headers={"Authorization":"***","X-Api-Key":"***"} method=PUT url=https://hook-user:***@hooks.example.com/v1/orders?token=***&tenant=***; ' +
        'compensate http headers={"Authorization":"***"} url=https://hook-user:***@hooks.example.com/v1/orders/cancel?token=***',
    );
    expect(text).toContain('url=postgres://ledger:***@db:5432/orders');
    expect(text).toContain('table=ledger');
  });

  test('json: masked in destinations, compensations and the rollout plan; otherwise the plan', () => {
    const plan = load();
    const printed = JSON.parse(renderPlan(plan, 'json')) as typeof plan;
    const notify = printed.destinations[0];
    expect(notify?.sink).toEqual({
      type: 'http',
      headers: { Authorization: '***', 'X-Api-Key': '***' },
      method: 'PUT',
      url: 'https://hook-user:***@hooks.example.com/v1/orders?token=***&tenant=***',
    });
    expect(notify?.compensation?.sink.url).toBe('https://hook-user:***@hooks.example.com/v1/orders/cancel?token=***');
    expect(printed.rollout?.plan.destinations[0]?.sink.headers).toEqual({ Authorization: '***', 'X-Api-Key': '***' });
    expect(Object.keys(printed)).toEqual(Object.keys(plan));
    expect({ ...printed, destinations: [], rollout: undefined }).toEqual({ ...plan, destinations: [], rollout: undefined });
    expect(printed.destinations.map(({ sink: _sink, compensation: _compensation, ...rest }) => rest)).toEqual(
      plan.destinations.map(({ sink: _sink, compensation: _compensation, ...rest }) => rest),
    );
  });

  test('rendering changes neither the plan data nor its id', () => {
    const plan = load();
    const before = JSON.stringify(plan);
    for (const format of PLAN_FORMATS) renderPlan(plan, format);
    expect(JSON.stringify(plan)).toBe(before);
    expect(plan.destinations[0]?.sink.headers).toEqual({ Authorization: `Bearer ${SECRETS.HOOK_TOKEN}`, 'X-Api-Key': SECRETS.HOOK_QUERY_TOKEN });
    // Other secret values give another id: the id still hashes the real config, not the masked one.
    expect(load({ ...SECRETS, HOOK_TOKEN: 'another' }).id).not.toBe(plan.id);
  });
});
