/** Opens the state store: SQLite in the data dir (the embedded default), migrated to the latest schema. */
import { join } from 'node:path';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely';
import { NodeSqliteDatabase } from './nodeSqlite.ts';
import { migrate } from './migrations/index.ts';
import { secureDataDir } from './dataDirPermissions.ts';
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

/**
 * Runs a compiled read-only query and returns its rows. The SQLite store answers synchronously from a second,
 * read-only connection: it sees only committed data (WAL snapshot), never a transaction in progress on the
 * writer, and skips the async driver round trip that dominates a list page.
 */
export type ReadRows = <T>(query: CompiledQuery<T>) => Promise<T[]>;

/** readRows with each row as an array of its column values, in select order (for the hottest page). */
export type ReadArrays = (query: CompiledQuery) => Promise<unknown[][]>;

export interface Store {
  db: Kysely<Database>;
  readRows: ReadRows;
  readArrays: ReadArrays;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Hears what was wrong with the data dir's permissions and has been fixed (default: process.emitWarning). */
  warn?: (message: string) => void;
}

export async function openSqliteStore(dataDir: string, now: number, options: OpenStoreOptions = {}): Promise<Store> {
  secureDataDir(dataDir, options.warn ?? ((message) => process.emitWarning(message)));
  const database = new NodeSqliteDatabase(join(dataDir, 'ferry.db'));
  // Deleted and overwritten content is zeroed where SQLite rewrites the page anyway ("FAST": no extra I/O), so a
  // secret replaced by its sealed form or a deleted key does not linger in the file's free space.
  database.raw.exec('PRAGMA secure_delete = FAST');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(database) });
  await migrate(db, now);
  const reader = new NodeSqliteDatabase(join(dataDir, 'ferry.db'), { readOnly: true });
  return {
    db,
    readRows: async <T>(query: CompiledQuery<T>) => reader.prepare(query.sql).all(query.parameters) as T[],
    readArrays: async (query: CompiledQuery) => reader.prepare(query.sql, true).all(query.parameters) as unknown[][],
    close: async () => {
      reader.close();
      await db.destroy();
    },
  };
}
