/**
 * The SQLite store keeps the read-only connection's array results while the database is unchanged
 * (src/store/sqlite/unchangedReads.ts): the same query gives the very same rows until anything commits — through
 * the store's writer, a relaxed unit of work, or another connection to the file (another process) — and then the
 * new data at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CompiledQuery } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { inUnitOfWork } from '../../src/store/unitOfWork.ts';

let dir = '';
let store: Store;
const byRegion = (region: string) => CompiledQuery.raw('select account_id, status from catalogs where region = ? order by account_id', [region]);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-unchanged-reads-'));
  store = await openSqliteStore(dir, Date.now());
  await store.db.insertInto('catalogs').values({ account_id: '111111111111', region: 'us-east-1', status: 'AVAILABLE', last_modified_on: null, import_requested_at: null, status_before_import: null }).execute();
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the same query gives the same rows while nothing commits; each kind of commit shows at once', async () => {
  const first = await store.readArrays(byRegion('us-east-1'));
  assert.deepEqual(first, [['111111111111', 'AVAILABLE']]);
  assert.equal(await store.readArrays(byRegion('us-east-1')), first, 'kept while the database is unchanged');
  assert.deepEqual(await store.readArrays(byRegion('eu-west-1')), [], 'another query (other values) is its own result');

  await store.db.updateTable('catalogs').set({ status: 'IMPORTING' }).where('account_id', '=', '111111111111').execute();
  const afterStrict = await store.readArrays(byRegion('us-east-1'));
  assert.deepEqual(afterStrict, [['111111111111', 'IMPORTING']], 'a strict commit through the writer');

  await inUnitOfWork(store.db, 'relaxed', (trx) => trx.updateTable('catalogs').set({ status: 'AVAILABLE' }).where('account_id', '=', '111111111111').execute());
  assert.deepEqual(await store.readArrays(byRegion('us-east-1')), [['111111111111', 'AVAILABLE']], 'a relaxed commit');

  const other = new DatabaseSync(join(dir, 'ferry.db'));
  try {
    other.exec('PRAGMA busy_timeout = 5000');
    other.prepare("insert into catalogs (account_id, region, status) values ('222222222222', 'us-east-1', 'NOT_IMPORTED')").run();
  } finally {
    other.close();
  }
  assert.deepEqual(
    await store.readArrays(byRegion('us-east-1')),
    [['111111111111', 'AVAILABLE'], ['222222222222', 'NOT_IMPORTED']],
    'a commit by another connection (another process)',
  );

  await store.db.transaction().execute(async (trx) => {
    await trx.updateTable('catalogs').set({ status: 'DELETING' }).where('account_id', '=', '222222222222').execute();
    throw new Error('rolled back');
  }).catch(() => undefined);
  const kept = await store.readArrays(byRegion('us-east-1'));
  assert.deepEqual(kept, [['111111111111', 'AVAILABLE'], ['222222222222', 'NOT_IMPORTED']], 'a rolled-back change never shows');
  assert.equal(await store.readArrays(byRegion('us-east-1')), kept);
});
