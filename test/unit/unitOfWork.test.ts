/**
 * The unit of work on the SQLite store: strict commits resolve only after a WAL sync that started after them, and a
 * burst of concurrent ones shares syncs (group commit); relaxed commits never wait for one; both commit or roll back
 * whole, and every write path (transactions, autocommit statements) is strict unless asked otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { inUnitOfWork } from '../../src/store/unitOfWork.ts';
import { unsyncedTransaction } from '../../src/store/unsyncedTransaction.ts';

type Db = Kysely<{ t: { a: number } }>;

async function withStore(fn: (store: Store, db: Db, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-uow-'));
  const store = await openSqliteStore(dir, Date.now());
  try {
    const db = store.db as unknown as Db;
    await sql`create table t (a integer)`.execute(db);
    await fn(store, db, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('strict and relaxed units of work commit, and roll back whole on error', async () => {
  await withStore(async (store, db) => {
    await inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 1 }).execute());
    await inUnitOfWork(db, 'relaxed', (trx) => trx.insertInto('t').values({ a: 2 }).execute());
    await unsyncedTransaction(db, (trx) => trx.insertInto('t').values({ a: 3 }).execute());
    for (const durability of ['strict', 'relaxed'] as const) {
      await assert.rejects(
        inUnitOfWork(db, durability, async (trx) => {
          await trx.insertInto('t').values({ a: 9 }).execute();
          throw new Error('work failed');
        }),
        /work failed/,
      );
    }
    assert.deepEqual((await db.selectFrom('t').select('a').orderBy('a').execute()).map((r) => r.a), [1, 2, 3]);
    // Seen by the second (read-only) connection: committed, not pending.
    assert.deepEqual((await store.readRows(db.selectFrom('t').select('a').orderBy('a').compile())).map((r) => r.a), [1, 2, 3]);
    // The writer runs with NORMAL: the syncs are the driver's, per group, not SQLite's, per commit.
    assert.equal(Number((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(db)).rows[0]!.synchronous), 1);
  });
});

test('a strict commit waits for a WAL sync; a relaxed one does not', async () => {
  await withStore(async (store, db) => {
    let before = store.commitStats();
    await inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 1 }).execute());
    let after = store.commitStats();
    assert.equal(after.commits - before.commits, 1);
    assert.equal(after.syncs - before.syncs, 1, 'the strict commit was synced before it resolved');

    before = store.commitStats();
    await inUnitOfWork(db, 'relaxed', (trx) => trx.insertInto('t').values({ a: 2 }).execute());
    after = store.commitStats();
    assert.equal(after.commits - before.commits, 1);
    assert.equal(after.syncs, before.syncs, 'the relaxed commit did not wait for a sync');

    // A plain transaction and an autocommit write are strict too (every call site keeps its durability).
    before = store.commitStats();
    await db.transaction().execute((trx) => trx.insertInto('t').values({ a: 3 }).execute());
    await db.insertInto('t').values({ a: 4 }).execute();
    after = store.commitStats();
    assert.equal(after.commits - before.commits, 2);
    assert.equal(after.syncs - before.syncs, 2);

    // Reads and rolled-back transactions cost no sync.
    before = store.commitStats();
    await db.selectFrom('t').selectAll().execute();
    await db.transaction().execute((trx) => trx.selectFrom('t').selectAll().execute());
    await inUnitOfWork(db, 'strict', async (trx) => {
      await trx.insertInto('t').values({ a: 5 }).execute();
      throw new Error('no');
    }).catch(() => undefined);
    const { commits, syncs } = store.commitStats();
    assert.deepEqual({ commits, syncs }, { commits: before.commits, syncs: before.syncs });
  });
});

test('concurrent strict units share transactions and WAL syncs (batched group commit), each resolving only after a sync', async () => {
  await withStore(async (store, db) => {
    const before = store.commitStats();
    const burst = 64;
    const syncsSeen: number[] = [];
    await Promise.all(
      Array.from({ length: burst }, async (_, i) => {
        await inUnitOfWork(db, 'strict', async (trx) => {
          await trx.insertInto('t').values({ a: i }).execute();
          await trx.selectFrom('t').select('a').where('a', '=', i).execute();
        });
        syncsSeen.push(store.commitStats().syncs - before.syncs);
      }),
    );
    const after = store.commitStats();
    // Started in one event-loop turn, the 64 units wait together: one batch, one COMMIT, one sync.
    assert.ok(after.commits - before.commits < burst / 2, `${after.commits - before.commits} commits for ${burst} units`);
    assert.ok(after.syncs - before.syncs <= after.commits - before.commits, `${after.syncs - before.syncs} syncs for ${after.commits - before.commits} commits`);
    assert.equal(after.batches!.units - before.batches!.units, burst);
    assert.ok(after.batches!.largest > 1);
    assert.ok(syncsSeen.every((n) => n >= 1), 'no commit resolved before a sync');
    assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n, burst);
  });
});

test('WAL checkpoints happen on the checkpointer thread, not in a commit', async () => {
  await withStore(async (_store, db, dir) => {
    const file = join(dir, 'ferry.db');
    const before = statSync(file).size;
    // The writer's own automatic checkpoint waits for far more pages than this test writes: any growth is the thread's.
    const auto = Number((await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(db)).rows[0]!.wal_autocheckpoint);
    assert.ok(auto >= 10_000, `writer's wal_autocheckpoint is ${auto}`);
    // About 1,600 pages of WAL: past SQLite's default automatic checkpoint (1000), under the writer's backstop.
    for (let i = 0; i < 400; i++) await sql`insert into t (a) values (${i}), (${'x'.repeat(16_000)})`.execute(db);
    const deadline = Date.now() + 10_000;
    while (statSync(file).size < before + 4_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(statSync(file).size >= before + 4_000_000, 'the pages reached the database file without a checkpoint by the writer');
  });
});

test('a unit that fails inside a batch rolls back alone: its neighbours commit, in the same transaction', async () => {
  await withStore(async (store, db) => {
    const before = store.commitStats();
    const results = await Promise.allSettled([
      inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 1 }).returning('a').execute()),
      inUnitOfWork(db, 'strict', async (trx) => {
        await trx.insertInto('t').values({ a: 2 }).execute();
        throw new Error('the rules refused it');
      }),
      inUnitOfWork(db, 'strict', async (trx) => {
        await trx.insertInto('t').values({ a: 3 }).execute();
        return 'three';
      }),
      // An error from SQLite itself, after a write of the same unit.
      inUnitOfWork(db, 'strict', async (trx) => {
        await trx.insertInto('t').values({ a: 4 }).execute();
        await sql`insert into no_such_table values (1)`.execute(trx);
      }),
      inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 5 }).execute()),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /the rules refused it/);
    assert.match(String((results[3] as PromiseRejectedResult).reason), /no such table/);
    assert.equal((results[2] as PromiseFulfilledResult<string>).value, 'three');
    const after = store.commitStats();
    assert.equal(after.commits - before.commits, 1, 'one COMMIT for the batch');
    assert.equal(after.batches!.units - before.batches!.units, 5);
    assert.deepEqual((await db.selectFrom('t').select('a').orderBy('a').execute()).map((r) => r.a), [1, 3, 5]);
    assert.deepEqual((await store.readRows(db.selectFrom('t').select('a').orderBy('a').compile())).map((r) => r.a), [1, 3, 5]);
  });
});

test('a unit that ends the batch\'s transaction fails the whole batch, and nothing of it commits', async () => {
  await withStore(async (store, db) => {
    const results = await Promise.allSettled([
      inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 1 }).execute()),
      // What SQLite does by itself after some errors (a full disk): the transaction is gone, with the units before.
      inUnitOfWork(db, 'strict', async (trx) => {
        await sql`rollback`.execute(trx);
      }),
      inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 3 }).execute()),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
    assert.deepEqual(await db.selectFrom('t').select('a').execute(), []);
    // The writer is usable afterwards.
    await inUnitOfWork(db, 'strict', (trx) => trx.insertInto('t').values({ a: 7 }).execute());
    assert.deepEqual((await store.readRows(db.selectFrom('t').select('a').compile())).map((r) => r.a), [7]);
  });
});
