/**
 * A task run every so often in the background, never two at once: a turn that comes while the last one still runs
 * is skipped, and stop() waits for the one running. A failed turn is reported and the next turn comes as planned.
 */
export class Repeating {
  readonly #task: () => Promise<void>;
  readonly #everyMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(task: () => Promise<void>, everyMs: number, onError: (error: unknown) => void) {
    this.#task = task;
    this.#everyMs = everyMs;
    this.#onError = onError;
  }

  /** Turns every `everyMs` from now on (the first one now too, with `now`); the timer keeps no process alive. */
  start(options: { now?: boolean } = {}): void {
    if (options.now) this.#turn();
    this.#timer = setInterval(() => this.#turn(), this.#everyMs).unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  #turn(): void {
    if (this.#stopped || this.#running) return;
    this.#running = this.#task()
      .catch((error: unknown) => this.#onError(error))
      .finally(() => (this.#running = undefined));
  }
}
