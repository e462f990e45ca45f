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
 * transactions only, which is always safe.
 */
import type { Kysely, Transaction } from 'kysely';

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

export function inUnitOfWork<DB, T>(db: Kysely<DB>, durability: Durability, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const relaxer = durability === 'relaxed' ? relaxers.get(db) : undefined;
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
