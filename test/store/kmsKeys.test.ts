/**
 * The KMS keys repository's contract, held against every store dialect: keys in and out by id, ARN and tenant,
 * aliases per tenant (a taken alias refused or skipped), listing by account and region, and wrapped material that
 * only the first writer sets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT } from '../helpers/storeFixtures.ts';
import * as kmsKeys from '../../src/store/kms/index.ts';

const NOW = 1_800_000_000_000;
const OTHER = { accountId: '444455556666', region: TENANT.region };
const key = (tenant: typeof TENANT | typeof OTHER, keyId: string, now: number) => ({ tenant, keyId, arn: `arn:test:${tenant.accountId}:${keyId}`, keyManager: 'CUSTOMER', description: `d-${keyId}`, now });

for (const dialect of storeDialects) {
  describe(`KMS keys repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('keys by id, ARN and tenant; aliases per tenant; list oldest first by account and region', async () => {
      const { db } = sut.store;
      await kmsKeys.insertKey(db, key(TENANT, 'k-2', NOW + 2));
      await kmsKeys.insertKey(db, key(TENANT, 'k-1', NOW + 1));
      await kmsKeys.insertKey(db, key(OTHER, 'k-3', NOW + 3));
      const one = (await kmsKeys.get(db, 'k-1'))!;
      assert.deepEqual([one.account_id, one.arn, one.key_manager, one.description, one.wrapped_material], [TENANT.accountId, `arn:test:${TENANT.accountId}:k-1`, 'CUSTOMER', 'd-k-1', null]);
      assert.deepEqual({ ...(await kmsKeys.byArn(db, `arn:test:${OTHER.accountId}:k-3`)) }, { key_id: 'k-3', arn: `arn:test:${OTHER.accountId}:k-3` });
      assert.equal(await kmsKeys.getInTenant(db, TENANT, 'k-3'), undefined, "another tenant's key");
      assert.equal((await kmsKeys.getInTenant(db, OTHER, 'k-3'))?.key_id, 'k-3');

      await kmsKeys.insertAlias(db, TENANT, 'alias/b', 'k-1', NOW);
      await kmsKeys.insertAlias(db, TENANT, 'alias/a', 'k-1', NOW);
      await kmsKeys.insertAlias(db, OTHER, 'alias/a', 'k-3', NOW);
      await assert.rejects(kmsKeys.insertAlias(db, TENANT, 'alias/a', 'k-2', NOW));
      assert.equal(await kmsKeys.insertAliasIfFree(db, TENANT, 'alias/a', 'k-2', NOW), false);
      assert.equal(await kmsKeys.insertAliasIfFree(db, TENANT, 'alias/c', 'k-2', NOW), true);
      assert.equal((await kmsKeys.byAlias(db, TENANT, 'alias/a'))?.key_id, 'k-1');
      assert.equal((await kmsKeys.byAlias(db, OTHER, 'alias/a'))?.key_id, 'k-3');
      assert.equal(await kmsKeys.byAlias(db, OTHER, 'alias/c'), undefined);
      assert.deepEqual((await kmsKeys.aliasesOf(db, ['k-1', 'k-2'])).map((a) => `${a.key_id}=${a.alias_name}`), ['k-1=alias/a', 'k-1=alias/b', 'k-2=alias/c']);
      assert.deepEqual(await kmsKeys.aliasesOf(db, []), []);

      assert.deepEqual((await kmsKeys.list(db)).map((k) => k.key_id), ['k-1', 'k-2', 'k-3']);
      assert.deepEqual((await kmsKeys.list(db, { accountId: TENANT.accountId })).map((k) => k.key_id), ['k-1', 'k-2']);
      assert.deepEqual((await kmsKeys.list(db, { accountId: TENANT.accountId, region: 'eu-west-1' })).map((k) => k.key_id), []);
      await kmsKeys.insertKey(db, key(TENANT, 'k-gone', NOW + 4));
      await kmsKeys.deleteKey(db, 'k-gone');
      assert.equal(await kmsKeys.get(db, 'k-gone'), undefined);
    });

    test('setMaterial: the first writer’s material stands', async () => {
      const { db } = sut.store;
      await kmsKeys.insertKey(db, key(TENANT, 'k-mat', NOW));
      await kmsKeys.setMaterial(db, 'k-mat', { material: 'm1', dataKey: 'd1', fingerprint: 'f1' });
      await kmsKeys.setMaterial(db, 'k-mat', { material: 'm2', dataKey: 'd2', fingerprint: 'f2' });
      const row = (await kmsKeys.get(db, 'k-mat'))!;
      assert.deepEqual([row.wrapped_material, row.wrapped_data_key, row.master_key_fingerprint], ['m1', 'd1', 'f1']);
    });
  });
}
