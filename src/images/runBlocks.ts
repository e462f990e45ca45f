/**
 * SQL over `image_run_blocks`: the blocks an unfinished run has committed, one row per block index. Reads go by
 * block-index ranges, so no query ever loads a whole disk.
 */
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { SQL_BATCH } from './constants.ts';
import { batches, type ImageDb } from './db.ts';
import { BitSet } from './bitSet.ts';
import type { CommittedBlocks } from './types.ts';

/** Rows per range query: 64 Ki block indexes = 32 GiB of disk. */
export const RANGE = 65536;

export async function upsertRunBlocks(db: ImageDb, runSeq: number, diskIndex: number, rows: readonly { blockIndex: number; blockId: number }[]): Promise<void> {
  for (const batch of batches(rows, SQL_BATCH)) {
    await db
      .insertInto('image_run_blocks')
      .values(batch.map((r) => ({ run_seq: runSeq, disk_index: diskIndex, block_index: r.blockIndex, block_id: r.blockId })))
      .onConflict((oc) => oc.columns(['run_seq', 'disk_index', 'block_index']).doUpdateSet((eb) => ({ block_id: eb.ref('excluded.block_id') })))
      .execute();
  }
}

/** Committed block indexes in [start, end), ordered, with their block ids (0 = zero). */
export async function runBlocksInRange(
  db: ImageDb,
  runSeq: number,
  diskIndex: number,
  start: number,
  end: number,
): Promise<{ block_index: number; block_id: number }[]> {
  return db
    .selectFrom('image_run_blocks')
    .select(['block_index', 'block_id'])
    .where('run_seq', '=', runSeq)
    .where('disk_index', '=', diskIndex)
    .where('block_index', '>=', start)
    .where('block_index', '<', end)
    .orderBy('block_index')
    .execute();
}

export async function committedBlocks(db: ImageDb, runSeq: number, diskIndex: number, blockCount: number): Promise<CommittedBlocks> {
  const bits = new BitSet(blockCount);
  for (let start = 0; start < blockCount; start += RANGE) {
    for (const row of await runBlocksInRange(db, runSeq, diskIndex, start, start + RANGE)) bits.add(Number(row.block_index));
  }
  return { blockCount, count: bits.count, has: (i) => bits.has(i) };
}

/** Drops a run's rows a range at a time, so no single transaction grows with the disk. */
export async function deleteRunBlocks(db: ImageDb, runSeq: number, disks: readonly { index: number; blockCount: number }[]): Promise<void> {
  // Unsynced: leftovers of a finished or abandoned run are collected again by the garbage collector.
  await unsyncedTransaction(db, async (trx) => {
    for (const disk of disks) {
      for (let start = 0; start < disk.blockCount; start += RANGE) {
        await trx
          .deleteFrom('image_run_blocks')
          .where('run_seq', '=', runSeq)
          .where('disk_index', '=', disk.index)
          .where('block_index', '>=', start)
          .where('block_index', '<', start + RANGE)
          .execute();
      }
    }
    // Anything outside the declared disks (there should be none).
    await trx.deleteFrom('image_run_blocks').where('run_seq', '=', runSeq).execute();
  });
}
