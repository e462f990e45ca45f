/**
 * Opens the state store, migrated to the latest schema: PostgreSQL when given a `postgres://` URL (N nodes share
 * it; postgres/openPostgresStore.ts), else SQLite in the data dir (the embedded default).
 */
import { join } from 'node:path';
import { Kysely, SqliteDialect, type CompiledQuery, type Driver } from 'kysely';
import { NodeSqliteDatabase } from './nodeSqlite.ts';
import { migrate } from './migrations/index.ts';
import { secureDataDir } from './dataDirPermissions.ts';
import { DurableSqliteDriver } from './sqlite/durableDriver.ts';
import { WalSync } from './sqlite/walSync.ts';
import { Checkpointer, WRITER_AUTOCHECKPOINT_PAGES } from './sqlite/checkpointer.ts';
import { UnchangedReads } from './sqlite/unchangedReads.ts';
import { registerBatchedCommits, registerRelaxedCommits } from './unitOfWork.ts';
import { BatchedCommits, type BatchStats } from './batchedCommits.ts';
import type { Database } from './schema.ts';
import { isPostgresUrl, openPostgresStore } from './postgres/openPostgresStore.ts';

/** SQLite through DurableSqliteDriver: `BEGIN IMMEDIATE` transactions and group commit. */
class DurableSqliteDialect extends SqliteDialect {
  readonly #driver: DurableSqliteDriver;
  constructor(database: NodeSqliteDatabase, driver: DurableSqliteDriver) {
    super({ database });
    this.#driver = driver;
  }
  override createDriver(): Driver {
    return this.#driver;
  }
}

/**
 * Runs a compiled read-only query and returns its rows. The SQLite store answers synchronously from a second,
 * read-only connection: it sees only committed data (WAL snapshot), never a transaction in progress on the
 * writer, and skips the async driver round trip that dominates a list page.
 */
export type ReadRows = <T>(query: CompiledQuery<T>) => Promise<T[]>;

/**
 * readRows with each row as an array of its column values, in select order (for the hottest page). The rows may be
 * shared with other callers (SQLite keeps a result while the database is unchanged): never change them.
 */
export type ReadArrays = (query: CompiledQuery) => Promise<unknown[][]>;

/**
 * What a dialect can do, as named flags (repositories choose a strategy by capability, never by dialect name).
 * SQLite: one writer at a time, so a claim is exclusive without row locks; relaxed commits skip the WAL sync; one
 * process migrates (a second one waits on the database lock, busy_timeout).
 */
export interface StoreCapabilities {
  /** Claims may use `FOR UPDATE SKIP LOCKED` (PostgreSQL); otherwise a claim runs in a transaction that holds the write lock. */
  skipLockedClaims: boolean;
  /** A relaxed unit of work commits without waiting for the disk. */
  relaxedCommits: boolean;
  /** Migrations take a lock other nodes wait on (PostgreSQL advisory lock); SQLite's write lock does that here. */
  migrationLock: boolean;
  /**
   * The store keeps overwritten pages in a log file of its own beside the database (SQLite's WAL) until a checkpoint
   * truncates it; PostgreSQL's WAL is the server's and is recycled by the server.
   */
  checkpointableLog: boolean;
  /**
   * Several `ferry serve` nodes may share this store (PostgreSQL), so one of them at a time, the holder of the
   * scheduler lease (domain/leadership.ts), applies the time-driven rules. SQLite belongs to one process: its
   * scheduler is always the leader.
   */
  sharedByNodes?: boolean;
}

export interface CommitStats {
  /** Commits that wrote. */
  commits: number;
  /** fdatasync calls of the WAL (group commit: far fewer than commits under concurrency). */
  syncs: number;
  /** Strict units of work batched into shared transactions (SQLite; store/batchedCommits.ts). */
  batches?: BatchStats;
}

export interface Store {
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  /** The migration versions this open applied (empty when the schema was current, or another node applied them). */
  migrationsRun: number[];
  readRows: ReadRows;
  readArrays: ReadArrays;
  capabilities: StoreCapabilities;
  commitStats(): CommitStats;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Hears what was wrong with the data dir's permissions and has been fixed (default: process.emitWarning). */
  warn?: (message: string) => void;
  /** PostgreSQL: connections in the pool (FERRY_STORE_POOL_SIZE; default 10). */
  poolSize?: number;
}

export interface StoreLocation {
  /** The data dir (SQLite's database file lives here; PostgreSQL leaves it to the image and artifact stores). */
  dataDir: string;
  /** `postgres://…` for PostgreSQL (--store, FERRY_STORE); anything else, or none, means SQLite in dataDir. */
  url?: string;
}

export function openStore(location: StoreLocation, now: number, options: OpenStoreOptions = {}): Promise<Store> {
  return isPostgresUrl(location.url) ? openPostgresStore(location.url, now, options) : openSqliteStore(location.dataDir, now, options);
}

export async function openSqliteStore(dataDir: string, now: number, options: OpenStoreOptions = {}): Promise<Store> {
  secureDataDir(dataDir, options.warn ?? ((message) => process.emitWarning(message)));
  const file = join(dataDir, 'ferry.db');
  // NORMAL: a commit does not sync inside SQLite; the driver syncs the WAL once per group of commits instead, and
  // waits for it before a strict unit of work returns (sqlite/walSync.ts).
  const database = new NodeSqliteDatabase(file, { synchronous: 'NORMAL' });
  // Deleted and overwritten content is zeroed where SQLite rewrites the page anyway ("FAST": no extra I/O), so a
  // secret replaced by its sealed form or a deleted key does not linger in the file's free space.
  database.raw.exec('PRAGMA secure_delete = FAST');
  // Each unit of a batched commit runs in a savepoint (batchedCommits.ts), whose undo log (SQLite's statement
  // journal) spills to a temp file past 64 KiB, about one create's pages: 150 pwrite calls per batch of 8 creates
  // under strace, more than the batch saved in WAL frames. In memory, it never touches a file.
  database.raw.exec('PRAGMA temp_store = MEMORY');
  // Checkpoints run on their own thread (sqlite/checkpointer.ts); the writer's own is only a backstop.
  database.raw.exec(`PRAGMA wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT_PAGES}`);
  const wal = new WalSync(`${file}-wal`);
  let checkpointer: Checkpointer | undefined;
  const driver = new DurableSqliteDriver(database, wal, () => checkpointer?.noteCommit());
  const db = new Kysely<Database>({ dialect: new DurableSqliteDialect(database, driver) });
  registerRelaxedCommits(db, () => driver.relaxCurrentHolder());
  const migrationsRun = await migrate(db, now);
  const batches = new BatchedCommits(db, () => database.raw.isTransaction);
  registerBatchedCommits(db, batches);
  checkpointer = new Checkpointer(file);
  const reader = new NodeSqliteDatabase(file, { readOnly: true });
  const unchanged = new UnchangedReads(reader);
  return {
    db,
    dialect: 'sqlite',
    migrationsRun,
    readRows: async <T>(query: CompiledQuery<T>) => reader.prepare(query.sql).all(query.parameters) as T[],
    readArrays: async (query: CompiledQuery) => unchanged.read(query, () => reader.prepare(query.sql, true).all(query.parameters) as unknown[][]),
    capabilities: { skipLockedClaims: false, relaxedCommits: true, migrationLock: false, checkpointableLog: true, sharedByNodes: false },
    commitStats: () => ({ commits: wal.commits, syncs: wal.syncs, batches: { ...batches.stats } }),
    close: async () => {
      await checkpointer?.close();
      reader.close();
      await db.destroy();
      wal.close();
    },
  };
}
