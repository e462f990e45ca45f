/**
 * The app membership queries on every store dialect: catalog and ownership checks, groups written and removed,
 * members moved (their server validations follow) and removed (with their validations and outputs).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { selectGroups, selectMembers, selectValidations } from '../../src/store/apps/appQueries.ts';
import {
  deleteGroups,
  deleteMembers,
  insertGroup,
  insertMember,
  moveMember,
  selectCatalogedServerIds,
  selectServerHeldElsewhere,
  updateGroup,
} from '../../src/store/apps/membershipQueries.ts';
import { selectValidationOutputs, upsertValidationOutput } from '../../src/store/apps/validationOutputs.ts';
import type { Database } from '../../src/store/schema.ts';
import { appRow, appValidationRow, groupRow, memberRow, OTHER_TENANT, serverRow, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

for (const dialect of storeDialects) {
  describe(`app membership queries (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
      await db.insertInto('servers').values([serverRow('s-1', true), serverRow('s-2', true), serverRow('s-3', false), serverRow('s-9', true, OTHER_TENANT)]).execute();
      await db.insertInto('apps').values([appRow('app-1'), appRow('app-2')]).execute();
      await insertGroup(db, groupRow('app-1', 'g-1', 0));
      await insertMember(db, memberRow('app-1', 'g-1', 's-1', 0));
    });
    after(() => under.dispose());

    test('only the tenant\'s cataloged servers count as cataloged', async () => {
      assert.deepEqual([...(await selectCatalogedServerIds(db, TENANT, ['s-1', 's-2', 's-3', 's-9', 's-unknown']))].sort(), ['s-1', 's-2']);
      assert.deepEqual(await selectCatalogedServerIds(db, TENANT, []), new Set());
    });

    test('a server held by another app is found; the app itself does not count', async () => {
      assert.deepEqual({ ...(await selectServerHeldElsewhere(db, 'app-2', ['s-2', 's-1'])) }, { server_id: 's-1', app_id: 'app-1' });
      assert.deepEqual({ ...(await selectServerHeldElsewhere(db, null, ['s-1'])) }, { server_id: 's-1', app_id: 'app-1' });
      assert.equal(await selectServerHeldElsewhere(db, 'app-1', ['s-1', 's-2']), undefined);
      assert.equal(await selectServerHeldElsewhere(db, null, []), undefined);
    });

    test('groups are renamed, reordered and removed; members move with their server validations', async () => {
      await insertGroup(db, groupRow('app-1', 'g-2', 1));
      await insertMember(db, memberRow('app-1', 'g-1', 's-2', 1));
      await db.insertInto('app_validations').values({ ...appValidationRow('app-1', 'v-s2', 0), kind: 'SERVER', server_group_id: 'g-1', server_id: 's-2' }).execute();
      await updateGroup(db, 'g-2', { name: 'first now', position: 0 });
      await updateGroup(db, 'g-1', { name: 'second now', position: 1 });
      assert.deepEqual((await selectGroups(db, 'app-1')).map((g) => [g.server_group_id, g.name]), [['g-2', 'first now'], ['g-1', 'second now']]);
      await moveMember(db, 'app-1', 's-2', 'g-2', 0);
      assert.deepEqual((await selectMembers(db, 'app-1')).map((m) => [m.server_id, m.server_group_id]), [['s-2', 'g-2'], ['s-1', 'g-1']]);
      assert.equal((await selectValidations(db, 'app-1'))[0]?.server_group_id, 'g-2', 'the server validation followed its server');

      await upsertValidationOutput(db, { validation_id: 'v-s2', app_id: 'app-1', account_id: TENANT.accountId, region: TENANT.region, source: 'NOTIFIED', status: 'SUCCEEDED', status_message: null, output_bucket: null, output_key: null, reported_at: T0 });
      await deleteMembers(db, 'app-1', ['s-2']);
      assert.deepEqual((await selectMembers(db, 'app-1')).map((m) => m.server_id), ['s-1']);
      assert.deepEqual(await selectValidations(db, 'app-1'), [], 'a leaving server takes its validations');
      assert.equal((await selectValidationOutputs(db, 'app-1')).size, 0, 'and their outputs');
      await deleteMembers(db, 'app-1', []);
      await deleteGroups(db, ['g-2']);
      await deleteGroups(db, []);
      assert.deepEqual((await selectGroups(db, 'app-1')).map((g) => g.server_group_id), ['g-1']);
    });
  });
}
