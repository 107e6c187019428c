import { retryLimited } from '../resilience/retry.js';
import type { KafkaPort } from './port.js';

/**
 * Admin reads of topics created a moment ago (or while another topic is being created) can
 * answer "not the leader" / "unknown topic" for a moment while leaders are elected; the port
 * classifies those retriable. 20 tries, 250 ms apart; any other error fails at once.
 */
export function retryWhileRetriable<T>(kafka: KafkaPort, call: () => Promise<T>): Promise<T> {
  return retryLimited(call, { attempts: 20, waitMs: () => 250, retryIf: (error) => kafka.classify(error) === 'retriable' });
}
