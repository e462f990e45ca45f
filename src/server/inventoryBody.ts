/**
 * Reads a connector's inventory body (`{"vms":[…]}`) into entries without stalling the service. JSON.parse cannot
 * be interrupted, and its cost depends on what the body holds as much as on its size (measured on this machine:
 * 1 MiB of empty objects takes 130 ms, 21 MB of 50,000 real VMs 185–340 ms), so a body above a few KiB is parsed
 * and checked in a worker thread, which then hands the entries over one page at a time, as the service writes
 * them: the main thread never holds more than a page of parsed entries. One such worker runs at a time, with a heap
 * limit, so that hostile bodies cost bounded memory and only delay each other.
 */
import { Worker } from 'node:worker_threads';
import { INVENTORY_LIMITS, InventoryRejected, readInventoryEntry, type InventoryEntry, type InventoryPages } from '../domain/inventory.ts';

/** Bodies up to this size are parsed inline: at worst (all empty objects) a few milliseconds. */
const INLINE_BYTES = 16 * 1024;
/** Entries per page from the worker (one page is one write transaction, see core/catalog.ts). */
export const ENTRIES_PER_PAGE = 250;
/** The worker's heap: a real 50,000-VM inventory needs about 60 MB; a body built to exhaust memory fails here. */
const WORKER_HEAP_MB = 384;

/** Worker → service: the count once every entry passed, then a page per `next`, then done. */
export type WorkerReply = { count: number } | { page: InventoryEntry[] } | { done: true } | { rejected: string };
/** Service → worker, after the body: send the next page. */
export const NEXT_PAGE = 'next';

/** Parses and checks a whole inventory body; throws InventoryRejected with a message for the connector. */
export function parseInventoryBody(bytes: Uint8Array): InventoryEntry[] {
  let parsed: unknown;
  try {
    parsed = bytes.length === 0 ? {} : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new InventoryRejected('The body must be a JSON object.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InventoryRejected('The body must be a JSON object.');
  const vms = (parsed as Record<string, unknown>).vms;
  if (!Array.isArray(vms)) throw new InventoryRejected('vms must be a list.');
  if (vms.length > INVENTORY_LIMITS.vmsPerConnector) {
    throw new InventoryRejected(
      `An inventory may list at most ${INVENTORY_LIMITS.vmsPerConnector} VMs per connector; got ${vms.length}. Serve the rest with another connector.`,
    );
  }
  return vms.map(readInventoryEntry);
}

/** An inventory being read; `close()` ends the reading (and its worker) whether or not every page was taken. */
export interface InventoryReading extends InventoryPages {
  close(): void;
}

let workerSlot: Promise<void> = Promise.resolve();

/** The entries of an inventory body; large bodies are parsed off the main thread, one body at a time. */
export async function readInventoryBody(body: Buffer): Promise<InventoryReading> {
  if (body.length <= INLINE_BYTES) {
    const entries = parseInventoryBody(body);
    return { count: entries.length, pages: (async function* () { yield entries; })(), close: () => undefined };
  }
  let release!: () => void;
  const previous = workerSlot;
  workerSlot = new Promise((resolve) => (release = resolve));
  await previous;
  try {
    return await readInWorker(body, release);
  } catch (error) {
    release();
    throw error;
  }
}

/** Replies from a worker, taken one at a time; an error or an early exit ends them. */
class Inbox {
  readonly #replies: WorkerReply[] = [];
  #waiting: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;

  constructor(worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      if (this.#waiting) {
        this.#waiting.resolve(reply);
        this.#waiting = undefined;
      } else this.#replies.push(reply);
    });
    const fail = (error: Error) => {
      this.#failure ??= error;
      this.#waiting?.reject(this.#failure);
      this.#waiting = undefined;
    };
    worker.on('error', (error: Error & { code?: string }) =>
      fail(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new InventoryRejected('The inventory body holds too many JSON values to read; send one entry per VM.')
          : error,
      ),
    );
    worker.on('exit', () => fail(new Error('The inventory reader stopped before it answered.')));
  }

  next(): Promise<WorkerReply> {
    const reply = this.#replies.shift();
    if (reply) return Promise.resolve(reply);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
  }
}

async function readInWorker(body: Buffer, release: () => void): Promise<InventoryReading> {
  // A large Buffer owns its ArrayBuffer, which moves to the worker without a copy; a small one lives in Node's
  // shared pool, which cannot move, so its bytes are copied out.
  const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
  const bytes = owned ? new Uint8Array(body.buffer as ArrayBuffer) : new Uint8Array(body);
  const worker = new Worker(new URL('./inventoryWorker.ts', import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    void worker.terminate().finally(release);
  };
  try {
    const inbox = new Inbox(worker);
    worker.postMessage(bytes, [bytes.buffer]);
    const first = await inbox.next();
    if ('rejected' in first) throw new InventoryRejected(first.rejected);
    if (!('count' in first)) throw new Error('The inventory reader answered out of turn.');
    async function* pages(): AsyncGenerator<InventoryEntry[]> {
      try {
        for (;;) {
          worker.postMessage(NEXT_PAGE);
          const reply = await inbox.next();
          if ('page' in reply) yield reply.page;
          else if ('done' in reply) return;
          else throw new Error('The inventory reader answered out of turn.');
        }
      } finally {
        close();
      }
    }
    return { count: first.count, pages: pages(), close };
  } catch (error) {
    close();
    throw error;
  }
}
