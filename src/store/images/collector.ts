/**
 * What the image garbage collector reads and deletes (src/images/garbageCollector.ts holds the rules): its lease on
 * `image_store_state`, the references to mark (blocks of unfinished runs, manifests of images still referenced),
 * the block pages to sweep, and the deleted images to purge.
 */
import type { ImageIndexDb } from './indexDb.ts';
import type { IndexedRunDisk } from './imageRuns.ts';

/** Takes the collector lease (free or expired) and bumps the generation in one statement; undefined: held by another. */
export async function acquireCollectorLease(db: ImageIndexDb, owner: string, now: number, leaseMs: number): Promise<number | undefined> {
  const row = await db
    .updateTable('image_store_state')
    .set((eb) => ({ gc_generation: eb('gc_generation', '+', 1), gc_owner: owner, gc_lease_until: now + leaseMs }))
    .where('id', '=', 1)
    .where((eb) => eb.or([eb('gc_owner', 'is', null), eb('gc_lease_until', '<', now)]))
    .returning('gc_generation')
    .executeTakeFirst();
  return row && Number(row.gc_generation);
}

/** Extends the lease `owner` holds; false when it holds it no more. */
export async function renewCollectorLease(db: ImageIndexDb, owner: string, until: number): Promise<boolean> {
  const result = await db.updateTable('image_store_state').set({ gc_lease_until: until }).where('id', '=', 1).where('gc_owner', '=', owner).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function releaseCollectorLease(db: ImageIndexDb, owner: string): Promise<void> {
  await db.updateTable('image_store_state').set({ gc_owner: null, gc_lease_until: null }).where('id', '=', 1).where('gc_owner', '=', owner).execute();
}

export interface WritingRun {
  runSeq: number;
  disks: IndexedRunDisk[];
  /** Blocks with a higher id may belong to this run. */
  blockWatermark: number;
  /** Blocks stamped this generation or later may have been promised to this run. */
  beginGeneration: number;
}

export async function writingRuns(db: ImageIndexDb): Promise<WritingRun[]> {
  const rows = await db.selectFrom('image_runs').select(['run_seq', 'disks', 'block_watermark', 'begin_generation']).where('state', '=', 'writing').execute();
  return rows.map((r) => ({ runSeq: Number(r.run_seq), disks: JSON.parse(r.disks) as IndexedRunDisk[], blockWatermark: Number(r.block_watermark), beginGeneration: Number(r.begin_generation) }));
}

/** The snapshots of every image that is, or may still become through an unfinished run, referenced. */
export async function referencedSnapshots(db: ImageIndexDb): Promise<{ snapshotId: string; manifestSha256: string }[]> {
  const rows = await db
    .selectFrom('image_snapshots')
    .innerJoin('images', 'images.ami_id', 'image_snapshots.ami_id')
    .select(['image_snapshots.snapshot_id', 'image_snapshots.manifest_sha256'])
    .where((eb) =>
      eb.or([
        eb('images.state', '=', 'available'),
        eb('images.ami_id', 'in', eb.selectFrom('image_runs').select('parent_ami_id').where('state', '=', 'writing').where('parent_ami_id', 'is not', null)),
      ]),
    )
    .execute();
  return rows.map((r) => ({ snapshotId: r.snapshot_id, manifestSha256: r.manifest_sha256 }));
}

/** A page of block ids above `after`, in id order, with their generation stamps. */
export async function blockStampsAfter(db: ImageIndexDb, after: number, limit: number): Promise<{ blockId: number; gen: number }[]> {
  const rows = await db.selectFrom('image_blocks').select(['block_id', 'gen']).where('block_id', '>', after).orderBy('block_id').limit(limit).execute();
  return rows.map((r) => ({ blockId: Number(r.block_id), gen: Number(r.gen) }));
}

/**
 * Deletes these blocks unless stamped `stampBelow` or later (the stamp is checked by the delete itself: a reference
 * made since they were read wins). Returns the stored lengths of the blocks deleted.
 */
export async function deleteUnstampedBlocks(db: ImageIndexDb, blockIds: readonly number[], stampBelow: number): Promise<number[]> {
  if (blockIds.length === 0) return [];
  const deleted = await db.deleteFrom('image_blocks').where('block_id', 'in', blockIds).where('gen', '<', stampBelow).returning(['stored_len']).execute();
  return deleted.map((r) => Number(r.stored_len));
}

/**
 * Deletes the rows of deleted images that no unfinished run builds on, with their snapshots (call it inside one
 * transaction). Returns the image ids and the snapshot ids whose manifests may go.
 */
export async function purgeDeletedImages(db: ImageIndexDb): Promise<{ amiIds: string[]; snapshotIds: string[] }> {
  const images = await db
    .selectFrom('images')
    .select('ami_id')
    .where('state', '=', 'deleted')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('image_runs').select('run_seq').where('state', '=', 'writing').whereRef('image_runs.parent_ami_id', '=', 'images.ami_id'))))
    .execute();
  const amiIds = images.map((i) => i.ami_id);
  if (amiIds.length === 0) return { amiIds, snapshotIds: [] };
  const snaps = await db.selectFrom('image_snapshots').select('snapshot_id').where('ami_id', 'in', amiIds).execute();
  await db.deleteFrom('image_snapshots').where('ami_id', 'in', amiIds).execute();
  await db.deleteFrom('images').where('ami_id', 'in', amiIds).execute();
  return { amiIds, snapshotIds: snaps.map((s) => s.snapshot_id) };
}

export async function allSnapshotIds(db: ImageIndexDb): Promise<string[]> {
  return (await db.selectFrom('image_snapshots').select('snapshot_id').execute()).map((s) => s.snapshot_id);
}

/** Runs that are over (finished or abandoned) but still have committed-block rows (a crash left them). */
export async function overRunsWithBlocks(db: ImageIndexDb): Promise<number[]> {
  const rows = await db
    .selectFrom('image_runs')
    .select(['run_seq'])
    .where('state', '!=', 'writing')
    .where((eb) => eb.exists(eb.selectFrom('image_run_blocks').select('block_id').whereRef('image_run_blocks.run_seq', '=', 'image_runs.run_seq')))
    .execute();
  return rows.map((r) => Number(r.run_seq));
}
