/**
 * The store implementations a conformance suite runs against. Every repository and unit-of-work suite loops over
 * `storeDialects`, so one suite holds every dialect to the same contract:
 *
 *   for (const dialect of storeDialects) {
 *     describe(`jobs repository (${dialect.name})`, () => { … const store = await dialect.open(); … });
 *   }
 *
 * SQLite is always here. PostgreSQL joins when FERRY_TEST_PG_URL names a server (`.ci/run` always sets it, from
 * `.ci/postgres`): a fresh database per open, dropped on dispose. A configured but unreachable server fails the
 * suite, never skips it; without FERRY_TEST_PG_URL the PostgreSQL suites are skipped with `postgresSkipReason`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { openSqliteStore, openStore, type Store } from '../../src/store/openStore.ts';
import { createTestDatabase } from './testDatabases.ts';

// Where the tests' databases come from (and how they are cleaned up): testDatabases.ts.
export { createTestDatabase } from './testDatabases.ts';

export interface StoreUnderTest {
  store: Store;
  /** Closes the store and removes everything it created (data dir, database). */
  dispose(): Promise<void>;
  /** Opens the same database again (as another node, or after a restart); the caller closes that store. */
  reopen(now?: number): Promise<Store>;
  /** The data dir and store URL of this store, as `ferry serve --data-dir … --store …` would take them. */
  location: { dataDir: string; url?: string };
}

export interface StoreDialect {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty, migrated store. */
  open(now?: number): Promise<StoreUnderTest>;
}

const sqlite: StoreDialect = {
  name: 'sqlite',
  async open(now = Date.now()) {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-store-'));
    const store = await openSqliteStore(dir, now);
    return {
      store,
      location: { dataDir: dir },
      reopen: (at = Date.now()) => openSqliteStore(dir, at),
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** The PostgreSQL server the tests use (FERRY_TEST_PG_URL, e.g. from .ci/postgres), if any. */
export const testPostgresUrl: string | undefined = process.env.FERRY_TEST_PG_URL || undefined;

/** Why the PostgreSQL suites did not run, for `{ skip: postgresSkipReason }`; undefined when they run. */
export const postgresSkipReason: string | undefined = testPostgresUrl
  ? undefined
  : 'FERRY_TEST_PG_URL is not set (start a server with `export FERRY_TEST_PG_URL=$(.ci/postgres)`)';

function postgresDialect(adminUrl: string): StoreDialect {
  return {
    name: 'postgres',
    async open(now = Date.now()) {
      const database = await createTestDatabase(adminUrl);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-store-pg-'));
      const location = { dataDir: dir, url: database.url };
      const store = await openStore(location, now).catch(async (thrown: unknown) => {
        await database.drop();
        throw thrown;
      });
      return {
        store,
        location,
        reopen: (at = Date.now()) => openStore(location, at),
        dispose: async () => {
          await store.close();
          await database.drop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

export const storeDialects: StoreDialect[] = testPostgresUrl ? [sqlite, postgresDialect(testPostgresUrl)] : [sqlite];

/**
 * Registers `body` as one describe per dialect, and a visibly skipped one for PostgreSQL when no server is
 * configured (so a run without FERRY_TEST_PG_URL says what it did not test).
 */
export function describeEachDialect(title: string, body: (dialect: StoreDialect) => void): void {
  for (const dialect of storeDialects) describe(`${title} (${dialect.name})`, () => body(dialect));
  if (postgresSkipReason) describe(`${title} (postgres)`, { skip: postgresSkipReason }, () => {});
}
