/**
 * A transaction with relaxed durability (store/unitOfWork.ts): its commit does not wait for the disk. Kept under
 * this name for the data plane's bookkeeping during a run (src/images), where each commit was an fsync on the
 * service's main thread, hundreds per run: block index rows for packs that are already fdatasynced, the blocks a
 * run has recorded, dedup touches. Losing them to a power loss means a resumed run reads those blocks again, never a
 * wrong image.
 */
import type { Kysely, Transaction } from 'kysely';
import { inUnitOfWork } from './unitOfWork.ts';

export function unsyncedTransaction<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  return inUnitOfWork(db, 'relaxed', work);
}
