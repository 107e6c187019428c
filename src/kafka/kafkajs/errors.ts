/** What a kafkajs error means for the caller (KafkaPort.classify). */
import { InvalidInputError } from '../../errors.js';
import type { KafkaErrorKind } from '../port.js';

/** True when the broker refused a record batch as too large for its topic (directly or inside a wrapped or aggregate error). */
export function isMessageTooLarge(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { type, cause, originalError, errors } = error as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') return true;
  const nested = [cause, originalError, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  return nested.some((inner) => isMessageTooLarge(inner, depth + 1));
}

/**
 * Too large first (MESSAGE_TOO_LARGE is non-retriable for kafkajs too, but the caller makes the
 * record fit instead of giving up). Otherwise the kafkajs error's `retriable` flag at its root
 * decides. kafkajs wraps the last error of its own retries in KafkaJSNumberOfRetriesExceeded,
 * which is marked non-retriable: read through it, or a broker that stayed unreachable or a
 * leader election that outlasted kafkajs' retries would dead-letter good events. Errors
 * non-retriable at their root (authorisation, an invalid record) are the records' or the
 * configuration's: permanent, as is a refused SASL login or TLS handshake (the client module
 * turns those into an InvalidInputError naming the settings; the other backends say the same).
 * An error without the flag (not kafkajs', a socket's) is retriable.
 */
export function classifyKafkajsError(error: unknown): KafkaErrorKind {
  if (isMessageTooLarge(error)) return 'too-large';
  if (error instanceof InvalidInputError) return 'permanent';
  let root = error as { name?: unknown; retriable?: unknown; cause?: unknown } | undefined;
  while (root?.name === 'KafkaJSNumberOfRetriesExceeded' && typeof root.cause === 'object' && root.cause !== null) {
    root = root.cause as typeof root;
  }
  return root?.retriable === false ? 'permanent' : 'retriable';
}
