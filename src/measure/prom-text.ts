/**
 * Reading Prometheus samples: the text exposition format of a `/metrics` page (or a saved
 * copy of one), and the JSON of a Prometheus server's instant-query API. Both end as the
 * same flat list of samples, so trial and advise do one kind of arithmetic on them.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses Prometheus text format. `#` lines and blank lines are skipped; a line that is not
 * a sample is a problem named by its line number, since a truncated scrape would otherwise
 * pass as a histogram with missing buckets.
 */
export function parsePrometheusText(text: string, origin: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`${origin}:${index + 1}: not a Prometheus sample line: ${line.slice(0, 80)}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(LABEL)) labels[label[1]!] = unescapeLabel(label[2]!);
    samples.push({ name: match[1]!, labels, value: parseValue(match[3]!) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_all, char: string) => (char === 'n' ? '\n' : char));
}

/** The `data` of a Prometheus `/api/v1/query` answer with `resultType: vector`. */
export function parseQueryResponse(body: unknown, origin: string): Sample[] {
  const data = (body as { status?: string; data?: { resultType?: string; result?: unknown } } | null)?.data;
  if ((body as { status?: string } | null)?.status !== 'success' || data?.resultType !== 'vector' || !Array.isArray(data.result)) {
    throw new Error(`${origin}: not a Prometheus instant-vector answer`);
  }
  return data.result.map((entry: { metric?: Record<string, string>; value?: [number, string] }) => {
    const { __name__: name, ...labels } = entry.metric ?? {};
    return { name: name ?? '', labels, value: parseValue(entry.value?.[1] ?? 'NaN') };
  });
}

/** Samples of `name` whose labels include every entry of `match`. */
export function select(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** Sum of `select(...)`: replicas and plans of one topology add up. */
export function sum(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number {
  return select(samples, name, match).reduce((total, s) => total + s.value, 0);
}
