/** Opens the state store: SQLite in the data dir (the embedded default), migrated to the latest schema. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';
import { NodeSqliteDatabase } from './nodeSqlite.ts';
import { migrate } from './migrations/index.ts';
import type { Database } from './schema.ts';

/**
 * SQLite's default `BEGIN` is deferred: a transaction that reads, then writes, can fail with SQLITE_BUSY when
 * another process (the `ferry` admin CLI) wrote in between. `BEGIN IMMEDIATE` takes the write lock up front,
 * so busy_timeout applies and the transaction waits instead of failing.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: NodeSqliteDatabase;
  constructor(database: NodeSqliteDatabase) {
    super({ database });
    this.#database = database;
  }
  override createDriver(): SqliteDriver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

export interface Store {
  db: Kysely<Database>;
  close(): Promise<void>;
}

export async function openSqliteStore(dataDir: string, now: number): Promise<Store> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const database = new NodeSqliteDatabase(join(dataDir, 'ferry.db'));
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(database) });
  await migrate(db, now);
  return {
    db,
    close: () => db.destroy(),
  };
}
