/** What a librdkafka error means for the caller (KafkaPort.classify). */
import { InvalidInputError } from '../../errors.js';
import type { KafkaErrorKind } from '../port.js';

/** librdkafka error codes (rdkafka.h; negative: the client's own, positive: the broker's). */
export const CODES = {
  MSG_SIZE_TOO_LARGE: 10,
  RECORD_LIST_TOO_LARGE: 18,
  UNKNOWN_TOPIC_OR_PART: 3,
  QUEUE_FULL: -184,
  STATE: -172,
  FENCED: -144,
  PRODUCER_FENCED: 90,
  INVALID_PRODUCER_EPOCH: 47,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  INVALID_RECORD: 87,
  INVALID_CONFIG: 40,
  INVALID_ARG: -186,
  AUTHENTICATION: -169,
  SASL_AUTHENTICATION_FAILED: 58,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  SSL: -181,
} as const;

/**
 * The records' or the configuration's fault: the same call fails again. Everything else
 * librdkafka reports (a broker down, timeouts, a leader election, a coordinator loading, an
 * unknown topic while metadata propagates, a transaction that must be aborted and retried)
 * can succeed on another attempt.
 */
const PERMANENT = new Set<number>([
  CODES.TOPIC_AUTHORIZATION_FAILED,
  CODES.GROUP_AUTHORIZATION_FAILED,
  CODES.CLUSTER_AUTHORIZATION_FAILED,
  CODES.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  CODES.INVALID_RECORD,
  CODES.INVALID_CONFIG,
  CODES.INVALID_ARG,
  CODES.AUTHENTICATION,
  CODES.SASL_AUTHENTICATION_FAILED,
  CODES.UNSUPPORTED_SASL_MECHANISM,
  CODES.ILLEGAL_SASL_STATE,
  CODES.SSL,
]);

/** The librdkafka error code of `error` (a LibrdKafkaError, or the library's KafkaJS-style error), if it has one. */
export function errorCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === 'number' ? code : undefined;
}

/**
 * Too large first: the broker's MSG_SIZE_TOO_LARGE for a batch above the topic's
 * max.message.bytes, and librdkafka's own refusal of a record above message.max.bytes (same
 * code, raised by produce() itself). Then the codes above. A fatal error of a transactional
 * producer (fenced by a newer instance with the same transactional id) is permanent: that
 * producer can never commit again.
 */
export function classifyConfluentError(error: unknown): KafkaErrorKind {
  const code = errorCode(error);
  if (code === CODES.MSG_SIZE_TOO_LARGE || code === CODES.RECORD_LIST_TOO_LARGE) return 'too-large';
  if (error instanceof InvalidInputError) return 'permanent';
  const { isFatal, fatal } = (error ?? {}) as { isFatal?: unknown; fatal?: unknown };
  if (isFatal === true || fatal === true) return 'permanent';
  if (code !== undefined && PERMANENT.has(code)) return 'permanent';
  return 'retriable';
}

/** A librdkafka error (a plain object from the addon's callbacks) as an Error with its code and flags kept. */
export function asError(error: unknown, context: string): Error {
  if (error instanceof Error) return error;
  const fields = (error ?? {}) as { message?: unknown; code?: unknown };
  const wrapped = new Error(`${context}: ${typeof fields.message === 'string' ? fields.message : String(error)}`);
  return Object.assign(wrapped, error as object);
}
