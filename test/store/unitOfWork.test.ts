/**
 * The unit of work on every store dialect: strict and relaxed commits are both committed and visible, a failed
 * unit leaves nothing, reads inside a unit see its own writes while committed-data reads (readRows) do not, and
 * relaxed means what the dialect says it means.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { inUnitOfWork } from '../../src/store/unitOfWork.ts';
import { describeEachDialect, type StoreUnderTest } from '../helpers/stores.ts';

function account(id: string) {
  return { account_id: id, name: `name-${id}`, created_at: 1_700_000_000_000 };
}

describeEachDialect('unit of work', (dialect) => {
  let under: StoreUnderTest;
  before(async () => {
    under = await dialect.open();
  });
  after(() => under.dispose());

  test('strict and relaxed units both commit, and another node sees them', async () => {
    const { db } = under.store;
    await inUnitOfWork(db, 'strict', (trx) => trx.insertInto('accounts').values(account('100000000001')).execute());
    await inUnitOfWork(db, 'relaxed', (trx) => trx.insertInto('accounts').values(account('100000000002')).execute());
    const other = await under.reopen();
    try {
      const ids = await other.db.selectFrom('accounts').select('account_id').where('account_id', 'in', ['100000000001', '100000000002']).orderBy('account_id').execute();
      assert.deepEqual(ids.map((r) => r.account_id), ['100000000001', '100000000002']);
    } finally {
      await other.close();
    }
  });

  test('a unit that throws leaves nothing behind, on either durability', async () => {
    const { db } = under.store;
    for (const durability of ['strict', 'relaxed'] as const) {
      const id = durability === 'strict' ? '200000000001' : '200000000002';
      await assert.rejects(
        inUnitOfWork(db, durability, async (trx) => {
          await trx.insertInto('accounts').values(account(id)).execute();
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal(await db.selectFrom('accounts').select('account_id').where('account_id', '=', id).executeTakeFirst(), undefined);
    }
  });

  test('reads inside a unit see its writes; committed-data reads see them only after the commit', async () => {
    const { db, readRows } = under.store;
    const query = db.selectFrom('accounts').select('name').where('account_id', '=', '300000000001').compile();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside: unknown;
    const unit = inUnitOfWork(db, 'strict', async (trx) => {
      await trx.insertInto('accounts').values(account('300000000001')).execute();
      inside = await trx.selectFrom('accounts').select('name').where('account_id', '=', '300000000001').executeTakeFirst();
      await held;
    });
    // Wait until the unit has written and read, then look from outside while it is still open.
    try {
      while (inside === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual({ ...(inside as object) }, { name: 'name-300000000001' });
      assert.deepEqual(await readRows(query), []);
    } finally {
      release();
      await unit;
    }
    assert.deepEqual((await readRows(query)).map((row) => ({ ...row })), [{ name: 'name-300000000001' }]);
  });

  test('commits are counted; a strict commit waits for the disk', async () => {
    const { db } = under.store;
    const before = under.store.commitStats();
    await inUnitOfWork(db, 'strict', (trx) => trx.insertInto('accounts').values(account('400000000001')).execute());
    const after = under.store.commitStats();
    assert.equal(after.commits - before.commits, 1);
    assert.equal(after.syncs - before.syncs, 1);
  });

  if (dialect.name === 'postgres') {
    test('relaxed turns synchronous_commit off for its own transaction only', async () => {
      const { db } = under.store;
      const setting = (durability: 'strict' | 'relaxed') =>
        inUnitOfWork(db, durability, async (trx) => (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(trx)).rows[0]!.synchronous_commit);
      assert.equal(await setting('relaxed'), 'off');
      assert.equal(await setting('strict'), 'on');
      assert.equal((await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db)).rows[0]!.synchronous_commit, 'on');
    });
  }
});
