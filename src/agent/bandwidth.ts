/** A token bucket for the connector's upload limit (`--max-bandwidth`), in bytes per second. */
export class BandwidthLimiter {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;
  #queue: Promise<void> = Promise.resolve();

  constructor(bytesPerSecond: number, now: () => number = Date.now) {
    if (!(bytesPerSecond > 0)) throw new RangeError('A bandwidth limit must be a positive number of bytes per second.');
    this.#rate = bytesPerSecond;
    // Allow a quarter of a second of burst, and at least one block, so a limit below the block size still moves.
    this.#burst = Math.max(bytesPerSecond / 4, 512 * 1024);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#at = now();
  }

  readonly #now: () => number;

  /** Resolves when `bytes` may be sent. Callers are served in order. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes, signal));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #wait(bytes: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#now();
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
      this.#at = now;
      if (this.#tokens >= Math.min(bytes, this.#burst)) {
        this.#tokens -= bytes;
        return;
      }
      const waitMs = ((Math.min(bytes, this.#burst) - this.#tokens) / this.#rate) * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(waitMs))));
    }
  }
}
