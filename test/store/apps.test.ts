/**
 * The app repository on every store dialect: an app is found only in its tenant; groups, members, launch rows and
 * validations come back in their order; live jobs are counted through membership; removing an app removes what
 * belongs only to it; validation outputs are replaced by newer reports.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  countGroupsAndServers,
  countLiveJobs,
  countTenantApps,
  deleteApp,
  insertAppRow,
  selectAppById,
  selectAppByClientToken,
  selectAppIdsOfJobs,
  selectAppPage,
  selectLaunchRowOfInstance,
  selectGroups,
  selectLaunchRows,
  selectMembers,
  selectTenantApp,
  selectValidations,
  updateLaunchRow,
} from '../../src/store/apps/appQueries.ts';
import { selectValidationOutputs, upsertValidationOutput, validationConfigured } from '../../src/store/apps/validationOutputs.ts';
import type { Database } from '../../src/store/schema.ts';
import { appInstanceRow, appRow, appValidationRow, groupRow, jobRow, memberRow, OTHER_TENANT, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import type { Kysely } from 'kysely';

async function seedApp(db: Kysely<Database>, appId: string, prefix: string): Promise<void> {
  await db.insertInto('apps').values(appRow(appId, { launch_seq: 2 })).execute();
  // Groups and members inserted out of order: the queries order them.
  await db.insertInto('app_server_groups').values([groupRow(appId, `${prefix}-g2`, 1), groupRow(appId, `${prefix}-g1`, 0)]).execute();
  await db
    .insertInto('app_servers')
    .values([
      memberRow(appId, `${prefix}-g2`, `${prefix}-s3`, 0, `${prefix}-job-3`),
      memberRow(appId, `${prefix}-g1`, `${prefix}-s2`, 1, `${prefix}-job-2`),
      memberRow(appId, `${prefix}-g1`, `${prefix}-s1`, 0, `${prefix}-job-1`),
    ])
    .execute();
  await db
    .insertInto('app_instances')
    .values([appInstanceRow(appId, 1, `${prefix}-s1`, 0), appInstanceRow(appId, 2, `${prefix}-s3`, 1), appInstanceRow(appId, 2, `${prefix}-s1`, 0), appInstanceRow(appId, 2, `${prefix}-s2`, 0)])
    .execute();
  await db.insertInto('app_validations').values([appValidationRow(appId, `${prefix}-v2`, 1), appValidationRow(appId, `${prefix}-v1`, 0)]).execute();
}

for (const dialect of storeDialects) {
  describe(`app repository (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
      await seedApp(db, 'app-a', 'a');
      await seedApp(db, 'app-b', 'b');
      await db.insertInto('jobs').values([jobRow('a-job-1', 'a-s1', 'ACTIVE'), jobRow('a-job-2', 'a-s2', 'COMPLETED'), jobRow('a-job-3', 'a-s3', 'PAUSED_ON_FAILURE')]).execute();
    });
    after(() => under.dispose());

    test('an app is found only within its own tenant', async () => {
      const app = await selectTenantApp(db, TENANT, 'app-a');
      assert.equal(app?.app_id, 'app-a');
      assert.equal(Number(app?.launch_seq), 2);
      assert.equal(await selectTenantApp(db, OTHER_TENANT, 'app-a'), undefined);
      assert.equal(await selectTenantApp(db, TENANT, 'app-unknown'), undefined);
    });

    test('groups, members, launch rows and validations come back in their order', async () => {
      assert.deepEqual((await selectGroups(db, 'app-a')).map((g) => g.server_group_id), ['a-g1', 'a-g2']);
      assert.deepEqual((await selectMembers(db, 'app-a')).map((m) => m.server_id), ['a-s1', 'a-s2', 'a-s3'], 'group order, then position in the group');
      assert.deepEqual((await selectLaunchRows(db, 'app-a', 2)).map((r) => [r.server_id, Number(r.wave)]), [['a-s1', 0], ['a-s2', 0], ['a-s3', 1]], 'wave by wave, the latest launch only');
      assert.deepEqual((await selectLaunchRows(db, 'app-a', 1)).map((r) => r.server_id), ['a-s1']);
      assert.deepEqual((await selectValidations(db, 'app-a')).map((v) => v.validation_id), ['a-v1', 'a-v2']);
    });

    test('live jobs are the members\' jobs not in a terminal state', async () => {
      assert.equal(await countLiveJobs(db, 'app-a'), 2);
      assert.equal(await countLiveJobs(db, 'app-b'), 0, 'members whose jobs do not exist count for nothing');
    });

    test('a validation output is written, replaced by a newer report, and read back by validation', async () => {
      assert.equal(await validationConfigured(db, 'app-a', 'a-v1'), true);
      assert.equal(await validationConfigured(db, 'app-a', 'b-v1'), false, "another app's validation is not this one's");
      const output = { validation_id: 'a-v1', app_id: 'app-a', account_id: TENANT.accountId, region: TENANT.region, source: 'NOTIFIED', status: 'FAILED', status_message: 'first', output_bucket: null, output_key: null, reported_at: T0 };
      await upsertValidationOutput(db, output);
      await upsertValidationOutput(db, { ...output, status: 'SUCCEEDED', status_message: null, output_bucket: 'b', output_key: 'k', reported_at: T0 + 5 });
      const outputs = await selectValidationOutputs(db, 'app-a');
      assert.deepEqual([...outputs.keys()], ['a-v1']);
      assert.deepEqual({ ...outputs.get('a-v1') }, { ...output, status: 'SUCCEEDED', status_message: null, output_bucket: 'b', output_key: 'k', reported_at: T0 + 5 });
    });

    test('apps are counted per tenant, found by client token, and paged in creation order with their sizes', async () => {
      await insertAppRow(db, appRow('app-c', { client_token: 'token-1', request_hash: 'h' }));
      await insertAppRow(db, appRow('app-z', { client_token: 'token-1' }, OTHER_TENANT));
      assert.equal(await countTenantApps(db, TENANT), 3);
      assert.equal(await countTenantApps(db, OTHER_TENANT), 1);
      assert.equal((await selectAppByClientToken(db, TENANT, 'token-1'))?.app_id, 'app-c');
      assert.equal((await selectAppByClientToken(db, OTHER_TENANT, 'token-1'))?.app_id, 'app-z');
      assert.equal(await selectAppByClientToken(db, TENANT, 'token-2'), undefined);
      const first = await selectAppPage(db, TENANT, { limit: 2 });
      assert.deepEqual(first.map((a) => a.app_id), ['app-a', 'app-b']);
      const rest = await selectAppPage(db, TENANT, { limit: 2, afterSeq: Number(first[1]!.seq) });
      assert.deepEqual(rest.map((a) => a.app_id), ['app-c']);
      assert.deepEqual((await selectAppPage(db, TENANT, { limit: 10, appIds: ['app-c', 'app-a', 'app-z'] })).map((a) => a.app_id), ['app-a', 'app-c']);
      assert.deepEqual(Object.fromEntries(await countGroupsAndServers(db, ['app-a', 'app-c'])), { 'app-a': { groups: 2, servers: 3 }, 'app-c': { groups: 0, servers: 0 } });
      assert.deepEqual(await countGroupsAndServers(db, []), new Map());
      await deleteApp(db, 'app-c'); // the next test counts on the two seeded apps only
    });

    test('hooks find apps by id, by their members\' jobs, and launch rows by instance within the tenant', async () => {
      assert.equal((await selectAppById(db, 'app-a'))?.app_id, 'app-a');
      assert.equal(await selectAppById(db, 'app-unknown'), undefined);
      assert.deepEqual(await selectAppIdsOfJobs(db, ['b-job-1', 'a-job-2', 'a-job-3', 'job-unknown']), ['app-a', 'app-b']);
      assert.deepEqual(await selectAppIdsOfJobs(db, []), []);
      const [row] = await selectLaunchRows(db, 'app-a', 1);
      await updateLaunchRow(db, Number(row!.seq), { instance_id: 'i-launched', state: 'booting', updated_at: T0 + 1 });
      const found = await selectLaunchRowOfInstance(db, TENANT, 'i-launched');
      assert.deepEqual([found?.server_id, found?.state, Number(found?.updated_at)], ['a-s1', 'booting', T0 + 1]);
      assert.equal(await selectLaunchRowOfInstance(db, OTHER_TENANT, 'i-launched'), undefined, "another tenant's instance is not found");
    });

    test('removing an app removes everything that belongs only to it, in the caller\'s transaction', async () => {
      await upsertValidationOutput(db, { validation_id: 'b-v1', app_id: 'app-b', account_id: TENANT.accountId, region: TENANT.region, source: 'NOTIFIED', status: 'SUCCEEDED', status_message: null, output_bucket: null, output_key: null, reported_at: T0 });
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await deleteApp(trx, 'app-b');
          throw new Error('abandon');
        }),
        /abandon/,
      );
      assert.ok(await selectTenantApp(db, TENANT, 'app-b'), 'a rolled-back removal leaves the app');
      await db.transaction().execute((trx) => deleteApp(trx, 'app-b'));
      assert.equal(await selectTenantApp(db, TENANT, 'app-b'), undefined);
      assert.deepEqual(await selectGroups(db, 'app-b'), []);
      assert.deepEqual(await selectMembers(db, 'app-b'), []);
      assert.deepEqual(await selectLaunchRows(db, 'app-b', 2), []);
      assert.deepEqual(await selectValidations(db, 'app-b'), []);
      assert.equal((await selectValidationOutputs(db, 'app-b')).size, 0);
      assert.equal((await selectMembers(db, 'app-a')).length, 3, 'the other app is untouched');
      assert.equal(await countLiveJobs(db, 'app-a'), 2);
    });
  });
}
