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
 *   (PostgreSQL's equivalent is `SET LOCAL synchronous_commit = off`.)
 *
 * The store registers how a Kysely instance relaxes its next commit; an instance it does not know gets strict
 * transactions only, which is always safe.
 */
import type { Kysely, Transaction } from 'kysely';

export type Durability = 'strict' | 'relaxed';

/** db → marks the transaction about to run on the connection its caller holds as relaxed. */
const relaxers = new WeakMap<object, () => void>();

export function registerRelaxedCommits(db: Kysely<any>, relaxCurrentHolder: () => void): void {
  relaxers.set(db, relaxCurrentHolder);
}

export function inUnitOfWork<DB, T>(db: Kysely<DB>, durability: Durability, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const relax = durability === 'relaxed' ? relaxers.get(db) : undefined;
  if (!relax) return db.transaction().execute(work);
  // Holding the connection for the whole transaction, so the relaxed mark applies to this commit and no other.
  return db.connection().execute((connection) => {
    relax();
    return connection.transaction().execute(work);
  });
}
