/** Helpers every sink module shares. */

/** Resolves with `work`, or rejects with the signal's reason as soon as it aborts. */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // Work that fails after the abort won the race must not become an unhandled rejection; work
  // that completes later is harmless because every sink write is idempotent by event id.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The URL for messages and logs, without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
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
