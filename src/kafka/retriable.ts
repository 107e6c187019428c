import { retryLimited } from '../resilience/retry.js';

/**
 * Admin reads of topics created a moment ago (or while another topic is being created) can
 * answer "not the leader" / "unknown topic" for a moment while leaders are elected; kafkajs marks
 * those errors retriable. 20 tries, 250 ms apart; any other error fails at once.
 */
export function retryWhileRetriable<T>(call: () => Promise<T>): Promise<T> {
  return retryLimited(call, { attempts: 20, waitMs: () => 250, retryIf: (error) => (error as { retriable?: boolean }).retriable === true });
}
