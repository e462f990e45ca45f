/** What a connector reported about each disk of a run (JSON per disk index; the image builder reads it back). */
import type { Executor } from '../executor.ts';

export async function diskMetaOf(db: Executor, replicationRunId: string): Promise<Map<number, Record<string, unknown>>> {
  const rows = await db.selectFrom('run_disk_meta').selectAll().where('replication_run_id', '=', replicationRunId).execute();
  return new Map(rows.map((r) => [r.disk_index, JSON.parse(r.meta) as Record<string, unknown>]));
}

/** Records (or replaces) one disk's metadata. */
export async function saveDiskMeta(db: Executor, replicationRunId: string, diskIndex: number, meta: Record<string, unknown>): Promise<void> {
  const json = JSON.stringify(meta);
  await db
    .insertInto('run_disk_meta')
    .values({ replication_run_id: replicationRunId, disk_index: diskIndex, meta: json })
    .onConflict((oc) => oc.columns(['replication_run_id', 'disk_index']).doUpdateSet({ meta: json }))
    .execute();
}
