/**
 * The store implementations a conformance suite runs against. Every repository and unit-of-work suite loops over
 * `storeDialects`, so one suite holds every dialect to the same contract:
 *
 *   for (const dialect of storeDialects) {
 *     describe(`jobs repository (${dialect.name})`, () => { … const store = await dialect.open(); … });
 *   }
 *
 * SQLite is always here. The PostgreSQL dialect adds itself to this list (a fresh database per open) when a server
 * is reachable; a dialect that is configured but unreachable must fail the suite, never skip it silently.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';

export interface StoreUnderTest {
  store: Store;
  /** Closes the store and removes everything it created (data dir, database). */
  dispose(): Promise<void>;
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
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const storeDialects: StoreDialect[] = [sqlite];
