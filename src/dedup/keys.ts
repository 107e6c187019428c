/**
 * The prefix of every Redis key of one topology. The braces make a Redis Cluster hash tag:
 * all of a topology's keys live on one slot, so a Lua script may touch any of them.
 */
export function topologyKeyPrefix(topologyName: string): string {
  return `fy:{${topologyName}}`;
}
