/**
 * store/compiledOnce.ts: a query built and compiled once, run again with new values. Each run must give what the
 * same Kysely query built afresh gives; constants of the query (an `in` list) stay, values fill their slots by name
 * (also a name used twice), and a missing value is refused rather than bound as null.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { compiledOnce, rowsOf } from '../../src/store/compiledOnce.ts';

let dir = '';
let store: Store;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-compiled-once-'));
  store = await openSqliteStore(dir, Date.now());
  const catalog = (account_id: string, region: string, status: string) => ({ account_id, region, status, last_modified_on: null, import_requested_at: null, status_before_import: null });
  await store.db
    .insertInto('catalogs')
    .values([catalog('111111111111', 'us-east-1', 'AVAILABLE'), catalog('222222222222', 'us-east-1', 'IMPORTING'), catalog('333333333333', 'eu-west-1', 'AVAILABLE')])
    .execute();
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const inRegion = compiledOnce('test.catalogsInRegion', (db, p: { region: string; other: string }) =>
  db
    .selectFrom('catalogs')
    .select(['account_id', 'status'])
    .where((eb) => eb.or([eb('region', '=', p.region), eb('account_id', '=', p.other)]))
    .where('status', 'in', ['AVAILABLE', 'IMPORTING'])
    .orderBy('account_id'),
);

test('each run gives what the query built afresh gives, with its own values and the constants kept', async () => {
  for (const [region, other] of [
    ['us-east-1', 'none'],
    ['eu-west-1', '111111111111'],
    ['ap-south-1', 'none'],
  ] as const) {
    const fresh = await store.db
      .selectFrom('catalogs')
      .select(['account_id', 'status'])
      .where((eb) => eb.or([eb('region', '=', region), eb('account_id', '=', other)]))
      .where('status', 'in', ['AVAILABLE', 'IMPORTING'])
      .orderBy('account_id')
      .execute();
    assert.deepEqual(await rowsOf(store.db, inRegion(store.db, { region, other })), fresh);
  }
  assert.equal((await rowsOf(store.db, inRegion(store.db, { region: 'us-east-1', other: 'none' }))).length, 2);
});

test('a value used twice fills both places; inside a transaction the same shape serves', async () => {
  const bump = compiledOnce('test.bumpStatus', (db, p: { status: string; account: string }) =>
    db.updateTable('catalogs').set({ status: p.status, status_before_import: p.status }).where('account_id', '=', p.account),
  );
  await store.db.transaction().execute((trx) => trx.executeQuery(bump(trx, { status: 'DELETING', account: '333333333333' })));
  const row = await store.db.selectFrom('catalogs').selectAll().where('account_id', '=', '333333333333').executeTakeFirstOrThrow();
  assert.equal(row.status, 'DELETING');
  assert.equal(row.status_before_import, 'DELETING');
});

test('a missing value is refused, never bound as null', () => {
  assert.throws(() => inRegion(store.db, { region: 'us-east-1', other: undefined as unknown as string }), /no value for other/);
});
