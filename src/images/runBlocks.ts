/**
 * An unfinished run's committed blocks (`image_run_blocks`, src/store/images/runBlocks.ts): recording them under the
 * run's checks, reading them back as ranges, and dropping them page by page once the run is over.
 */
import { BlockRangeSet } from '../lib/blockRangeSet.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { ImageStoreError } from './errors.ts';
import { KnownBlocks } from './knownBlocks.ts';
import type { ImageDb } from './db.ts';
import { deleteRunBlocksPage, runBlockPages, type RunBlockRow, touchBlocks, touchWritingRun, upsertRunBlocks } from '../store/images/index.ts';

/**
 * Commits which block each block index holds (storage id; undefined = zero), checking that the run is still being
 * written and that every referenced block is in the store under the run's key. `wanted`: the distinct storage ids.
 * `known`: block ids this run already has from statements that stamped them since it began (its dedup answers and
 * its own indexed blocks, see imageStore.ts); only the others are looked up. Used ones leave `known`.
 */
export async function commitRunRecords(
  db: ImageDb,
  run: { runId: string; runSeq: number; keyId: number; known?: KnownBlocks },
  diskIndex: number,
  byIndex: ReadonlyMap<number, Buffer | undefined>,
  wanted: readonly Buffer[],
  now: number,
): Promise<void> {
  // Unsynced (see unsyncedTransaction): a record lost to a power loss only makes a resumed run read the block
  // again. finishImage's commit is synced, and it makes every record before it durable.
  await unsyncedTransaction(db, async (trx) => {
    if (!(await touchWritingRun(trx, run.runSeq, now))) throw new ImageStoreError('Conflict', `Run ${run.runId} is no longer being written.`);
    const known = run.known ?? new KnownBlocks();
    const found = await touchBlocks(
      trx,
      wanted.filter((id) => known.get(id.toString('hex')) === undefined),
    );
    const rows: RunBlockRow[] = [];
    for (const [blockIndex, storageId] of byIndex) {
      if (storageId === undefined) {
        rows.push({ blockIndex, blockId: 0 });
        continue;
      }
      const hex = storageId.toString('hex');
      const knownId = known.get(hex);
      const block = knownId === undefined ? found.get(hex) : { blockId: knownId, keyId: run.keyId };
      if (!block) {
        throw new ImageStoreError('MissingBlock', `Disk ${diskIndex} block ${blockIndex}: its block is not in the store (put it before recording it).`);
      }
      if (block.keyId !== run.keyId) throw new ImageStoreError('Conflict', `Disk ${diskIndex} block ${blockIndex}: the block is stored under another key.`);
      rows.push({ blockIndex, blockId: block.blockId });
    }
    await upsertRunBlocks(trx, run.runSeq, diskIndex, rows);
  });
  for (const id of wanted) run.known?.forget(id.toString('hex'));
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
    const more = await unsyncedTransaction(db, (trx) => deleteRunBlocksPage(trx, runSeq));
    if (!more) return;
  }
}
