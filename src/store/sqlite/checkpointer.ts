/**
 * WAL checkpoints off the request path. SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL
 * past 1000 pages: that request's commit copies about 4 MB into the database file and syncs it, on the main thread.
 * Measured on CreateReplicationJob (8 concurrent, in process): COMMIT averaged 484 µs per create, most of it those
 * checkpoints. Here a worker thread with its own connection checkpoints instead, after every `everyCommits` commits
 * and once a second when idle; the writer's own automatic checkpoint stays as a backstop at a much larger WAL.
 */
import { Worker } from 'node:worker_threads';

export const WRITER_AUTOCHECKPOINT_PAGES = 20_000;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  readonly #everyCommits: number;
  #sinceLast = 0;
  #busy = false;
  #closed = false;
  #lastError: string | undefined;

  constructor(file: string, everyCommits = 200) {
    this.#everyCommits = everyCommits;
    this.#worker = new Worker(new URL('./checkpointWorker.ts', import.meta.url), { workerData: { file } });
    this.#worker.unref();
    this.#worker.on('message', (message: { error?: string }) => {
      this.#busy = false;
      this.#lastError = message.error;
    });
    this.#worker.on('error', (error) => (this.#lastError = error.message));
    this.#timer = setInterval(() => this.#request(), 1000);
    this.#timer.unref();
  }

  /** Called once per commit that wrote. */
  noteCommit(): void {
    if (++this.#sinceLast >= this.#everyCommits) this.#request();
  }

  /** The last checkpoint's error, if it failed (the writer's own checkpoint still bounds the WAL then). */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  #request(): void {
    if (this.#busy || this.#closed || this.#sinceLast === 0) return;
    this.#busy = true;
    this.#sinceLast = 0;
    this.#worker.postMessage('checkpoint');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.ref(); // unref'd while it runs, so it never keeps a process alive; held while it closes
    this.#worker.postMessage('close');
    await exited;
  }
}
