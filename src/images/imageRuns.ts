/**
 * SQL for a run's image from begin to finish: the run row (created once, idempotently, with the generation and
 * block watermark the collector protects it by) and the commit that makes the finished image visible — run state,
 * image row and snapshot rows in one transaction, with the manifests already durable on disk.
 */
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import type { Selectable } from 'kysely';
import { advanceGeneration } from './blockIndex.ts';
import { MAX_DISK_BYTES } from './constants.ts';
import { blockCount } from '../domain/blocks.ts';
import type { ImageDb } from './db.ts';
import { ImageStoreError } from './errors.ts';
import { newAmiId, newSnapshotId } from './imageIds.ts';
import type { ManifestSummary } from './manifest.ts';
import type { ImageRunsTable } from './schema.ts';
import type { BeginImageOptions, Compression, ImageMode, RunDisk } from './types.ts';

export type RunRow = Selectable<ImageRunsTable>;

export function runRow(db: ImageDb, runId: string): Promise<RunRow | undefined> {
  return db.selectFrom('image_runs').selectAll().where('run_id', '=', runId).executeTakeFirst();
}

/** The image a run finished (finishImage), if it is still available, and whose it is. */
export async function finishedImageOfRun(db: ImageDb, runId: string): Promise<{ amiId: string; accountId: string; region: string } | undefined> {
  const row = await db
    .selectFrom('image_runs')
    .innerJoin('images', 'images.ami_id', 'image_runs.ami_id')
    .select(['images.ami_id', 'images.account_id', 'images.region'])
    .where('image_runs.run_id', '=', runId)
    .where('image_runs.state', '=', 'finished')
    .where('images.state', '=', 'available')
    .executeTakeFirst();
  return row ? { amiId: row.ami_id, accountId: row.account_id, region: row.region } : undefined;
}

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
export function sameRun(row: RunRow, options: BeginImageOptions, mode: ImageMode, keyId: number): boolean {
  const disks = JSON.parse(row.disks) as RunDisk[];
  return (
    row.account_id === options.tenant.accountId &&
    row.region === options.tenant.region &&
    row.replication_job_id === options.replicationJobId &&
    Number(row.key_id) === keyId &&
    row.mode === mode &&
    (row.parent_ami_id ?? undefined) === options.parentAmiId &&
    disks.length === options.disks.length &&
    options.disks.every((d) => disks.some((r) => r.index === d.index && r.sizeBytes === d.sizeBytes))
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
      const parent = await trx.selectFrom('images').selectAll().where('ami_id', '=', options.parentAmiId).executeTakeFirst();
      const visible = parent?.state === 'available' && parent.account_id === options.tenant.accountId && parent.region === options.tenant.region;
      if (!parent || !visible) throw new ImageStoreError('NotFound', `Parent image ${options.parentAmiId} does not exist.`);
      if (options.mode === 'incremental' && Number(parent.key_id) !== keyId) {
        throw new ImageStoreError('InvalidArgument', `Parent image ${options.parentAmiId} is sealed under another key; an incremental image must use the same key (run a full one).`);
      }
    }
    const top = await trx.selectFrom('image_blocks').select((eb) => eb.fn.max('block_id').as('top')).executeTakeFirst();
    const generation = await advanceGeneration(trx);
    await trx
      .insertInto('image_runs')
      .values({
        run_id: runId,
        account_id: options.tenant.accountId,
        region: options.tenant.region,
        replication_job_id: options.replicationJobId,
        parent_ami_id: options.parentAmiId ?? null,
        mode: options.mode,
        key_id: keyId,
        compression: options.compression,
        state: 'writing',
        ami_id: newAmiId(),
        disks: JSON.stringify(disks),
        block_watermark: Number(top?.top ?? 0),
        begin_generation: generation,
        new_blocks: 0,
        new_bytes: 0,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('run_id').doNothing())
      .execute();
  });
}

export interface CommitImage {
  encrypted: boolean;
  distinctBlocks: number;
  snapshots: { disk: RunDisk; summary: ManifestSummary }[];
  now: number;
}

/** Makes the image visible: run finished, image and snapshot rows, all or nothing. */
export async function commitImage(db: ImageDb, row: RunRow, image: CommitImage): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const finished = await trx
      .updateTable('image_runs')
      .set({ state: 'finished', updated_at: image.now })
      .where('run_seq', '=', row.run_seq)
      .where('state', '=', 'writing')
      .returning(['new_blocks', 'new_bytes'])
      .executeTakeFirst();
    if (!finished) throw new ImageStoreError('Conflict', `Run ${row.run_id} is no longer being written.`);
    const disks = image.snapshots.map((s) => s.disk);
    await trx
      .insertInto('images')
      .values({
        ami_id: row.ami_id,
        account_id: row.account_id,
        region: row.region,
        replication_job_id: row.replication_job_id,
        run_id: row.run_id,
        parent_ami_id: row.parent_ami_id,
        key_id: row.key_id,
        encrypted: image.encrypted ? 1 : 0,
        state: 'available',
        created_at: image.now,
        deleted_at: null,
        logical_bytes: disks.reduce((sum, d) => sum + d.sizeBytes, 0),
        data_blocks: image.snapshots.reduce((sum, s) => sum + s.summary.dataBlocks, 0),
        distinct_blocks: image.distinctBlocks,
        new_blocks: Number(finished.new_blocks),
        new_bytes: Number(finished.new_bytes),
      })
      .execute();
    await trx
      .insertInto('image_snapshots')
      .values(
        image.snapshots.map(({ disk, summary }) => ({
          snapshot_id: disk.snapshotId,
          ami_id: row.ami_id,
          disk_index: disk.index,
          size_bytes: disk.sizeBytes,
          block_count: disk.blockCount,
          data_blocks: summary.dataBlocks,
          manifest_sha256: summary.sha256,
        })),
      )
      .execute();
  });
}
