/**
 * mulberry32, the seeded PRNG `flowyard trial` uses, uniform in [0, 1) like Math.random, so
 * randomised tests (completion orders, arrival orders) are reproducible from their seed.
 */
export { seededStream as seededRandom } from '../../src/trial/random.js';

/** Fisher-Yates shuffle of a copy, driven by `random`. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
