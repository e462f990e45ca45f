/** The finished images and their snapshots (one per disk): the lookups listing, reads, exports and usage start from. */
import type { Tenant } from '../../domain/tenant.ts';
import type { ImageIndexDb } from './indexDb.ts';
import type { ImagesTable, ImageSnapshotsTable, ImageState } from './schema.ts';

/** An available image as the index holds it (its key as the index's number: the key ring names it). */
export interface IndexedImage {
  amiId: string;
  tenant: Tenant;
  replicationJobId: string;
  runId: string;
  parentAmiId: string | null;
  keyId: number;
  encrypted: boolean;
  createdAt: number;
  logicalBytes: number;
  dataBlocks: number;
  distinctBlocks: number;
  newBlocks: number;
  newBytes: number;
}

export interface IndexedSnapshot {
  snapshotId: string;
  amiId: string;
  diskIndex: number;
  sizeBytes: number;
  blockCount: number;
  dataBlocks: number;
  manifestSha256: string;
}

const toImage = (row: ImagesTable): IndexedImage => ({
  amiId: row.ami_id,
  tenant: { accountId: row.account_id, region: row.region },
  replicationJobId: row.replication_job_id,
  runId: row.run_id,
  parentAmiId: row.parent_ami_id,
  keyId: Number(row.key_id),
  encrypted: Number(row.encrypted) === 1,
  createdAt: Number(row.created_at),
  logicalBytes: Number(row.logical_bytes),
  dataBlocks: Number(row.data_blocks),
  distinctBlocks: Number(row.distinct_blocks),
  newBlocks: Number(row.new_blocks),
  newBytes: Number(row.new_bytes),
});

const toSnapshot = (row: ImageSnapshotsTable): IndexedSnapshot => ({
  snapshotId: row.snapshot_id,
  amiId: row.ami_id,
  diskIndex: Number(row.disk_index),
  sizeBytes: Number(row.size_bytes),
  blockCount: Number(row.block_count),
  dataBlocks: Number(row.data_blocks),
  manifestSha256: row.manifest_sha256,
});

export async function availableImage(db: ImageIndexDb, amiId: string): Promise<IndexedImage | undefined> {
  const row = await db.selectFrom('images').selectAll().where('ami_id', '=', amiId).where('state', '=', 'available').executeTakeFirst();
  return row && toImage(row);
}

/** The available images (of `tenant`, else all), oldest first. */
export async function availableImages(db: ImageIndexDb, tenant?: Tenant): Promise<IndexedImage[]> {
  let query = db.selectFrom('images').selectAll().where('state', '=', 'available');
  if (tenant) query = query.where('account_id', '=', tenant.accountId).where('region', '=', tenant.region);
  return (await query.orderBy('created_at').orderBy('ami_id').execute()).map(toImage);
}

/** The snapshots of these images by image, each list in disk order. */
export async function snapshotsOf(db: ImageIndexDb, amiIds: readonly string[]): Promise<Map<string, IndexedSnapshot[]>> {
  const byAmi = new Map<string, IndexedSnapshot[]>();
  if (amiIds.length === 0) return byAmi;
  const rows = await db.selectFrom('image_snapshots').selectAll().where('ami_id', 'in', amiIds).orderBy('disk_index').execute();
  for (const row of rows) {
    const list = byAmi.get(row.ami_id) ?? [];
    list.push(toSnapshot(row));
    byAmi.set(row.ami_id, list);
  }
  return byAmi;
}

/** The snapshots of `image`'s account's other available images: the ones it may share blocks with. */
export async function snapshotsOfOtherImages(db: ImageIndexDb, image: { amiId: string; accountId: string }): Promise<{ snapshotId: string; manifestSha256: string }[]> {
  const rows = await db
    .selectFrom('image_snapshots')
    .innerJoin('images', 'images.ami_id', 'image_snapshots.ami_id')
    .select(['image_snapshots.snapshot_id', 'image_snapshots.manifest_sha256'])
    .where('images.state', '=', 'available')
    .where('images.account_id', '=', image.accountId)
    .where('images.ami_id', '!=', image.amiId)
    .execute();
  return rows.map((r) => ({ snapshotId: r.snapshot_id, manifestSha256: r.manifest_sha256 }));
}

/** Writes a finished image and its snapshots (the caller's transaction makes them visible with the run's finish). */
export async function insertImage(db: ImageIndexDb, image: IndexedImage, snapshots: readonly IndexedSnapshot[]): Promise<void> {
  await db
    .insertInto('images')
    .values({
      ami_id: image.amiId,
      account_id: image.tenant.accountId,
      region: image.tenant.region,
      replication_job_id: image.replicationJobId,
      run_id: image.runId,
      parent_ami_id: image.parentAmiId,
      key_id: image.keyId,
      encrypted: image.encrypted ? 1 : 0,
      state: 'available',
      created_at: image.createdAt,
      deleted_at: null,
      logical_bytes: image.logicalBytes,
      data_blocks: image.dataBlocks,
      distinct_blocks: image.distinctBlocks,
      new_blocks: image.newBlocks,
      new_bytes: image.newBytes,
    })
    .execute();
  if (snapshots.length === 0) return;
  await db
    .insertInto('image_snapshots')
    .values(
      snapshots.map((s) => ({
        snapshot_id: s.snapshotId,
        ami_id: s.amiId,
        disk_index: s.diskIndex,
        size_bytes: s.sizeBytes,
        block_count: s.blockCount,
        data_blocks: s.dataBlocks,
        manifest_sha256: s.manifestSha256,
      })),
    )
    .execute();
}

/** An image in any state, with whose it is: what a deletion checks before it hides the image. */
export async function imageOwner(db: ImageIndexDb, amiId: string): Promise<{ state: ImageState; tenant: Tenant; replicationJobId: string } | undefined> {
  const row = await db.selectFrom('images').select(['state', 'account_id', 'region', 'replication_job_id']).where('ami_id', '=', amiId).executeTakeFirst();
  return row && { state: row.state, tenant: { accountId: row.account_id, region: row.region }, replicationJobId: row.replication_job_id };
}

/** Hides an available image (its blocks become garbage for the next collection); a deleted one stays as it is. */
export async function markImageDeleted(db: ImageIndexDb, amiId: string, now: number): Promise<void> {
  await db.updateTable('images').set({ state: 'deleted', deleted_at: now }).where('ami_id', '=', amiId).where('state', '=', 'available').execute();
}
