/** SQL for finished images: rows → the public summaries, and the lookups reads and exports start from. */
import type { ImageDb } from './db.ts';
import type { ImageSummary, Tenant } from './types.ts';
import type { ImagesTable, ImageSnapshotsTable } from './schema.ts';

export type ImageRow = ImagesTable;
export type SnapshotRow = ImageSnapshotsTable;

export async function availableImage(db: ImageDb, amiId: string): Promise<ImageRow | undefined> {
  return db.selectFrom('images').selectAll().where('ami_id', '=', amiId).where('state', '=', 'available').executeTakeFirst();
}

export async function snapshotsOf(db: ImageDb, amiIds: readonly string[]): Promise<Map<string, SnapshotRow[]>> {
  const byAmi = new Map<string, SnapshotRow[]>();
  if (amiIds.length === 0) return byAmi;
  const rows = await db.selectFrom('image_snapshots').selectAll().where('ami_id', 'in', amiIds).orderBy('disk_index').execute();
  for (const row of rows) {
    const list = byAmi.get(row.ami_id) ?? [];
    list.push(row);
    byAmi.set(row.ami_id, list);
  }
  return byAmi;
}

export async function availableImages(db: ImageDb, tenant?: Tenant): Promise<ImageRow[]> {
  let query = db.selectFrom('images').selectAll().where('state', '=', 'available');
  if (tenant) query = query.where('account_id', '=', tenant.accountId).where('region', '=', tenant.region);
  return query.orderBy('created_at').orderBy('ami_id').execute();
}

export function toSummary(row: ImageRow, snapshots: readonly SnapshotRow[], keyRef: string): ImageSummary {
  return {
    amiId: row.ami_id,
    tenant: { accountId: row.account_id, region: row.region },
    replicationJobId: row.replication_job_id,
    runId: row.run_id,
    parentAmiId: row.parent_ami_id,
    createdAt: Number(row.created_at),
    encrypted: row.encrypted === 1,
    keyRef,
    disks: snapshots.map((s) => ({
      index: Number(s.disk_index),
      snapshotId: s.snapshot_id,
      sizeBytes: Number(s.size_bytes),
      blockCount: Number(s.block_count),
      dataBlocks: Number(s.data_blocks),
    })),
    logicalBytes: Number(row.logical_bytes),
    dataBlocks: Number(row.data_blocks),
    distinctBlocks: Number(row.distinct_blocks),
    newBlocks: Number(row.new_blocks),
    newBytes: Number(row.new_bytes),
  };
}
