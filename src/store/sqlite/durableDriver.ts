/**
 * Kysely's SQLite driver for the writer connection, with two things the stock one lacks: transactions that take the
 * write lock up front (`BEGIN IMMEDIATE`), and group commit (sqlite/walSync.ts) applied to every write through it.
 *
 * Every statement that ends outside a transaction having written (a COMMIT, or a write in autocommit mode) takes a
 * WAL ticket. When the caller gives the connection back, the connection is released first, so the next transaction
 * runs while this one's data goes to disk, and only then does the caller wait for its ticket: `transaction().execute`
 * and a bare `insertInto(…).execute()` resolve once their commit is durable, with no change at any call site.
 * A unit of work with relaxed durability (unitOfWork.ts) skips that wait; its commit becomes durable with the next
 * synced one, because the WAL is replayed in order.
 */
import { CompiledQuery, SelectQueryNode, SqliteDriver, type DatabaseConnection, type QueryResult } from 'kysely';
import type { NodeSqliteDatabase } from '../nodeSqlite.ts';
import type { WalSync } from './walSync.ts';

/** Statements that change no data themselves (transaction control, reads, reading a pragma). */
const NO_WRITE_SQL = /^\s*(select|begin|commit|end|rollback|savepoint|release|pragma\s+\w+\s*;?\s*$)/i;
const ROLLBACK_SQL = /^\s*rollback\b/i;

/** Whether a statement can have changed the database (statements we cannot tell count as writes). */
function mayWrite(query: CompiledQuery): boolean {
  if (SelectQueryNode.is(query.query)) return false;
  return !NO_WRITE_SQL.test(query.sql);
}

export class DurableSqliteDriver extends SqliteDriver {
  readonly #database: NodeSqliteDatabase;
  readonly #wal: WalSync;
  #connection: TrackedConnection | undefined;
  /** Set while the holder of the connection runs a relaxed unit of work. */
  #relaxed = false;
  /** The newest WAL ticket the current holder of the connection must wait for. */
  #ticket = 0;

  readonly #afterCommit: () => void;

  /** `afterCommit` hears of every commit that wrote (the checkpointer counts them). */
  constructor(database: NodeSqliteDatabase, wal: WalSync, afterCommit: () => void = () => undefined) {
    super({ database });
    this.#database = database;
    this.#wal = wal;
    this.#afterCommit = afterCommit;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await super.acquireConnection();
    this.#connection ??= new TrackedConnection(inner, this.#database, () => this.#noteCommit());
    return this.#connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async releaseConnection(): Promise<void> {
    const ticket = this.#ticket;
    this.#ticket = 0;
    this.#relaxed = false;
    await super.releaseConnection();
    if (ticket) await this.#wal.durable(ticket);
  }

  /** Only for the current holder of the connection: its commits do not wait for the disk. */
  relaxCurrentHolder(): void {
    this.#relaxed = true;
  }

  #noteCommit(): void {
    const ticket = this.#wal.committed();
    if (!this.#relaxed) this.#ticket = ticket;
    this.#afterCommit();
  }
}

/**
 * The driver's one connection, noticing each commit that wrote: a transaction that only read commits nothing to
 * sync, and a rolled-back one neither.
 */
class TrackedConnection implements DatabaseConnection {
  readonly #inner: DatabaseConnection;
  readonly #database: NodeSqliteDatabase;
  readonly #onCommit: () => void;
  /** A statement since the last commit or rollback may have written. */
  #dirty = false;
  constructor(inner: DatabaseConnection, database: NodeSqliteDatabase, onCommit: () => void) {
    this.#inner = inner;
    this.#database = database;
    this.#onCommit = onCommit;
  }
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#inner.executeQuery<R>(query);
    const open = this.#database.raw.isTransaction;
    if (!open && ROLLBACK_SQL.test(query.sql)) {
      this.#dirty = false;
      return result;
    }
    if (mayWrite(query)) this.#dirty = true;
    if (!open && this.#dirty) {
      this.#dirty = false;
      this.#onCommit();
    }
    return result;
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.#inner.streamQuery<R>(query, chunkSize);
  }
}
