/**
 * A connection made on first use and shared by the calls that come while it is being made; a
 * failed attempt is forgotten, so the next call tries again (the broker may be back by then).
 * What each backend's admin does before its first request.
 */
export class ConnectOnce {
  private connected: Promise<void> | undefined;

  constructor(private readonly connect: () => Promise<void>) {}

  /** Resolves once connected. */
  ready(): Promise<void> {
    this.connected ??= this.connect().catch((error: unknown) => {
      this.connected = undefined;
      throw error;
    });
    return this.connected;
  }

  /** Forgets the connection; true when one had been started (the caller closes it). */
  forget(): boolean {
    const started = this.connected !== undefined;
    this.connected = undefined;
    return started;
  }
}
