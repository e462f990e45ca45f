/**
 * The app configuration writes on every store dialect: replication parameters and launch configuration replace
 * what was there (members and groups not listed end with none), validations are replaced in order with the outputs
 * of the ones that stay kept, and a validation id held by another app is found.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { selectGroups, selectMembers, selectTenantApp, selectValidations } from '../../src/store/apps/appQueries.ts';
import {
  deleteAllValidations,
  replaceLaunchConfiguration,
  replaceReplicationParameters,
  replaceValidations,
  selectValidationHeldElsewhere,
  updateAppRow,
} from '../../src/store/apps/configQueries.ts';
import { selectValidationOutputs, upsertValidationOutput } from '../../src/store/apps/validationOutputs.ts';
import type { Database } from '../../src/store/schema.ts';
import { appRow, appValidationRow, groupRow, memberRow, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const output = (validationId: string) => ({ validation_id: validationId, app_id: 'app-1', account_id: TENANT.accountId, region: TENANT.region, source: 'NOTIFIED', status: 'SUCCEEDED', status_message: null, output_bucket: null, output_key: null, reported_at: T0 });

for (const dialect of storeDialects) {
  describe(`app configuration writes (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
      await db.insertInto('apps').values([appRow('app-1'), appRow('app-2')]).execute();
      await db.insertInto('app_server_groups').values([groupRow('app-1', 'g-1', 0), groupRow('app-1', 'g-2', 1)]).execute();
      await db.insertInto('app_servers').values([memberRow('app-1', 'g-1', 's-1', 0), memberRow('app-1', 'g-2', 's-2', 0)]).execute();
      await db.insertInto('app_validations').values(appValidationRow('app-2', 'v-other', 0)).execute();
    });
    after(() => under.dispose());

    test('replication parameters replace the previous ones', async () => {
      await replaceReplicationParameters(db, 'app-1', new Map([['s-1', '{"a":1}'], ['s-2', '{"b":2}']]));
      await replaceReplicationParameters(db, 'app-1', new Map([['s-2', '{"c":3}']]));
      assert.deepEqual((await selectMembers(db, 'app-1')).map((m) => [m.server_id, m.replication_parameters]), [['s-1', null], ['s-2', '{"c":3}']]);
      await replaceReplicationParameters(db, 'app-1', new Map());
      assert.deepEqual((await selectMembers(db, 'app-1')).map((m) => m.replication_parameters), [null, null]);
    });

    test('a launch configuration replaces the previous one, groups and members alike', async () => {
      await replaceLaunchConfiguration(db, 'app-1', new Map([['g-1', 2], ['g-2', 1]]), new Map([['s-1', '{"x":1}'], ['s-2', '{"y":2}']]));
      await replaceLaunchConfiguration(db, 'app-1', new Map([['g-2', 5], ['g-1', null]]), new Map([['s-2', '{"z":3}']]));
      assert.deepEqual((await selectGroups(db, 'app-1')).map((g) => [g.server_group_id, g.launch_order === null ? null : Number(g.launch_order)]), [['g-1', null], ['g-2', 5]]);
      assert.deepEqual((await selectMembers(db, 'app-1')).map((m) => m.launch_configuration), [null, '{"z":3}']);
    });

    test('validations are replaced in order; outputs of the ones that stay are kept', async () => {
      const row = (id: string, position: number) => appValidationRow('app-1', id, position);
      await replaceValidations(db, 'app-1', [row('v-1', 0), row('v-2', 1)]);
      await upsertValidationOutput(db, output('v-1'));
      await upsertValidationOutput(db, output('v-2'));
      await replaceValidations(db, 'app-1', [row('v-3', 0), row('v-2', 1)]);
      assert.deepEqual((await selectValidations(db, 'app-1')).map((v) => v.validation_id), ['v-3', 'v-2']);
      assert.deepEqual([...(await selectValidationOutputs(db, 'app-1')).keys()], ['v-2']);
      await replaceValidations(db, 'app-1', []);
      assert.deepEqual(await selectValidations(db, 'app-1'), []);
      assert.equal((await selectValidationOutputs(db, 'app-1')).size, 0);
      assert.equal((await selectValidations(db, 'app-2')).length, 1, "another app's validations are untouched");
    });

    test('a validation id held by another app is found; deleting all validations leaves other apps alone', async () => {
      assert.deepEqual({ ...(await selectValidationHeldElsewhere(db, 'app-1', ['v-new', 'v-other'])) }, { validation_id: 'v-other', app_id: 'app-2' });
      assert.equal(await selectValidationHeldElsewhere(db, 'app-2', ['v-other']), undefined);
      assert.equal(await selectValidationHeldElsewhere(db, 'app-1', []), undefined);
      await replaceValidations(db, 'app-1', [appValidationRow('app-1', 'v-4', 0)]);
      await upsertValidationOutput(db, output('v-4'));
      await deleteAllValidations(db, 'app-1');
      assert.deepEqual(await selectValidations(db, 'app-1'), []);
      assert.equal((await selectValidationOutputs(db, 'app-1')).size, 0);
      assert.equal((await selectValidations(db, 'app-2')).length, 1);
    });

    test('the app row takes a patch', async () => {
      await updateAppRow(db, 'app-1', { launch_configured: 1, auto_launch: 1, updated_at: T0 + 9 });
      const app = await selectTenantApp(db, TENANT, 'app-1');
      assert.deepEqual([Number(app?.launch_configured), Number(app?.auto_launch), Number(app?.updated_at)], [1, 1, T0 + 9]);
    });
  });
}
