/**
 * SQL over `image_run_blocks`: the blocks an unfinished run has committed, one row per recorded block index. Every
 * pass goes page by page along the primary key (run, disk, block index), so its work follows the rows a run
 * recorded, never the size of the disk, and no single statement loads or deletes a whole run.
 */
import { BlockRangeSet } from '../lib/blockRangeSet.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { touchBlocks } from './blockIndex.ts';
import { SQL_BATCH } from './constants.ts';
import { ImageStoreError } from './errors.ts';
import { batches, type ImageDb } from './db.ts';

/** Rows per page. */
export const RUN_BLOCKS_PAGE = 8192;

export interface RunBlockRow {
  blockIndex: number;
  /** 0: the block is zero. */
  blockId: number;
}

export async function upsertRunBlocks(db: ImageDb, runSeq: number, diskIndex: number, rows: readonly RunBlockRow[]): Promise<void> {
  for (const batch of batches(rows, SQL_BATCH)) {
    await db
      .insertInto('image_run_blocks')
      .values(batch.map((r) => ({ run_seq: runSeq, disk_index: diskIndex, block_index: r.blockIndex, block_id: r.blockId })))
      .onConflict((oc) => oc.columns(['run_seq', 'disk_index', 'block_index']).doUpdateSet((eb) => ({ block_id: eb.ref('excluded.block_id') })))
      .execute();
  }
}

/**
 * Commits which block each block index holds (storage id; undefined = zero), checking that the run is still being
 * written and that every referenced block is in the store under the run's key. `wanted`: the distinct storage ids.
 */
export async function commitRunRecords(
  db: ImageDb,
  run: { runId: string; runSeq: number; keyId: number },
  diskIndex: number,
  byIndex: ReadonlyMap<number, Buffer | undefined>,
  wanted: readonly Buffer[],
  now: number,
): Promise<void> {
  // Unsynced (see unsyncedTransaction): a record lost to a power loss only makes a resumed run read the block
  // again. finishImage's commit is synced, and it makes every record before it durable.
  await unsyncedTransaction(db, async (trx) => {
    const live = await trx.updateTable('image_runs').set({ updated_at: now }).where('run_seq', '=', run.runSeq).where('state', '=', 'writing').executeTakeFirst();
    if (Number(live.numUpdatedRows) !== 1) throw new ImageStoreError('Conflict', `Run ${run.runId} is no longer being written.`);
    const found = await touchBlocks(trx, wanted);
    const rows: RunBlockRow[] = [];
    for (const [blockIndex, storageId] of byIndex) {
      if (storageId === undefined) {
        rows.push({ blockIndex, blockId: 0 });
        continue;
      }
      const block = found.get(storageId.toString('hex'));
      if (!block) {
        throw new ImageStoreError('MissingBlock', `Disk ${diskIndex} block ${blockIndex}: its block is not in the store (put it before recording it).`);
      }
      if (block.keyId !== run.keyId) throw new ImageStoreError('Conflict', `Disk ${diskIndex} block ${blockIndex}: the block is stored under another key.`);
      rows.push({ blockIndex, blockId: block.blockId });
    }
    await upsertRunBlocks(trx, run.runSeq, diskIndex, rows);
  });
}

/** A disk's committed rows in block order, a page at a time. */
export async function* runBlockPages(db: ImageDb, runSeq: number, diskIndex: number, pageSize = RUN_BLOCKS_PAGE): AsyncGenerator<RunBlockRow[]> {
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

/** The block indexes of a disk the run has committed, as ranges. */
export async function committedBlocks(db: ImageDb, runSeq: number, diskIndex: number): Promise<BlockRangeSet> {
  const set = new BlockRangeSet();
  for await (const page of runBlockPages(db, runSeq, diskIndex)) for (const row of page) set.append(row.blockIndex);
  return set;
}

/**
 * Drops a run's rows a page at a time, each page its own short transaction, so a large run never holds the
 * database for long. Unsynced: rows of a finished or abandoned run left by a crash are dropped again by the
 * garbage collector.
 */
export async function deleteRunBlocks(db: ImageDb, runSeq: number): Promise<void> {
  for (;;) {
    const more = await unsyncedTransaction(db, async (trx) => {
      const last = await trx
        .selectFrom('image_run_blocks')
        .select(['disk_index', 'block_index'])
        .where('run_seq', '=', runSeq)
        .orderBy('disk_index')
        .orderBy('block_index')
        .offset(RUN_BLOCKS_PAGE - 1)
        .limit(1)
        .executeTakeFirst();
      let query = trx.deleteFrom('image_run_blocks').where('run_seq', '=', runSeq);
      if (last) {
        query = query.where((eb) =>
          eb.or([eb('disk_index', '<', last.disk_index), eb.and([eb('disk_index', '=', last.disk_index), eb('block_index', '<=', last.block_index)])]),
        );
      }
      await query.execute();
      return last !== undefined;
    });
    if (!more) return;
  }
}
