/**
 * The application catalog and key pair queries on every store dialect: the catalog replaced as a whole and read in
 * load order, import results, and what ImportAppCatalog reads beside it (cataloged servers, imported apps, server
 * owners), each within its tenant; key pairs by name, counted, listed and deleted per tenant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import * as appCatalog from '../../src/store/apps/appCatalogQueries.ts';
import * as keyPairs from '../../src/store/apps/keyPairQueries.ts';
import { insertGroup, insertMember } from '../../src/store/apps/membershipQueries.ts';
import type { Database } from '../../src/store/schema.ts';
import { appRow, groupRow, memberRow, OTHER_TENANT, serverRow, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const entry = (id: string) => ({ imported_app_id: id, name: `app ${id}`, description: null, servers: JSON.stringify([`vm-${id}`]), loaded_at: T0, import_result: null });

for (const dialect of storeDialects) {
  describe(`app catalog and key pair queries (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
    });
    after(() => under.dispose());

    test('the application catalog is replaced whole, read in load order, and keeps each import result', async () => {
      await appCatalog.replaceAppCatalog(db, TENANT, [entry('b'), entry('a')]);
      await appCatalog.replaceAppCatalog(db, OTHER_TENANT, [entry('x')]);
      const loaded = await appCatalog.selectAppCatalog(db, TENANT);
      assert.deepEqual(loaded.map((e) => e.imported_app_id), ['b', 'a']);
      await appCatalog.setImportResult(db, loaded[1]!.seq, 'imported as app-1');
      assert.deepEqual((await appCatalog.selectAppCatalog(db, TENANT)).map((e) => e.import_result), [null, 'imported as app-1']);
      await appCatalog.replaceAppCatalog(db, TENANT, [entry('c')]);
      assert.deepEqual((await appCatalog.selectAppCatalog(db, TENANT)).map((e) => [e.imported_app_id, e.servers]), [['c', '["vm-c"]']]);
      assert.deepEqual((await appCatalog.selectAppCatalog(db, OTHER_TENANT)).map((e) => e.imported_app_id), ['x'], 'another tenant keeps its catalog');
    });

    test('what an import reads: the tenant’s cataloged servers, its imported apps, and who holds which server', async () => {
      await db.insertInto('servers').values([serverRow('s-c1', true), serverRow('s-c2', false), serverRow('s-c9', true, OTHER_TENANT)]).execute();
      await db.insertInto('apps').values([appRow('app-imp', { imported_app_id: 'c' }), appRow('app-own'), appRow('app-far', { imported_app_id: 'x' }, OTHER_TENANT)]).execute();
      await insertGroup(db, groupRow('app-own', 'g-own', 0));
      await insertMember(db, memberRow('app-own', 'g-own', 's-c1', 0));
      assert.deepEqual((await appCatalog.selectCatalogedServerRefs(db, TENANT)).map((s) => s.server_id), ['s-c1']);
      assert.deepEqual((await appCatalog.selectImportedApps(db, TENANT)).map((a) => [a.app_id, a.imported_app_id]), [['app-imp', 'c']]);
      assert.deepEqual((await appCatalog.selectServerOwners(db, TENANT)).map((m) => ({ ...m })), [{ server_id: 's-c1', app_id: 'app-own' }]);
      assert.deepEqual(await appCatalog.selectServerOwners(db, OTHER_TENANT), []);
    });

    test('key pairs: by name within the tenant, listed by name, counted, deleted once', async () => {
      const key = (name: string) => ({ key_name: name, key_type: 'ssh-ed25519', public_key: `ssh-ed25519 AAAA ${name}`, fingerprint: `fp-${name}`, created_at: T0 });
      await keyPairs.insertKeyPair(db, TENANT, key('zeta'));
      await keyPairs.insertKeyPair(db, TENANT, key('alpha'));
      await keyPairs.insertKeyPair(db, OTHER_TENANT, key('alpha'));
      await assert.rejects(keyPairs.insertKeyPair(db, TENANT, key('alpha')), 'names are unique per tenant');
      assert.equal((await keyPairs.selectKeyPair(db, TENANT, 'zeta'))?.fingerprint, 'fp-zeta');
      assert.equal(await keyPairs.selectKeyPair(db, OTHER_TENANT, 'zeta'), undefined);
      assert.deepEqual((await keyPairs.selectKeyPairs(db, TENANT)).map((k) => k.key_name), ['alpha', 'zeta']);
      assert.equal(await keyPairs.countKeyPairs(db, TENANT), 2);
      assert.equal(await keyPairs.deleteKeyPair(db, TENANT, 'alpha'), true);
      assert.equal(await keyPairs.deleteKeyPair(db, TENANT, 'alpha'), false);
      assert.equal(await keyPairs.countKeyPairs(db, TENANT), 1);
      assert.equal(await keyPairs.countKeyPairs(db, OTHER_TENANT), 1);
    });
  });
}
