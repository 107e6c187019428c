/**
 * Seeded randomness for the simulation. Draws are addressed, not streamed: the uniform for
 * (event, destination, attempt, purpose) is a hash of those numbers and the seed. A run with
 * an outage and the same run without it therefore give every attempt that happens in both
 * the same latency and the same success, and the blast radius compares like with like.
 */

/** A uniform in [0, 1) from the seed and up to four integers (murmur3-style 32-bit mixing). */
export function uniformAt(seed: number, a: number, b = 0, c = 0, d = 0): number {
  let h = seed >>> 0;
  for (const word of [a, b, c, d]) {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** mulberry32: a seeded stream, for the arrival process (one draw per event, in order). */
export function seededStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
