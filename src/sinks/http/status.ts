/**
 * What an HTTP answer means for the event, without I/O: the status rules of the `http`
 * sink, `Retry-After` parsing and the body excerpt a failure carries to the DLQ.
 */

/** Longest body excerpt in an error message (characters), so one `fy-error` header stays small. */
export const BODY_EXCERPT_MAX_CHARS = 200;

/**
 * - `done`: 2xx. A receiver that already has this Idempotency-Key answers with the stored
 *   result of the first request (IETF draft "The Idempotency-Key HTTP Header Field").
 * - `retriable`: 5xx (the receiver's trouble), 408 (it timed out waiting for us),
 *   429 (slow down): another attempt, later, can succeed.
 * - `permanent`: any other 4xx (the request itself is wrong for this receiver), and 1xx/3xx,
 *   which a webhook does not answer to a POST: a redirect means `url` is not the final address.
 *   409 included: in the Idempotency-Key draft it means the first request with this key is
 *   still being processed, so counting it done could lose the event if that one fails; the
 *   dead letter keeps it, and a replay once the receiver is done answers 2xx.
 */
export type StatusOutcome = 'done' | 'retriable' | 'permanent';

/** What a status code means for the event (see StatusOutcome). */
export function classifyStatus(status: number): StatusOutcome {
  if (status >= 200 && status <= 299) return 'done';
  if (status >= 500 || status === 408 || status === 429) return 'retriable';
  return 'permanent';
}

/**
 * Milliseconds to wait according to a `Retry-After` value (RFC 9110 §10.2.3): either
 * delay-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), measured from
 * `nowMs`. A date in the past means 0; a missing or malformed value, undefined (no hint).
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse also takes ISO and other forms; only the HTTP-date shapes (a weekday name or a
  // month name in letters) are honoured, so a stray number-like string is not read as a date.
  if (!/[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** The start of a response body as one line of at most BODY_EXCERPT_MAX_CHARS characters. */
export function bodyExcerpt(body: string): string {
  const line = body.replace(/\s+/g, ' ').trim();
  if (line.length <= BODY_EXCERPT_MAX_CHARS) return line;
  return `${line.slice(0, BODY_EXCERPT_MAX_CHARS - 1)}…`;
}

/** `422 Unprocessable Entity: {"error":"sku unknown"}`, the text a failed status carries. */
export function describeStatus(status: number, statusText: string | undefined, excerpt: string): string {
  const head = statusText ? `${status} ${statusText}` : String(status);
  return excerpt === '' ? head : `${head}: ${excerpt}`;
}
