/**
 * The tenancy filter on every dialect: a query sees, changes and deletes only its tenant's rows — the same account
 * in another region and another account in the same region are other tenants — also in a join, where the named
 * table's pair counts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { inTenant } from '../../src/store/tenancy.ts';

const NOW = 1_800_000_000_000;
const HOME = { accountId: '111122223333', region: 'us-east-1' };
const TENANTS = [HOME, { accountId: HOME.accountId, region: 'eu-west-1' }, { accountId: '444455556666', region: HOME.region }];

for (const dialect of storeDialects) {
  describe(`tenancy filter (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
      const catalogs = TENANTS.map((t, i) => ({ account_id: t.accountId, region: t.region, status: `S${i}`, last_modified_on: NOW, import_requested_at: null, status_before_import: null }));
      await sut.store.db.insertInto('catalogs').values(catalogs).execute();
    });
    after(async () => sut.dispose());

    test('select, update and delete touch only the tenant’s row', async () => {
      const { db } = sut.store;
      const statuses = async () => (await db.selectFrom('catalogs').select(['account_id', 'region', 'status']).orderBy('account_id').orderBy('region').execute()).map((r) => `${r.account_id}/${r.region}=${r.status}`);
      assert.deepEqual((await db.selectFrom('catalogs').select('status').where(inTenant(TENANTS[1]!)).execute()).map((r) => r.status), ['S1']);
      await db.updateTable('catalogs').set({ status: 'CHANGED' }).where(inTenant(HOME)).execute();
      assert.deepEqual(await statuses(), ['111122223333/eu-west-1=S1', '111122223333/us-east-1=CHANGED', '444455556666/us-east-1=S2']);
      await db.deleteFrom('catalogs').where(inTenant(TENANTS[2]!)).execute();
      assert.deepEqual(await statuses(), ['111122223333/eu-west-1=S1', '111122223333/us-east-1=CHANGED']);
      assert.deepEqual(await db.selectFrom('catalogs').selectAll().where(inTenant({ accountId: '999999999999', region: 'us-east-1' })).execute(), []);
    });

    test('in a join, the named table’s tenant counts', async () => {
      const { db } = sut.store;
      await db.insertInto('accounts').values({ account_id: HOME.accountId, name: 'home', created_at: NOW }).execute();
      const rows = await db
        .selectFrom('catalogs')
        .innerJoin('accounts', 'accounts.account_id', 'catalogs.account_id')
        .select(['catalogs.region', 'accounts.name'])
        .where(inTenant(TENANTS[1]!, 'catalogs'))
        .execute();
      assert.deepEqual(rows.map((r) => [r.region, r.name]), [['eu-west-1', 'home']]);
    });
  });
}
