/**
 * Bounded concurrency, the one way Ferry limits how much work runs at once: a limiter that tasks pass through
 * (qemu-img processes of a scan, webhook deliveries) and a map over a list with at most N items in progress (block
 * PUTs, per-job run listings). Waiting tasks start in the order they asked. And work serialized per key (KeyedChains).
 */

/** At most `limit` tasks run at once; the others wait their turn. */
export class ConcurrencyLimit {
  readonly #limit: number;
  #active = 0;
  /** Tasks waiting for a slot: a finishing task hands its slot to the first of them. */
  readonly #waiting: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`A concurrency limit is a whole number of at least 1, not ${limit}.`);
    this.#limit = limit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.#waiting.length;
  }

  /** Whether a task run now would have to wait. */
  get full(): boolean {
    return this.#active >= this.#limit;
  }

  /** Runs `task` once a slot is free, and frees the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    // A slot is taken here, or handed over by the task that frees it (never both), so no newcomer can slip in
    // between a release and the waiter it wakes.
    if (this.#active < this.#limit) this.#active++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** Settles when no task runs or waits. */
  idle(): Promise<void> {
    if (this.#active === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) {
      next();
      return;
    }
    this.#active--;
    if (this.#active === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}

/**
 * `work` over every item, at most `limit` at once, results in the items' order. After a failure no further item
 * starts; the promise rejects with the first error once the items already started have settled, so nothing the
 * caller handed over is still in use when it returns.
 */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`A concurrency limit is a whole number of at least 1, not ${limit}.`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * One chain of work per key: the steps queued for a key run one after another, never overlapping, while other keys'
 * chains run beside them (the App coordinators: one app's steps must not claim the same row twice in this process).
 * A step that fails goes to `onError` and does not break its chain; a key's chain is forgotten once it is empty.
 */
export class KeyedChains {
  readonly #chains = new Map<string, Promise<void>>();

  enqueue(key: string, work: () => Promise<void>, onError: (error: unknown) => void): void {
    const next = (this.#chains.get(key) ?? Promise.resolve()).then(work).catch(onError);
    this.#chains.set(key, next);
    void next.then(() => {
      if (this.#chains.get(key) === next) this.#chains.delete(key);
    });
  }

  /** Whether `key` has work queued or running. */
  busy(key: string): boolean {
    return this.#chains.has(key);
  }

  /** Resolves once no key has work queued, including work queued while waiting (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.all([...this.#chains.values()]);
  }
}
