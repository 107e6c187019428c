/**
 * Parsing of `flowyard trial` flags. Every mistake is an InvalidInputError naming the flag
 * and the text it could not read (exit 2).
 */
import { InvalidInputError } from '../errors.js';
import { TAIL_Z, type TailPoint } from './latency.js';
import type { Window } from './simulate.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;

/** `250ms`, `1.5s`, `2m` -> milliseconds. A unit is required: `20` could mean either. */
export function parseDuration(flag: string, text: string): number {
  const match = DURATION.exec(text.trim());
  if (match === null) throw new InvalidInputError(`${flag}: ${JSON.stringify(text)} is not a duration (e.g. 250ms, 1.5s, 2m)`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 's' ? value * 1000 : value * 60_000;
}

export interface LatencyFlag {
  readonly p50Ms: number;
  readonly tail?: { readonly point: TailPoint; readonly ms: number };
}

/**
 * `--latency ledger=p50:20ms,p99:80ms` (repeatable; `*=` for every destination not named).
 * p50 is required; at most one tail point (p90, p95, p99, p999), above p50.
 */
export function parseLatencyFlags(values: readonly string[]): Map<string, LatencyFlag> {
  const result = new Map<string, LatencyFlag>();
  for (const value of values) {
    const [destination, spec] = splitAssignment('--latency', value, 'ledger=p50:20ms,p99:80ms');
    let p50Ms: number | undefined;
    let tail: LatencyFlag['tail'];
    for (const part of spec.split(',')) {
      const [point, duration] = part.split(':');
      if (point === undefined || duration === undefined) throw new InvalidInputError(`--latency: ${JSON.stringify(part)} in ${JSON.stringify(value)} is not <quantile>:<duration> (e.g. p99:80ms)`);
      const ms = parseDuration('--latency', duration);
      if (ms <= 0) throw new InvalidInputError(`--latency: ${JSON.stringify(part)} in ${JSON.stringify(value)}: a latency must be above 0`);
      if (point === 'p50') p50Ms = ms;
      else if (point in TAIL_Z) {
        if (tail !== undefined) throw new InvalidInputError(`--latency: ${JSON.stringify(value)} gives two tail quantiles; give p50 and one of p90, p95, p99, p999`);
        tail = { point: point as TailPoint, ms };
      } else throw new InvalidInputError(`--latency: unknown quantile ${JSON.stringify(point)} in ${JSON.stringify(value)}; use p50 and one of p90, p95, p99, p999`);
    }
    if (p50Ms === undefined) throw new InvalidInputError(`--latency: ${JSON.stringify(value)} has no p50`);
    if (tail !== undefined && tail.ms < p50Ms) throw new InvalidInputError(`--latency: in ${JSON.stringify(value)} ${tail.point} is below p50`);
    result.set(destination, tail === undefined ? { p50Ms } : { p50Ms, tail });
  }
  return result;
}

/** `--errors notify=2%` or `notify=0.02` (repeatable; `*=` for every destination not named) -> share 0..1. */
export function parseErrorFlags(values: readonly string[]): Map<string, number> {
  const result = new Map<string, number>();
  for (const value of values) {
    const [destination, spec] = splitAssignment('--errors', value, 'notify=2%');
    const percent = spec.endsWith('%');
    const number = Number(percent ? spec.slice(0, -1) : spec);
    const share = percent ? number / 100 : number;
    if (spec === '' || !Number.isFinite(number) || share < 0 || share > 1) {
      throw new InvalidInputError(`--errors: ${JSON.stringify(value)}: the error rate must be a percentage 0%..100% or a share 0..1`);
    }
    result.set(destination, share);
  }
  return result;
}

/** `--spike 3x@20s+5s`: the rate times 3 from 20 s into the run, for 5 s. */
export function parseSpike(text: string): Window & { factor: number } {
  const match = /^(\d+(?:\.\d+)?)x@([^+]+)\+(.+)$/.exec(text.trim());
  if (match === null) throw new InvalidInputError(`--spike: ${JSON.stringify(text)} is not <factor>x@<start>+<length> (e.g. 3x@20s+5s)`);
  const factor = Number(match[1]);
  if (factor <= 0) throw new InvalidInputError(`--spike: the factor in ${JSON.stringify(text)} must be above 0`);
  return { factor, atMs: parseDuration('--spike', match[2]!), forMs: parseDuration('--spike', match[3]!) };
}

/** `--outage ledger@30s+10s`: ledger fails every call from 30 s into the run, for 10 s. */
export function parseOutage(text: string): Window & { destination: string } {
  const match = /^([^@]+)@([^+]+)\+(.+)$/.exec(text.trim());
  if (match === null) throw new InvalidInputError(`--outage: ${JSON.stringify(text)} is not <destination>@<start>+<length> (e.g. ledger@30s+10s)`);
  return { destination: match[1]!, atMs: parseDuration('--outage', match[2]!), forMs: parseDuration('--outage', match[3]!) };
}

/** Checks that every destination a flag names exists in the topology. */
export function checkDestinations(flag: string, named: Iterable<string>, known: readonly string[]): void {
  for (const name of named) {
    if (name !== '*' && !known.includes(name)) throw new InvalidInputError(`${flag}: the topology has no destination ${JSON.stringify(name)} (it has ${known.join(', ')})`);
  }
}

function splitAssignment(flag: string, value: string, example: string): [string, string] {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidInputError(`${flag}: ${JSON.stringify(value)} is not <destination>=<value> (e.g. ${example})`);
  return [value.slice(0, at), value.slice(at + 1)];
}
