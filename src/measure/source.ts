/**
 * Where measured numbers come from (`--metrics`): a flowyard `/metrics` URL, a Prometheus
 * server's base URL (one instant query for every `flowyard_*` series), or a file holding a
 * saved `/metrics` page. Every form ends as a list of samples.
 */
import { readFile } from 'node:fs/promises';
import { InvalidInputError, RuntimeFailure } from '../errors.js';
import { parsePrometheusText, parseQueryResponse, type Sample } from './prom-text.js';

/** Bounds one scrape, so a hung endpoint ends the command instead of hanging it. */
const SCRAPE_TIMEOUT_MS = 10_000;

export type MetricsLocation = { readonly kind: 'scrape' | 'prometheus'; readonly url: URL } | { readonly kind: 'file'; readonly path: string };

/**
 * Reads `--metrics`: an http(s) URL whose path ends in `/metrics` is scraped; any other
 * http(s) URL is a Prometheus base URL; anything else is a file path.
 * @throws InvalidInputError naming `flag` for a URL that does not parse.
 */
export function metricsLocation(value: string, flag = '--metrics'): MetricsLocation {
  if (!/^https?:\/\//i.test(value)) return { kind: 'file', path: value };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(`${flag}: ${JSON.stringify(value)} is not a valid URL`);
  }
  return { kind: /\/metrics\/?$/.test(url.pathname) ? 'scrape' : 'prometheus', url };
}

export function describeLocation(location: MetricsLocation): string {
  if (location.kind === 'file') return `file ${location.path}`;
  return location.kind === 'scrape' ? `scrape of ${location.url.href}` : `Prometheus at ${location.url.href}`;
}

/**
 * The samples at `location` now.
 * @throws InvalidInputError for a missing file or one that is not Prometheus text;
 *   RuntimeFailure when the endpoint does not answer or answers with an error.
 */
export async function readSamples(location: MetricsLocation, flag = '--metrics'): Promise<Sample[]> {
  if (location.kind === 'file') {
    let text: string;
    try {
      text = await readFile(location.path, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new InvalidInputError(`${flag}: cannot read ${location.path}: ${reason}`);
    }
    try {
      return parsePrometheusText(text, location.path);
    } catch (error) {
      throw new InvalidInputError(`${flag}: ${(error as Error).message}`);
    }
  }
  const url =
    location.kind === 'scrape'
      ? location.url
      : new URL(`api/v1/query?query=${encodeURIComponent('{__name__=~"flowyard_.+"}')}`, location.url.href.endsWith('/') ? location.url : `${location.url.href}/`);
  const body = await fetchText(url);
  try {
    return location.kind === 'scrape' ? parsePrometheusText(body, url.href) : parseQueryResponse(JSON.parse(body) as unknown, url.href);
  } catch (error) {
    throw new RuntimeFailure(`${flag}: ${url.href} did not answer with metrics: ${(error as Error).message}`);
  }
}

async function fetchText(url: URL): Promise<string> {
  // Node's fetch, not undici's import: loading a command module must stay cheap (the bin test checks `validate` loads no HTTP client).
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new RuntimeFailure(`--metrics: cannot read ${url.href}: ${(error as Error).message}${cause === undefined ? '' : ` (${cause})`}`);
  }
  if (!response.ok) throw new RuntimeFailure(`--metrics: ${url.href} answered ${response.status}: ${text.slice(0, 200)}`);
  return text;
}
