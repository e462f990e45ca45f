/**
 * Keeps the image store in step with the control plane: retention deletes images through a deleter that also
 * schedules garbage collection, and a run that ends without an image (failed, cancelled) abandons its
 * half-written one so its blocks can be collected.
 */
import type { Logger } from 'pino';
import type { Core } from './core/context.ts';
import type { Tenant } from './domain/tenant.ts';
import { ImageDeletionDeferred } from './core/imageRetention.ts';
import type { ImageDeleter } from './images/types.ts';
import type { ImageStore } from './images/imageStore.ts';

/** Collection runs this long after the last deletion, so a burst of retention deletions costs one pass. */
const GC_DELAY_MS = 5000;

export class GarbageCollection {
  readonly #images: ImageStore;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(images: ImageStore, log: Logger) {
    this.#images = images;
    this.#log = log;
  }

  deleter(): ImageDeleter {
    return {
      deleteImage: async (tenant: Tenant, replicationJobId: string, amiId: string) => {
        await this.#images.deleteImage(tenant, replicationJobId, amiId);
        this.schedule();
      },
    };
  }

  schedule(delay = GC_DELAY_MS): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.run(), delay);
    this.#timer.unref();
  }

  async run(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      try {
        const report = await this.#images.collectGarbage();
        this.#log.info({ ...report }, 'image garbage collection finished');
      } catch (error) {
        this.#log.error({ err: error }, 'image garbage collection failed');
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}

export function followRunsForImages(core: Core, images: ImageStore, log: Logger): () => void {
  return core.events.subscribe((event) => {
    if (event.type !== 'run.state' || (event.state !== 'FAILED' && event.state !== 'DELETED')) return;
    images.abandonImage(event.replicationRunId).catch((error: Error) => log.warn({ err: error.message, runId: event.replicationRunId }, 'could not abandon the run image'));
  });
}

/**
 * Retention must never delete an image that an instance still reads through its export — one not yet hydrated: its
 * guest would get I/O errors for every block it had not read yet. Such a deletion is deferred (the entry stays queued)
 * until each of those instances is hydrated, failed or terminated; main.ts pokes the scheduler when one is.
 */
export function deferWhileInUse(deleter: ImageDeleter, readersOf: (amiId: string) => Promise<string[]>): ImageDeleter {
  return {
    async deleteImage(tenant: Tenant, replicationJobId: string, amiId: string) {
      const readers = await readersOf(amiId);
      if (readers.length > 0) {
        throw new ImageDeletionDeferred(`deferred: instance(s) ${readers.join(', ')} still boot from ${amiId} through its export (not hydrated yet)`);
      }
      await deleter.deleteImage(tenant, replicationJobId, amiId);
    },
  };
}
