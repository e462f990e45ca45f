/**
 * The PostgreSQL store: N Ferry nodes share one database. A pg.Pool under Kysely's PostgresDialect, values read
 * back as SQLite returns them (typeParsers.ts), the migrations' DDL translated (portableDdl.ts) and applied under an
 * advisory lock so nodes starting together migrate once.
 *
 * Durability: a strict unit of work is PostgreSQL's default commit (returns once its WAL record is flushed; the
 * server groups concurrent flushes itself); a relaxed one runs `SET LOCAL synchronous_commit = off`.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, PostgresDriver, sql, type CompiledQuery, type DatabaseConnection, type Driver } from 'kysely';
import { migrate } from '../migrations/index.ts';
import { registerRelaxedTransactions } from '../unitOfWork.ts';
import type { Database } from '../schema.ts';
import type { OpenStoreOptions, Store } from '../openStore.ts';
import { ferryTypes } from './typeParsers.ts';
import { PortableDdlPlugin } from './portableDdl.ts';

/** Every Ferry node takes this advisory lock (one 64-bit key, "ferrymig" in ASCII) to migrate. */
const MIGRATION_LOCK_KEY = 0x66657272796d6967n;

export const DEFAULT_POOL_SIZE = 10;

/** Counts commits, as the SQLite store's group commit does, for commitStats(). */
class CountingPostgresDriver extends PostgresDriver {
  commits = 0;
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await super.commitTransaction(connection);
    this.commits++;
  }
}

class CountingPostgresDialect extends PostgresDialect {
  readonly driver: CountingPostgresDriver;
  constructor(pool: pg.Pool) {
    super({ pool });
    this.driver = new CountingPostgresDriver({ pool });
  }
  override createDriver(): Driver {
    return this.driver;
  }
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** The URL without its password, for logs and errors. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

export async function openPostgresStore(url: string, now: number, options: OpenStoreOptions = {}): Promise<Store> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message));
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? DEFAULT_POOL_SIZE, types: ferryTypes });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would end the process. The
  // next query gets a fresh connection (or fails, and says so to its caller).
  pool.on('error', (error) => warn(`PostgreSQL store ${redactedUrl(url)}: idle connection failed: ${error.message}`));
  // A client checked out by a unit of work has no pool listener: a server that ends its session between two
  // statements (a failover, pg_terminate_backend, a dropped database) emits 'error' on the client itself, which
  // unhandled ends the whole node. The unit of work learns it from its next statement ("not queryable") and fails
  // alone; the pool then discards the client instead of handing it out again.
  pool.on('connect', (client) => {
    let told = false; // one ended session raises two errors (the server's notice, then the closed socket)
    client.on('error', (error) => {
      if (!told) warn(`PostgreSQL store ${redactedUrl(url)}: connection in use failed: ${error.message}`);
      told = true;
    });
  });
  const dialect = new CountingPostgresDialect(pool);
  const db = new Kysely<Database>({ dialect });
  let relaxedCommits = 0;
  registerRelaxedTransactions(db, async (trx) => {
    await sql`set local synchronous_commit = off`.execute(trx);
    relaxedCommits++;
  });
  let migrationsRun: number[];
  try {
    migrationsRun = await migrate(db.withPlugin(new PortableDdlPlugin()), now, {
      lock: async (trx) => void (await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`.execute(trx)),
    });
  } catch (thrown) {
    await db.destroy();
    // The first query is the first connection: say which store could not be reached (without its password).
    const code = (thrown as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|28P01|28000|3D000)$/.test(code)) {
      throw new Error(`cannot open the PostgreSQL store ${redactedUrl(url)}: ${(thrown as Error).message}`, { cause: thrown });
    }
    throw thrown;
  }
  return {
    db,
    dialect: 'postgres',
    migrationsRun,
    readRows: async <T>(query: CompiledQuery<T>) => (await db.executeQuery(query)).rows,
    readArrays: async (query: CompiledQuery) =>
      (await pool.query({ text: query.sql, values: [...query.parameters], rowMode: 'array' })).rows as unknown[][],
    capabilities: { skipLockedClaims: true, relaxedCommits: true, migrationLock: true, checkpointableLog: false, sharedByNodes: true },
    // Every strict commit waits for its WAL flush; PostgreSQL may serve several with one flush (not counted here).
    commitStats: () => ({ commits: dialect.driver.commits, syncs: dialect.driver.commits - relaxedCommits }),
    close: () => db.destroy(),
  };
}
