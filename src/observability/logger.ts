import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/env.js';

export type { Logger } from 'pino';

/**
 * Paths never written to logs: event payloads and anything that can hold a secret.
 * Event-level lines carry ids (plan, destination, eventId, key, seq, attempt), never values.
 */
export const REDACTED_PATHS = [
  'value',
  'payload',
  '*.value',
  '*.payload',
  'password',
  '*.password',
  'sasl',
  '*.sasl',
  'headers.authorization',
  '*.headers.authorization',
  'authorization',
  // ioredis errors carry the failed command with its arguments: AUTH/HELLO passwords, written values.
  'err.command.args',
  'err.cause.command.args',
  '*.err.command.args',
];

/** The process logger: pino JSON on stdout (or `destination`, for tests). */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'flowyard' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
