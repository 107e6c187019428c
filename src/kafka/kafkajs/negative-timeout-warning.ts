/**
 * kafkajs 2.2.4's request queue schedules its next check at `throttledUntil - Date.now()`, which is
 * negative whenever the broker has not throttled (throttledUntil starts at -1). Node has always run
 * such a timeout after 1 ms, which is what kafkajs means; since Node 23 it also prints a
 * TimeoutNegativeWarning on stderr each time. Only that warning, and only when kafkajs' request
 * queue caused it, is dropped: every other warning still reaches stderr.
 */
const KAFKAJS_REQUEST_QUEUE = /kafkajs[\\/]src[\\/]network[\\/]requestQueue/;
let installed = false;

export function dropKafkajsNegativeTimeoutWarnings(): void {
  if (installed) return;
  installed = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const filtered = (warning: string | Error, ...rest: unknown[]): void => {
    if (isWarningType(rest[0], 'TimeoutNegativeWarning') && KAFKAJS_REQUEST_QUEUE.test(new Error().stack ?? '')) return;
    emitWarning(warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
}

/** emitWarning takes the type as its second argument or as `options.type`. */
function isWarningType(typeOrOptions: unknown, type: string): boolean {
  if (typeof typeOrOptions === 'string') return typeOrOptions === type;
  return typeof typeOrOptions === 'object' && typeOrOptions !== null && (typeOrOptions as { type?: unknown }).type === type;
}
