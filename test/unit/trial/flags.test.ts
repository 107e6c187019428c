import { InvalidInputError } from '../../../src/errors.js';
import { checkDestinations, parseDuration, parseErrorFlags, parseLatencyFlags, parseOutage, parseSpike } from '../../../src/trial/flags.js';

function problem(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as Error).message;
  }
  throw new Error('expected an InvalidInputError');
}

test('durations need a unit', () => {
  expect(parseDuration('--duration', '250ms')).toBe(250);
  expect(parseDuration('--duration', '1.5s')).toBe(1500);
  expect(parseDuration('--duration', '2m')).toBe(120_000);
  expect(problem(() => parseDuration('--duration', '20'))).toBe('--duration: "20" is not a duration (e.g. 250ms, 1.5s, 2m)');
});

test('--latency reads p50 and one tail point per destination, and names what it cannot read', () => {
  const flags = parseLatencyFlags(['ledger=p50:20ms,p99:80ms', '*=p50:5ms']);
  expect(flags.get('ledger')).toEqual({ p50Ms: 20, tail: { point: 'p99', ms: 80 } });
  expect(flags.get('*')).toEqual({ p50Ms: 5 });
  expect(problem(() => parseLatencyFlags(['ledger']))).toMatch(/^--latency: "ledger" is not <destination>=<value>/);
  expect(problem(() => parseLatencyFlags(['ledger=p99:80ms']))).toBe('--latency: "ledger=p99:80ms" has no p50');
  expect(problem(() => parseLatencyFlags(['ledger=p50:20ms,p75:30ms']))).toMatch(/unknown quantile "p75"/);
  expect(problem(() => parseLatencyFlags(['ledger=p50:20ms,p99:10ms']))).toMatch(/p99 is below p50/);
  expect(problem(() => parseLatencyFlags(['ledger=p50:20ms,p95:30ms,p99:80ms']))).toMatch(/two tail quantiles/);
});

test('--errors takes a percentage or a share', () => {
  const flags = parseErrorFlags(['notify=2%', 'ledger=0.5']);
  expect(flags.get('notify')).toBeCloseTo(0.02, 9);
  expect(flags.get('ledger')).toBe(0.5);
  expect(problem(() => parseErrorFlags(['notify=120%']))).toMatch(/^--errors: "notify=120%": the error rate must be/);
  expect(problem(() => parseErrorFlags(['notify=']))).toMatch(/^--errors:/);
});

test('--spike and --outage read factor/destination, start and length', () => {
  expect(parseSpike('3x@20s+5s')).toEqual({ factor: 3, atMs: 20_000, forMs: 5_000 });
  expect(parseOutage('ledger@30s+10s')).toEqual({ destination: 'ledger', atMs: 30_000, forMs: 10_000 });
  expect(problem(() => parseSpike('3@20s'))).toMatch(/^--spike: "3@20s" is not <factor>x@<start>\+<length>/);
  expect(problem(() => parseOutage('ledger@30+10s'))).toMatch(/^--outage: "30" is not a duration/);
});

test('a flag naming an unknown destination lists the known ones', () => {
  expect(problem(() => checkDestinations('--errors', ['notfy'], ['ledger', 'notify']))).toBe('--errors: the topology has no destination "notfy" (it has ledger, notify)');
  expect(() => checkDestinations('--errors', ['*', 'notify'], ['ledger', 'notify'])).not.toThrow();
});
