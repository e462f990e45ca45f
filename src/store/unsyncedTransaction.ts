/**
 * A transaction whose commit does not wait for an fsync. In WAL mode with `synchronous = NORMAL` the commit is in
 * the WAL (the OS page cache) when this returns: a killed process loses nothing, and the next synced commit makes
 * it power-loss durable too, because the WAL is replayed in order. Only a power loss before that next synced commit
 * can take it back, and then with everything after it.
 *
 * For the data plane's bookkeeping during a run (block index rows for packs that are already fdatasynced, the
 * block indexes a run has recorded, dedup touches): losing them means a resumed run reads those blocks again, never
 * a wrong image. Each such commit was an fsync on the service's main thread, hundreds per run, each waiting
 * behind the run's own pack writeback. Anything acknowledged to a client keeps its synced commit.
 *
 * (PostgreSQL's equivalent is `SET LOCAL synchronous_commit = off`.)
 */
import { sql, type Kysely, type Transaction } from 'kysely';

const levelCache = new WeakMap<object, number>();

export function unsyncedTransaction<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  // One connection for the pragma, the transaction and the restore, so nothing else commits in between.
  return db.connection().execute(async (connection) => {
    let level = levelCache.get(db);
    if (level === undefined) {
      const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(connection);
      level = Number(rows[0]?.synchronous ?? 2);
      levelCache.set(db, level);
    }
    if (level <= 1) return connection.transaction().execute(work);
    await sql`PRAGMA synchronous = NORMAL`.execute(connection);
    try {
      return await connection.transaction().execute(work);
    } finally {
      await sql.raw(`PRAGMA synchronous = ${level}`).execute(connection);
    }
  });
}
