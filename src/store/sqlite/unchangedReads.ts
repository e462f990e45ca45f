/**
 * The read-only connection's results, kept while the database has not changed: a GetReplicationJobs page asked for
 * again (a console polling, a client paging a quiet account) is answered without running its query again.
 *
 * SQLite's `PRAGMA data_version` on a connection changes whenever another connection (of this process or any
 * other) has committed, and the reader itself never writes; so every result read under one value is still exactly
 * what the query would return while the value stands. The check runs before the query, so a commit landing between
 * the two makes the kept rows newer than their recorded version, and they are dropped at the next check: a kept
 * result is never older than the data. Callers must not change the rows they are given (they are shared).
 */
import type { StatementSync } from 'node:sqlite';
import type { CompiledQuery } from 'kysely';
import type { NodeSqliteDatabase } from '../nodeSqlite.ts';

export class UnchangedReads {
  readonly #dataVersion: StatementSync;
  readonly #max: number;
  readonly #kept = new Map<string, unknown[][]>();
  #version: unknown;

  constructor(reader: NodeSqliteDatabase, max = 64) {
    this.#dataVersion = reader.raw.prepare('PRAGMA data_version');
    this.#max = max;
  }

  read(query: CompiledQuery, run: () => unknown[][]): unknown[][] {
    const version = (this.#dataVersion.get() as { data_version: unknown }).data_version;
    if (version !== this.#version) {
      this.#kept.clear();
      this.#version = version;
    }
    const key = `${query.sql}\u0000${JSON.stringify(query.parameters)}`;
    const kept = this.#kept.get(key);
    if (kept) {
      this.#kept.delete(key); // most recently used last
      this.#kept.set(key, kept);
      return kept;
    }
    const rows = run();
    if (this.#kept.size >= this.#max) this.#kept.delete(this.#kept.keys().next().value!);
    this.#kept.set(key, rows);
    return rows;
  }
}
