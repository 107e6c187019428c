/**
 * What a test opened and has not closed yet. A test that times out never reaches its own
 * `finally`, so its roles and consumers would keep polling the broker after Jest tore the test
 * environment down (and keep Jest from exiting). `test/setup/close-leftovers.ts` closes what a
 * test opened after that test, and what a `beforeAll` opened after the file's last test.
 */
interface Opened {
  readonly what: string;
  readonly close: () => Promise<void>;
}

const inTest = new Map<symbol, Opened>();
const inFile = new Map<symbol, Opened>();
let testRunning = false;

export function testStarted(): void {
  testRunning = true;
}

/** Registers `close` to run after the current test (or file, outside a test) unless the returned `done` ran first. */
export function closeAfterTest(what: string, close: () => Promise<void>): () => void {
  const token = Symbol(what);
  const scope = testRunning ? inTest : inFile;
  scope.set(token, { what, close });
  return () => void scope.delete(token);
}

/** Closes, newest first, what the test left open; throws after all were tried if one failed to close. */
export async function closeTestLeftovers(): Promise<void> {
  testRunning = false;
  await closeAll(inTest);
}

export async function closeFileLeftovers(): Promise<void> {
  await closeAll(inFile);
}

async function closeAll(open: Map<symbol, Opened>): Promise<void> {
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
