/**
 * A run's image from begin to finish: its checks, the run row (created once, idempotently, with the generation and
 * block watermark the collector protects it by) and the commit that makes the finished image visible — run state,
 * image row and snapshot rows in one transaction, with the manifests already durable on disk. The SQL is the image
 * index's (src/store/images).
 */
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { advanceGeneration, availableImage, finishWritingRun, highestBlockId, type IndexedRun, insertImage, insertRunUnlessExists } from '../store/images/index.ts';
import { MAX_DISK_BYTES } from './constants.ts';
import { blockCount } from '../domain/blocks.ts';
import type { ImageDb } from './db.ts';
import { ImageStoreError } from './errors.ts';
import { newAmiId, newSnapshotId } from './imageIds.ts';
import type { ManifestSummary } from './manifest.ts';
import type { BeginImageOptions, Compression, ImageMode, RunDisk } from './types.ts';

export function validateBegin(runId: string, options: BeginImageOptions, mode: string): void {
  if (typeof runId !== 'string' || runId.length === 0) throw new ImageStoreError('InvalidArgument', 'A run id is required.');
  if (mode !== 'full' && mode !== 'incremental') throw new ImageStoreError('InvalidArgument', `Unknown mode ${mode}.`);
  if (mode === 'incremental' && options.parentAmiId === undefined) throw new ImageStoreError('InvalidArgument', 'An incremental image needs a parent image.');
  if (options.compression !== undefined && options.compression !== 'zstd' && options.compression !== 'none') {
    throw new ImageStoreError('InvalidArgument', `Unknown compression ${options.compression}.`);
  }
  if (options.disks.length === 0) throw new ImageStoreError('InvalidArgument', 'An image needs at least one disk.');
  const seen = new Set<number>();
  for (const disk of options.disks) {
    if (!Number.isInteger(disk.index) || disk.index < 0 || seen.has(disk.index)) throw new ImageStoreError('InvalidArgument', `Bad or repeated disk index ${disk.index}.`);
    if (!Number.isSafeInteger(disk.sizeBytes) || disk.sizeBytes <= 0) throw new ImageStoreError('InvalidArgument', `Disk ${disk.index} has a bad size ${disk.sizeBytes}.`);
    if (disk.sizeBytes > MAX_DISK_BYTES) {
      throw new ImageStoreError('InvalidArgument', `Disk ${disk.index} is ${disk.sizeBytes} bytes; an image holds disks of at most ${MAX_DISK_BYTES} bytes (64 TiB).`);
    }
    seen.add(disk.index);
  }
}

/** Whether a resumed beginImage describes the run that was begun. */
export function sameRun(run: IndexedRun, options: BeginImageOptions, mode: ImageMode, keyId: number): boolean {
  return (
    run.tenant.accountId === options.tenant.accountId &&
    run.tenant.region === options.tenant.region &&
    run.replicationJobId === options.replicationJobId &&
    run.keyId === keyId &&
    run.mode === mode &&
    (run.parentAmiId ?? undefined) === options.parentAmiId &&
    run.disks.length === options.disks.length &&
    options.disks.every((d) => run.disks.some((r) => r.index === d.index && r.sizeBytes === d.sizeBytes))
  );
}

/**
 * Creates the run row unless it exists (a concurrent begin of the same run wins harmlessly). The parent must be
 * available, the tenant's, and for an incremental image sealed under the same key.
 */
export async function insertRun(
  db: ImageDb,
  runId: string,
  options: BeginImageOptions & { mode: ImageMode; compression: Compression },
  keyId: number,
  now: number,
): Promise<void> {
  const disks: RunDisk[] = [...options.disks]
    .sort((a, b) => a.index - b.index)
    .map((d) => ({ index: d.index, sizeBytes: d.sizeBytes, blockCount: blockCount(d.sizeBytes), snapshotId: newSnapshotId() }));
  // Unsynced: a run whose beginning a power loss takes back simply begins again; finishImage's commit is synced.
  await unsyncedTransaction(db, async (trx) => {
    if (options.parentAmiId !== undefined) {
      const parent = await availableImage(trx, options.parentAmiId);
      const visible = parent && parent.tenant.accountId === options.tenant.accountId && parent.tenant.region === options.tenant.region;
      if (!parent || !visible) throw new ImageStoreError('NotFound', `Parent image ${options.parentAmiId} does not exist.`);
      if (options.mode === 'incremental' && parent.keyId !== keyId) {
        throw new ImageStoreError('InvalidArgument', `Parent image ${options.parentAmiId} is sealed under another key; an incremental image must use the same key (run a full one).`);
      }
    }
    const blockWatermark = await highestBlockId(trx);
    const beginGeneration = await advanceGeneration(trx);
    await insertRunUnlessExists(trx, {
      runId,
      tenant: options.tenant,
      replicationJobId: options.replicationJobId,
      parentAmiId: options.parentAmiId ?? null,
      mode: options.mode,
      keyId,
      compression: options.compression,
      amiId: newAmiId(),
      disks,
      blockWatermark,
      beginGeneration,
      now,
    });
  });
}

export interface CommitImage {
  encrypted: boolean;
  distinctBlocks: number;
  snapshots: { disk: RunDisk; summary: ManifestSummary }[];
  now: number;
}

/** Makes the image visible: run finished, image and snapshot rows, all or nothing. */
export async function commitImage(db: ImageDb, run: IndexedRun, image: CommitImage): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const finished = await finishWritingRun(trx, run.runSeq, image.now);
    if (!finished) throw new ImageStoreError('Conflict', `Run ${run.runId} is no longer being written.`);
    const disks = image.snapshots.map((s) => s.disk);
    await insertImage(
      trx,
      {
        amiId: run.amiId,
        tenant: run.tenant,
        replicationJobId: run.replicationJobId,
        runId: run.runId,
        parentAmiId: run.parentAmiId,
        keyId: run.keyId,
        encrypted: image.encrypted,
        createdAt: image.now,
        logicalBytes: disks.reduce((sum, d) => sum + d.sizeBytes, 0),
        dataBlocks: image.snapshots.reduce((sum, s) => sum + s.summary.dataBlocks, 0),
        distinctBlocks: image.distinctBlocks,
        newBlocks: finished.newBlocks,
        newBytes: finished.newBytes,
      },
      image.snapshots.map(({ disk, summary }) => ({
        snapshotId: disk.snapshotId,
        amiId: run.amiId,
        diskIndex: disk.index,
        sizeBytes: disk.sizeBytes,
        blockCount: disk.blockCount,
        dataBlocks: summary.dataBlocks,
        manifestSha256: summary.sha256,
      })),
    );
  });
}
