/**
 * What a test opened and has not closed yet. A test that times out never reaches its own
 * `finally`, so its roles and consumers would keep polling the broker after Jest tore the test
 * environment down (and keep Jest from exiting). `test/setup/close-leftovers.ts` closes
 * whatever is still registered after each test.
 */
const open = new Map<symbol, { what: string; close: () => Promise<void> }>();

/** Registers `close` to run after the current test unless the returned `done` ran first. */
export function closeAfterTest(what: string, close: () => Promise<void>): () => void {
  const token = Symbol(what);
  open.set(token, { what, close });
  return () => void open.delete(token);
}

/** Closes, newest first, what tests left open; throws after all were tried if one failed to close. */
export async function closeLeftovers(): Promise<void> {
  const left = [...open.values()].reverse();
  open.clear();
  const failures: string[] = [];
  for (const { what, close } of left) {
    try {
      await close();
    } catch (error) {
      failures.push(`${what}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) throw new Error(`closing what the test left open failed: ${failures.join('; ')}`);
}
