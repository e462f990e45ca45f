/**
 * The access-keys repository's contract, held against every store dialect: sealed secrets in and out, the active
 * keys of an account, revocation that drops the secret, and the SigV4 lookup that sees only keys not deleted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import * as accounts from '../../src/store/accounts/index.ts';
import * as keys from '../../src/store/keys/index.ts';

const NOW = 1_800_000_000_000;
const ACCOUNT = '123456789012';

for (const dialect of storeDialects) {
  describe(`access-keys repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
      await accounts.insert(sut.store.db, { accountId: ACCOUNT, name: 'keys-team', createdAt: NOW });
    });
    after(async () => sut.dispose());

    test('insert, activeOf oldest first, setSecret, revoke drops the secret and hides the key from the lookup', async () => {
      const { store } = sut;
      const query = keys.secretLookupQuery(store.db);
      // Plain objects: a reader may hand rows out with a null prototype.
      const lookup = async (id: string) => (await store.readRows(query(id))).map((row) => ({ ...row }));
      await keys.insert(store.db, { accessKeyId: 'AKIAKEYS00000000002B', accountId: ACCOUNT, origin: 'created', secret: { sealedSecret: 'sealed-b', fingerprint: 'fp1' }, now: NOW + 2 });
      await keys.insert(store.db, { accessKeyId: 'AKIAKEYS00000000001A', accountId: ACCOUNT, origin: 'env', secret: { sealedSecret: 'sealed-a', fingerprint: 'fp1' }, now: NOW + 1 });
      assert.deepEqual((await keys.activeOf(store.db, ACCOUNT)).map((k) => [k.access_key_id, k.origin]), [
        ['AKIAKEYS00000000001A', 'env'],
        ['AKIAKEYS00000000002B', 'created'],
      ]);
      assert.deepEqual(await lookup('AKIAKEYS00000000001A'), [{ account_id: ACCOUNT, sealed_secret: 'sealed-a', master_key_fingerprint: 'fp1' }]);
      await keys.setSecret(store.db, 'AKIAKEYS00000000001A', { sealedSecret: 'sealed-a2', fingerprint: 'fp2' }, 'generated');
      assert.deepEqual(await lookup('AKIAKEYS00000000001A'), [{ account_id: ACCOUNT, sealed_secret: 'sealed-a2', master_key_fingerprint: 'fp2' }]);
      assert.equal((await keys.get(store.db, 'AKIAKEYS00000000001A'))?.origin, 'generated');
      assert.deepEqual(await keys.withPlainSecrets(store.db), []);
      await keys.revoke(store.db, ['AKIAKEYS00000000001A'], NOW + 5);
      await keys.revoke(store.db, ['AKIAKEYS00000000001A'], NOW + 9); // already deleted: keeps its first deletion time
      assert.equal((await keys.get(store.db, 'AKIAKEYS00000000001A'))?.deleted_at, NOW + 5);
      assert.deepEqual(await lookup('AKIAKEYS00000000001A'), []);
      assert.deepEqual((await keys.activeOf(store.db, ACCOUNT)).map((k) => k.access_key_id), ['AKIAKEYS00000000002B']);
      const revoked = await store.db.selectFrom('access_keys').select(['sealed_secret', 'master_key_fingerprint']).where('access_key_id', '=', 'AKIAKEYS00000000001A').executeTakeFirstOrThrow();
      assert.deepEqual({ ...revoked }, { sealed_secret: null, master_key_fingerprint: null });
      assert.equal(await keys.get(store.db, 'AKIAKEYSNOTHERE00000'), undefined);
    });

    test('sealingFingerprints lists each master key once; purgeOverwrittenPages runs on every dialect', async () => {
      const { store } = sut;
      await keys.insert(store.db, { accessKeyId: 'AKIAKEYS00000000003C', accountId: ACCOUNT, origin: 'created', secret: { sealedSecret: 'sealed-c', fingerprint: 'fp3' }, now: NOW + 3 });
      await keys.insert(store.db, { accessKeyId: 'AKIAKEYS00000000004D', accountId: ACCOUNT, origin: 'created', secret: { sealedSecret: 'sealed-d', fingerprint: 'fp3' }, now: NOW + 4 });
      // 2B (fp1) and the two above (fp3); 1A was revoked and holds no fingerprint any more.
      assert.deepEqual((await keys.sealingFingerprints(store.db)).sort(), ['fp1', 'fp3']);
      await keys.purgeOverwrittenPages(store.db, store.capabilities);
      assert.equal((await keys.get(store.db, 'AKIAKEYS00000000003C'))?.origin, 'created', 'the store still answers after the purge');
    });

    test('the root key bootstrap’s reads: withSecret, activeWithSecretsOf newest first, everHad, activeOfOrigins', async () => {
      const { store } = sut;
      const other = '210987654321';
      await accounts.insert(store.db, { accountId: other, name: 'bootstrap-team', createdAt: NOW });
      assert.equal(await keys.everHad(store.db, other), false);
      await keys.insert(store.db, { accessKeyId: 'AKIABOOT000000000001', accountId: other, origin: 'generated', secret: { sealedSecret: 's1', fingerprint: 'fp' }, now: NOW + 1 });
      await keys.insert(store.db, { accessKeyId: 'AKIABOOT000000000002', accountId: other, origin: 'environment', secret: { sealedSecret: 's2', fingerprint: 'fp' }, now: NOW + 2 });
      await keys.insert(store.db, { accessKeyId: 'AKIABOOT000000000003', accountId: other, origin: 'created', secret: { sealedSecret: 's3', fingerprint: 'fp' }, now: NOW + 3 });
      assert.equal(await keys.everHad(store.db, other), true);
      const row = (await keys.withSecret(store.db, 'AKIABOOT000000000002'))!;
      assert.deepEqual([row.account_id, row.origin, row.sealed_secret, row.master_key_fingerprint, row.plain_secret], [other, 'environment', 's2', 'fp', null]);
      assert.equal(await keys.withSecret(store.db, 'AKIABOOTNOTHERE00000'), undefined);
      assert.deepEqual((await keys.activeOfOrigins(store.db, other, ['generated', 'environment'], 'AKIABOOT000000000002')), ['AKIABOOT000000000001']);
      await keys.revoke(store.db, ['AKIABOOT000000000001'], NOW + 4);
      assert.deepEqual(await keys.activeOfOrigins(store.db, other, ['generated', 'environment'], 'AKIABOOT000000000002'), []);
      assert.deepEqual((await keys.activeWithSecretsOf(store.db, other)).map((k) => k.access_key_id), ['AKIABOOT000000000003', 'AKIABOOT000000000002']);
      assert.equal(await keys.everHad(store.db, other), true, 'a deleted key still counts');
    });
  });
}
