/**
 * The unit of work: one transaction, with a durability setting.
 *
 * - `strict` (the default): the caller resumes only once the commit is durable. On SQLite that is the group commit
 *   (sqlite/walSync.ts): one fdatasync of the WAL for every transaction ready at that moment. Everything
 *   acknowledged to a client is strict.
 * - `relaxed`: the caller resumes as soon as the commit is in the WAL (the page cache). A killed process loses
 *   nothing; a power loss may take back the relaxed commits made since the last strict one, never a strict one and
 *   never part of one, because the WAL is replayed in order. For facts that are simply reported again when lost (a
 *   run's progress, a heartbeat, the data plane's block bookkeeping for packs that are already synced).
 *   PostgreSQL's equivalent is `SET LOCAL synchronous_commit = off`: the commit returns before its WAL
 *   record is flushed, and a crash of the server (not only a power loss) may take back the last relaxed commits.
 *
 * The store registers how a Kysely instance relaxes its next commit; an instance it does not know gets strict
 * transactions only, which is always safe. It may also register a batcher for strict units (SQLite's: units that
 * arrive together share one transaction and one COMMIT, each in its own savepoint; batchedCommits.ts). PostgreSQL
 * registers none: its pool runs concurrent transactions side by side and the server already groups their WAL
 * flushes, so funnelling them through one connection would only serialise them.
 */
import type { Kysely, Transaction } from 'kysely';
import type { BatchedCommits, BatchStats } from './batchedCommits.ts';

export type Durability = 'strict' | 'relaxed';

/**
 * db → how it relaxes a unit of work. SQLite marks the transaction about to run on the connection its caller holds
 * (the group commit then skips waiting for the sync); PostgreSQL runs a statement at the start of the transaction.
 */
type Relaxer = { markHolder: () => void } | { atBegin: (trx: Transaction<any>) => Promise<void> };
const relaxers = new WeakMap<object, Relaxer>();

export function registerRelaxedCommits(db: Kysely<any>, relaxCurrentHolder: () => void): void {
  relaxers.set(db, { markHolder: relaxCurrentHolder });
}

/** For a store whose relaxed commit is a setting made inside the transaction (PostgreSQL's synchronous_commit). */
export function registerRelaxedTransactions(db: Kysely<any>, atBegin: (trx: Transaction<any>) => Promise<void>): void {
  relaxers.set(db, { atBegin });
}

const batchers = new WeakMap<object, BatchedCommits<any>>();

/** Strict units of work on `db` go through `batcher` from now on. */
export function registerBatchedCommits(db: Kysely<any>, batcher: BatchedCommits<any>): void {
  batchers.set(db, batcher);
}

/** How strict units of work on `db` have been batched so far; undefined where they are not (PostgreSQL). */
export function commitBatchStats(db: Kysely<any>): BatchStats | undefined {
  const stats = batchers.get(db)?.stats;
  return stats ? { ...stats } : undefined;
}

export function inUnitOfWork<DB, T>(db: Kysely<DB>, durability: Durability, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  if (durability === 'strict') {
    const batcher = batchers.get(db) as BatchedCommits<DB> | undefined;
    return batcher ? batcher.run(work) : db.transaction().execute(work);
  }
  const relaxer = relaxers.get(db);
  if (!relaxer) return db.transaction().execute(work);
  if ('atBegin' in relaxer) {
    return db.transaction().execute(async (trx) => {
      await relaxer.atBegin(trx);
      return work(trx);
    });
  }
  // Holding the connection for the whole transaction, so the relaxed mark applies to this commit and no other.
  return db.connection().execute((connection) => {
    relaxer.markHolder();
    return connection.transaction().execute(work);
  });
}
