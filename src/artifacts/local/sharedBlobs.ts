/**
 * The rules that keep the index and the blobs consistent when the blobs are shared by several nodes (a bucket:
 * bucket/bucketBlobs.ts), on top of the garbage table every store has (migration 010):
 *
 * - A row never refers to bytes that may be lost. Before a blob's bytes go anywhere, a PENDING row for it is put in
 *   the garbage table, whose `queued_at` is then a lease end (PENDING_LEASE_MS ahead, pushed on while the body
 *   streams in). The commit that first refers to the blob deletes that row in its transaction, and fails when it is
 *   gone: a collector claimed it, so the bytes may have been deleted; the request fails, nothing refers to them.
 * - Garbage is deleted by the one node that claims its row (a DELETE … RETURNING), and only `graceMs` after it
 *   became garbage: another node may have opened the object before it was replaced or deleted and still be
 *   streaming it by ranged reads, which a local "being read" count cannot see. The default, an hour, covers reading
 *   the largest object (5 GiB) at 1.5 MB/s; a reader slower than that fails mid-body (its connection is cut), as a
 *   ranged read of a collected pack does.
 * - Whatever a crash leaves is swept: bytes of a receive whose commit never happened, of garbage claimed and not
 *   yet deleted, unfinished multipart uploads. The sweep (at start, then every SWEEP_EVERY_MS) lists the bucket
 *   first, then reads every referenced blob in one snapshot, and removes what no row names (no age needed: see
 *   BucketBlobs.sweep). Pending rows a crash left expire and are collected as garbage.
 */
import type { ArtifactBlobs, ReceivedBlob } from '../blobs.ts';
import type { BodyExpectations } from '../artifactStore.ts';
import type { ArtifactDb } from '../../store/artifacts/artifactTables.ts';
import type { ArtifactTx } from '../../store/artifacts/artifactIndex.ts';
import { claimGarbage, everyReferencedBlob, garbageBefore, insertPending, renewPending, takePending } from '../../store/artifacts/sharedBlobIndex.ts';
import type { ArtifactStoreLog } from './localArtifactStore.ts';
import { Repeating } from '../../lib/repeating.ts';

/** How long garbage stays in a shared bucket by default (FERRY_ARTIFACT_GRACE_SECONDS overrides it: src/main.ts). */
export const DEFAULT_SHARED_GRACE_MS = 60 * 60_000;
/** A pending blob's row stays out of collection this long after the receiver last pushed it on. */
export const PENDING_LEASE_MS = 10 * 60_000;
const RENEW_EVERY_MS = 2 * 60_000;
/** Leftovers are only a cost: hourly is enough. */
export const SWEEP_EVERY_MS = 60 * 60_000;
/** Rows a collection pass claims at most (the rest: the next pass). */
const CLAIM_BATCH = 500;

export interface SharedArtifactBlobs extends ArtifactBlobs {
  sweep(referenced: () => Promise<Set<string>>): Promise<{ deleted: number; aborted: number }>;
}

export class BlobCommitLost extends Error {
  constructor(blobId: string) {
    super(`artifact blob ${blobId} was collected before its commit (its receive outlived the pending lease); send the request again`);
    this.name = 'BlobCommitLost';
  }
}

export class SharedBlobs {
  readonly graceMs: number;
  readonly #db: ArtifactDb;
  readonly #blobs: SharedArtifactBlobs;
  readonly #now: () => number;
  readonly #log: ArtifactStoreLog;
  #collectTimer: NodeJS.Timeout | undefined;
  #sweeps: Repeating | undefined;

  constructor(db: ArtifactDb, blobs: SharedArtifactBlobs, now: () => number, graceMs: number, log: ArtifactStoreLog) {
    if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error(`the artifact garbage grace period must be ≥ 0 ms, not ${graceMs}`);
    this.#db = db;
    this.#blobs = blobs;
    this.#now = now;
    this.graceMs = graceMs;
    this.#log = log;
  }

  /** Receives a body as a new pending blob (see the module comment). */
  async receive(body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob> {
    const id = this.#blobs.newId();
    await insertPending(this.#db, id, this.#now() + PENDING_LEASE_MS);
    const renewal = setInterval(() => {
      renewPending(this.#db, id, this.#now() + PENDING_LEASE_MS).catch((thrown: unknown) => this.#log.warn({ err: thrown, blobId: id }, 'could not renew a pending artifact blob'));
    }, RENEW_EVERY_MS).unref();
    try {
      return await this.#blobs.receive(id, body, expect);
    } catch (thrown) {
      // Nothing of it is readable (receive leaves nothing behind): the row can go now rather than expire.
      await takePending(this.#db, id).catch(() => {});
      throw thrown;
    } finally {
      clearInterval(renewal);
    }
  }

  /** In the transaction that first refers to the blob: its pending row goes, or the transaction fails. */
  async takeInCommit(trx: ArtifactTx, blobId: string): Promise<void> {
    if (!(await takePending(trx, blobId))) throw new BlobCommitLost(blobId);
  }

  /** A received blob whose commit failed: its bytes, then its row (either may already be gone). */
  async discard(blobId: string): Promise<void> {
    await this.#blobs.discard(blobId);
    await takePending(this.#db, blobId);
  }

  /**
   * Deletes the garbage whose grace has passed, except what this process is reading: claims the rows, then deletes
   * the bytes (a crash in between leaves bytes no row names, for the sweep; so does a read that began between the
   * claim and the delete, which would have to have read its row a whole grace period earlier). `more`: call again.
   */
  async collect(): Promise<{ removed: number; more: boolean }> {
    const cutoff = this.#now() - this.graceMs;
    const due = await garbageBefore(this.#db, cutoff, CLAIM_BATCH);
    const free = due.filter((id) => !this.#blobs.reading(id));
    const claimed = await claimGarbage(this.#db, free, cutoff);
    await this.#blobs.removeUnlessReading(claimed);
    return { removed: claimed.length, more: due.length === CLAIM_BATCH || free.length < due.length };
  }

  /** Collection every half grace (between 1 s and 5 min), the sweep now and every SWEEP_EVERY_MS. */
  start(collect: () => void, sweepEveryMs = SWEEP_EVERY_MS): void {
    const collectEvery = Math.min(Math.max(this.graceMs / 2, 1000), 5 * 60_000);
    this.#collectTimer = setInterval(collect, collectEvery).unref();
    this.#sweeps = new Repeating(() => this.sweep(), sweepEveryMs, (thrown) => this.#log.warn({ err: thrown }, 'sweeping artifact blobs failed; tried again later'));
    this.#sweeps.start({ now: true });
  }

  async sweep(): Promise<void> {
    const report = await this.#blobs.sweep(() => everyReferencedBlob(this.#db));
    if (report.deleted > 0 || report.aborted > 0) this.#log.info({ ...report, location: this.#blobs.location }, 'swept artifact blobs no row refers to');
  }

  async stop(): Promise<void> {
    clearInterval(this.#collectTimer);
    await this.#sweeps?.stop();
  }
}
