/** unsyncedTransaction: commits like a transaction, and leaves the connection's synchronous setting as it found it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { openSqliteStore } from '../../src/store/openStore.ts';
import { unsyncedTransaction } from '../../src/store/unsyncedTransaction.ts';

test('commits, rolls back on error, and restores synchronous = FULL either way', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-unsynced-'));
  const store = await openSqliteStore(dir, Date.now());
  const db = store.db as unknown as Kysely<{ t: { a: number } }>;
  const synchronous = async () => Number((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db)).rows[0]!.synchronous);
  try {
    await sql`create table t (a integer)`.execute(db);
    assert.equal(await synchronous(), 2, 'the store opens with FULL');
    await unsyncedTransaction(db, (trx) => trx.insertInto('t').values({ a: 1 }).execute());
    assert.equal(await synchronous(), 2);
    await assert.rejects(
      unsyncedTransaction(db, async (trx) => {
        await trx.insertInto('t').values({ a: 2 }).execute();
        throw new Error('work failed');
      }),
      /work failed/,
    );
    assert.equal(await synchronous(), 2);
    const rows = await db.selectFrom('t').select('a').execute();
    assert.deepEqual(rows.map((r) => r.a), [1], 'the failed transaction left nothing behind');
    // Seen by a second connection: it is committed, not pending.
    assert.deepEqual((await store.readRows(db.selectFrom('t').select('a').compile())).map((r) => r.a), [1]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
