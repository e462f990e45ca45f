/**
 * Aborts the pack uploads that writers killed mid-pack left in block storage (S3 multipart uploads nothing will ever
 * complete: a recovered pack is uploaded afresh). The rule of what counts as a leftover, and why reading the index
 * before listing makes it safe, is src/domain/unfinishedUploads.ts; this only gathers the facts and acts. Local
 * storage has no unfinished uploads, so this is a no-op there. Safe on several nodes at once: aborting an upload
 * that another node already aborted is not an error.
 */
import type { Kysely } from 'kysely';
import { packStateForUpload, unfinishedUploadIsLeftover } from '../../domain/unfinishedUploads.ts';
import { openPacks, sealedPackIds } from '../../store/images/index.ts';
import type { ImageDb } from '../db.ts';
import { packOwnerAlive } from '../packOwner.ts';
import type { ImageStoreLog } from '../types.ts';
import type { BlockStorage } from './blockStorage.ts';

export interface LeftUploadsReport {
  aborted: number;
  /** Unfinished uploads left alone: packs still streaming, or too young to judge. */
  kept: number;
}

/** The pack id of a pack object name (`packs/<shard>/<8 hex digits>.pack`), else undefined. */
export function packIdOfObject(name: string): number | undefined {
  const match = /^packs\/[0-9a-f]{4}\/([0-9a-f]{8})\.pack$/.exec(name);
  return match ? Number.parseInt(match[1]!, 16) : undefined;
}

export async function abortLeftUploads(db: ImageDb, storage: BlockStorage, now: number, log: ImageStoreLog): Promise<LeftUploadsReport> {
  // The index first, then the listing (see the rule's module comment).
  const openPackRows = await openPacks(db);
  const sealed = new Set(await sealedPackIds(db));
  const open = new Map(openPackRows.map((pack) => [pack.packId, { writerAlive: pack.owner !== null && packOwnerAlive(pack.owner), createdAt: pack.createdAt }]));
  let newestPackId = 0; // a loop, not Math.max(...ids): a large store has more packs than a call takes arguments
  for (const id of [sealed.keys(), open.keys()].flatMap((ids) => [...ids])) if (id > newestPackId) newestPackId = id;
  const report: LeftUploadsReport = { aborted: 0, kept: 0 };
  for await (const upload of storage.unfinishedUploads('packs/')) {
    const pack = packStateForUpload(packIdOfObject(upload.name), { sealed, open, newestPackId });
    if (!unfinishedUploadIsLeftover(pack, upload.startedAt, now)) {
      report.kept++;
      continue;
    }
    await storage.abortUnfinished(upload);
    report.aborted++;
    log.info({ object: upload.name, pack: pack.state, startedAt: new Date(upload.startedAt).toISOString() }, 'aborted a pack upload a stopped writer left behind');
  }
  return report;
}

/** How often a node sweeps (and once at its start): leftovers are only a cost, so an hour late is fine. */
export const LEFT_UPLOAD_SWEEP_MS = 60 * 60_000;

/**
 * Runs abortLeftUploads at a node's start and then every LEFT_UPLOAD_SWEEP_MS, in the background (remote block
 * storage only). A failed sweep is logged and tried again at the next one.
 */
export class LeftUploadSweeps {
  readonly #sweep: () => Promise<LeftUploadsReport>;
  readonly #log: ImageStoreLog;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  /** `db`: the store the image index lives in (typed like OpenImageStoreOptions.db, for the same reason). */
  constructor(db: Kysely<any>, storage: BlockStorage, now: () => number, log: ImageStoreLog) {
    const imageDb = db as unknown as ImageDb;
    this.#sweep = () => abortLeftUploads(imageDb, storage, now(), log);
    this.#log = log;
  }

  start(everyMs = LEFT_UPLOAD_SWEEP_MS): void {
    const tick = (): void => {
      if (this.#stopped) return;
      this.#running = this.#sweep().then(
        (report) => {
          if (report.aborted > 0 || report.kept > 0) this.#log.info({ ...report }, 'swept unfinished pack uploads');
        },
        (error: unknown) => this.#log.warn({ err: error instanceof Error ? error.message : String(error) }, 'sweeping unfinished pack uploads failed; tried again later'),
      );
      this.#timer = setTimeout(tick, everyMs);
      this.#timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
