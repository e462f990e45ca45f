/**
 * Adapts Node's built-in `node:sqlite` to the small database interface Kysely's SqliteDialect expects,
 * so the embedded store needs no native addon to compile (better-sqlite3 takes 75–90 s per fresh install here).
 */
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const STATEMENT_CACHE_SIZE = 256;

function bindable(value: unknown): SQLInputValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === undefined) return null;
  return value as SQLInputValue;
}

class CachedStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #statement: StatementSync;
  constructor(statement: StatementSync, arrays = false) {
    this.#statement = statement;
    this.reader = statement.columns().length > 0;
    if (arrays) statement.setReturnArrays(true);
  }
  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...parameters.map(bindable));
  }
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...parameters.map(bindable));
  }
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#statement.iterate(...parameters.map(bindable));
  }
}

export interface OpenOptions {
  /** `FULL` makes every acknowledged commit survive power loss, not only a killed process. */
  synchronous?: 'FULL' | 'NORMAL';
  /** A read-only connection (for the fast read path beside the writer). */
  readOnly?: boolean;
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly raw: DatabaseSync;
  readonly #statements = new Map<string, CachedStatement>();

  constructor(path: string, options: OpenOptions = {}) {
    this.raw = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
    // First: even setting the journal mode needs a lock, and another process (the admin CLI, the service) may
    // hold one at that moment. Without a busy timeout that is an immediate "database is locked".
    this.raw.exec('PRAGMA busy_timeout = 5000');
    if (!options.readOnly) {
      this.raw.exec('PRAGMA journal_mode = WAL');
      this.raw.exec(`PRAGMA synchronous = ${options.synchronous ?? 'FULL'}`);
    }
    this.raw.exec('PRAGMA foreign_keys = ON');
  }

  /** With `arrays`, rows come back as arrays of column values in select order (cheaper than objects). */
  prepare(sql: string, arrays = false): SqliteStatement {
    const key = arrays ? `arrays:${sql}` : sql;
    let statement = this.#statements.get(key);
    if (statement) {
      // Refresh recency so the cache behaves as an LRU.
      this.#statements.delete(key);
    } else {
      statement = new CachedStatement(this.raw.prepare(sql), arrays);
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
    }
    this.#statements.set(key, statement);
    return statement;
  }

  close(): void {
    this.#statements.clear();
    this.raw.close();
  }
}
