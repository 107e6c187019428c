/** Helpers every sink module shares. */

/** What a hidden secret prints as. */
export const REDACTED = '***';

/**
 * The URL for messages, logs and printed plans, without its secrets: the userinfo password,
 * every query value (`?token=***&a=***`; a bare `?SECRET` part becomes `***`) and the fragment
 * are masked. Scheme, user name, host, port and path stay, so endpoints can be told apart. A
 * URL with none of those parts comes back exactly as written; one that does not parse, as
 * `(unparsable url)`.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unparsable url)';
  }
  if (parsed.password === '' && parsed.search === '' && parsed.hash === '') return url;
  if (parsed.password !== '') parsed.password = REDACTED;
  if (parsed.search !== '') parsed.search = redactQuery(parsed.search.slice(1));
  if (parsed.hash !== '') parsed.hash = REDACTED;
  return parsed.toString();
}

/** `a=1&b&&c=2` -> `a=***&***&&c=***`: names kept, values (and name-only parts, which may be keys) masked. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      if (part === '') return part;
      const equals = part.indexOf('=');
      return equals === -1 ? REDACTED : `${part.slice(0, equals)}=${REDACTED}`;
    })
    .join('&');
}

/**
 * JSON text of a decoded payload value. Avro-decoded records can hold what JSON cannot:
 * longs beyond 2^53 arrive as bigint (written as their exact digits, as a string) and
 * `bytes`/`fixed` fields as Buffers (written as base64).
 */
export function payloadJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return item.toString();
    // JSON.stringify has already called Buffer#toJSON by the time the replacer sees it.
    if (typeof item === 'object' && item !== null && (item as { type?: unknown }).type === 'Buffer' && Array.isArray((item as { data?: unknown }).data)) {
      return Buffer.from((item as { data: number[] }).data).toString('base64');
    }
    return item;
  });
}
