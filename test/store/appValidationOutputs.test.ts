/**
 * The app-level validation queue's queries on every store dialect: queued outputs are found per app and across
 * apps, and a queued output moves on only for the caller that read its current version (one runner wins).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import {
  changeOutputIfCurrent,
  selectAppLevelValidations,
  selectAppsWithOutputs,
  selectOutputsIn,
  selectValidationOutputs,
  upsertValidationOutput,
} from '../../src/store/apps/validationOutputs.ts';
import type { Database } from '../../src/store/schema.ts';
import { appRow, appValidationRow, OTHER_TENANT, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const QUEUED = ['PENDING', 'IN_PROGRESS'];

function output(appId: string, validationId: string, status: string, source = 'SSM', tenant = TENANT) {
  return { validation_id: validationId, app_id: appId, account_id: tenant.accountId, region: tenant.region, source, status, status_message: null, output_bucket: null, output_key: null, reported_at: T0 };
}

for (const dialect of storeDialects) {
  describe(`app validation queue queries (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;
    before(async () => {
      under = await dialect.open();
      db = under.store.db;
      await db.insertInto('apps').values([appRow('app-1'), appRow('app-2', {}, OTHER_TENANT), appRow('app-3')]).execute();
      await db
        .insertInto('app_validations')
        .values([
          { ...appValidationRow('app-1', 'v-2', 1), configuration: '{"n":2}' },
          { ...appValidationRow('app-1', 'v-1', 0), configuration: '{"n":1}' },
          { ...appValidationRow('app-1', 'v-s', 2), kind: 'SERVER', server_id: 's-1', server_group_id: 'g-1' },
        ])
        .execute();
      await upsertValidationOutput(db, output('app-1', 'v-1', 'PENDING'));
      await upsertValidationOutput(db, output('app-1', 'v-2', 'SUCCEEDED'));
      await upsertValidationOutput(db, output('app-2', 'v-x', 'IN_PROGRESS', 'SSM', OTHER_TENANT));
      await upsertValidationOutput(db, output('app-3', 'v-y', 'PENDING', 'NOTIFIED'));
    });
    after(() => under.dispose());

    test('app-level validations come in their order with their configuration; server ones are left out', async () => {
      assert.deepEqual((await selectAppLevelValidations(db, 'app-1')).map((v) => ({ ...v })), [
        { validation_id: 'v-1', configuration: '{"n":1}' },
        { validation_id: 'v-2', configuration: '{"n":2}' },
      ]);
    });

    test('queued outputs of a source are found across apps and per app', async () => {
      assert.deepEqual((await selectAppsWithOutputs(db, 'SSM', QUEUED)).map((r) => ({ ...r })), [
        { app_id: 'app-1', account_id: TENANT.accountId, region: TENANT.region },
        { app_id: 'app-2', account_id: OTHER_TENANT.accountId, region: OTHER_TENANT.region },
      ]);
      assert.deepEqual((await selectOutputsIn(db, 'app-1', 'SSM', QUEUED)).map((r) => [r.validation_id, r.status, r.reported_at]), [['v-1', 'PENDING', T0]]);
      assert.deepEqual(await selectOutputsIn(db, 'app-3', 'SSM', QUEUED), [], 'another source is not queued work');
    });

    test('of two runners that read the same queued output, one moves it on', async () => {
      const change = { status: 'IN_PROGRESS', status_message: null, output_bucket: null, output_key: null, reported_at: T0 + 1 };
      const results = await Promise.all([
        changeOutputIfCurrent(db, 'v-1', { statuses: QUEUED, reportedAt: T0 }, change),
        changeOutputIfCurrent(db, 'v-1', { statuses: QUEUED, reportedAt: T0 }, change),
      ]);
      assert.deepEqual(results.sort(), [false, true]);
      const done = { status: 'SUCCEEDED', status_message: 'ok', output_bucket: 'b', output_key: 'k', reported_at: T0 + 2 };
      assert.equal(await changeOutputIfCurrent(db, 'v-1', { statuses: ['IN_PROGRESS'], reportedAt: T0 }, done), false, 'a stale version changes nothing');
      assert.equal(await changeOutputIfCurrent(db, 'v-1', { statuses: ['IN_PROGRESS'], reportedAt: T0 + 1 }, done), true);
      const stored = (await selectValidationOutputs(db, 'app-1')).get('v-1');
      assert.deepEqual([stored?.status, stored?.status_message, stored?.output_bucket, stored?.output_key, stored?.reported_at], ['SUCCEEDED', 'ok', 'b', 'k', T0 + 2]);
    });
  });
}
