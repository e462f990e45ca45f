/**
 * `image_run_blocks`: the blocks an unfinished run has committed, one row per recorded block index. Every pass goes
 * page by page along the primary key (run, disk, block index), so its work follows the rows a run recorded, never
 * the size of the disk, and no single statement loads or deletes a whole run.
 */
import { idBatches, type ImageIndexDb } from './indexDb.ts';

/** Rows per page. */
export const RUN_BLOCKS_PAGE = 8192;

export interface RunBlockRow {
  blockIndex: number;
  /** 0: the block is zero. */
  blockId: number;
}

/** Records which block each of these block indexes holds (a later record of an index replaces the earlier). */
export async function upsertRunBlocks(db: ImageIndexDb, runSeq: number, diskIndex: number, rows: readonly RunBlockRow[]): Promise<void> {
  for (const batch of idBatches(rows)) {
    await db
      .insertInto('image_run_blocks')
      .values(batch.map((r) => ({ run_seq: runSeq, disk_index: diskIndex, block_index: r.blockIndex, block_id: r.blockId })))
      .onConflict((oc) => oc.columns(['run_seq', 'disk_index', 'block_index']).doUpdateSet((eb) => ({ block_id: eb.ref('excluded.block_id') })))
      .execute();
  }
}

/** A disk's committed rows in block order, a page at a time. */
export async function* runBlockPages(db: ImageIndexDb, runSeq: number, diskIndex: number, pageSize = RUN_BLOCKS_PAGE): AsyncGenerator<RunBlockRow[]> {
  let after = -1;
  for (;;) {
    const rows = await db
      .selectFrom('image_run_blocks')
      .select(['block_index', 'block_id'])
      .where('run_seq', '=', runSeq)
      .where('disk_index', '=', diskIndex)
      .where('block_index', '>', after)
      .orderBy('block_index')
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    const page = rows.map((r) => ({ blockIndex: Number(r.block_index), blockId: Number(r.block_id) }));
    after = page.at(-1)!.blockIndex;
    yield page;
    if (rows.length < pageSize) return;
  }
}

/**
 * Deletes the run's first page of rows (in key order; all of them when fewer are left). Returns whether rows may
 * remain. The caller runs each page in its own short transaction, so a large run never holds the database for long.
 */
export async function deleteRunBlocksPage(db: ImageIndexDb, runSeq: number, pageSize = RUN_BLOCKS_PAGE): Promise<boolean> {
  const last = await db
    .selectFrom('image_run_blocks')
    .select(['disk_index', 'block_index'])
    .where('run_seq', '=', runSeq)
    .orderBy('disk_index')
    .orderBy('block_index')
    .offset(pageSize - 1)
    .limit(1)
    .executeTakeFirst();
  let query = db.deleteFrom('image_run_blocks').where('run_seq', '=', runSeq);
  if (last) {
    query = query.where((eb) =>
      eb.or([eb('disk_index', '<', last.disk_index), eb.and([eb('disk_index', '=', last.disk_index), eb('block_index', '<=', last.block_index)])]),
    );
  }
  await query.execute();
  return last !== undefined;
}
