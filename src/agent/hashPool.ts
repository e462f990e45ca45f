/**
 * A small pool of worker threads hashing blocks that sit in shared memory (see hashWorker.ts). A call hands each
 * worker one message with its share of the blocks, not one message per block: each message wakes a thread, and on
 * a busy machine every wake-up waits for a core (see bench/README.md, "What limits it").
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { ForgetRequest, HashRequest, HashResponse } from './hashWorker.ts';

export interface BlockDigest {
  sha256: Buffer;
  zero: boolean;
}

/**
 * Memories each worker keeps at most (copyDisk uses two batches per disk being copied, and tells the pool when it
 * drops one); past this, the oldest is forgotten and given again if it is used again.
 */
const MEMORIES_PER_WORKER = 8;

export class HashPool {
  readonly #workers: Worker[] = [];
  /** Per worker, the memories it was given, oldest first, with the number it knows each by. */
  readonly #given: Map<SharedArrayBuffer, number>[] = [];
  #nextMemory = 0;
  readonly #pending = new Map<number, { resolve: (d: BlockDigest[]) => void; reject: (e: Error) => void }>();
  #next = 0;
  #turn = 0;
  #failed: Error | undefined;

  /**
   * Defaults to one worker per core: hashing is most of a run's CPU, and the main thread only orchestrates (reads
   * and pack writes run on libuv's thread pool). Measured on 2 cores: a full run 2.37 s with 2 workers, 2.70 s with 1.
   */
  constructor(size = availableParallelism()) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./hashWorker.ts', import.meta.url));
      worker.on('message', (response: HashResponse) => {
        const waiter = this.#pending.get(response.id);
        if (!waiter) return;
        this.#pending.delete(response.id);
        if (this.#pending.size === 0) this.#setRef(false);
        const digests: BlockDigest[] = [];
        for (let i = 0; i < response.zero.length; i++) {
          digests.push({ sha256: Buffer.from(response.sha256s.buffer, response.sha256s.byteOffset + 32 * i, 32), zero: response.zero[i] === 1 });
        }
        waiter.resolve(digests);
      });
      worker.on('error', (error) => this.#fail(error));
      worker.unref();
      this.#workers.push(worker);
      this.#given.push(new Map());
    }
  }

  /** Idle workers must not keep the process alive; busy ones must, or awaiting a digest could end the process. */
  #setRef(busy: boolean): void {
    for (const worker of this.#workers) {
      if (busy) worker.ref();
      else worker.unref();
    }
  }

  #fail(error: Error): void {
    this.#failed = error;
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
  }

  /**
   * Hashes the `length`-byte blocks at `offsets` of `shared`, spread over `workers` of the workers (one message
   * each, in turn); the digests come back in the order of `offsets`. The bytes must not change until the promise
   * settles.
   */
  async digestMany(shared: SharedArrayBuffer, offsets: readonly number[], length: number, workers = this.#workers.length): Promise<BlockDigest[]> {
    if (offsets.length === 0) return [];
    const share = Math.ceil(offsets.length / Math.max(1, Math.min(workers, this.#workers.length)));
    const parts: Promise<BlockDigest[]>[] = [];
    for (let at = 0; at < offsets.length; at += share) parts.push(this.#post(shared, offsets.slice(at, at + share), length));
    return (await Promise.all(parts)).flat();
  }

  #post(shared: SharedArrayBuffer, offsets: number[], length: number): Promise<BlockDigest[]> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    const turn = this.#turn++ % this.#workers.length;
    const worker = this.#workers[turn]!;
    const given = this.#given[turn]!;
    const request: HashRequest = { id, memory: given.get(shared) ?? -1, offsets, length };
    if (request.memory < 0) {
      request.memory = this.#nextMemory++;
      request.shared = shared;
      request.forget = [];
      for (const [old, key] of given) {
        if (given.size < MEMORIES_PER_WORKER) break;
        given.delete(old);
        request.forget.push(key);
      }
      given.set(shared, request.memory);
    }
    if (this.#pending.size === 0) this.#setRef(true);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  /**
   * The caller is done with `shared` (it will not be hashed from again): the workers that hold it let go, so the
   * memory is freed once nothing else references it. Requests already sent are answered first.
   */
  forget(shared: SharedArrayBuffer): void {
    this.#given.forEach((given, turn) => {
      const key = given.get(shared);
      if (key === undefined) return;
      given.delete(shared);
      this.#workers[turn]!.postMessage({ forget: [key] } satisfies ForgetRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
