/**
 * The instance repository on every store dialect: rows come back as written (times as numbers), listings are per
 * tenant and app in launch order, a change applies only in the expected state, the first validation result wins,
 * and the launch owner id is written once.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  ensureLaunchOwner,
  failPendingValidationRows,
  insertInstanceRow,
  selectInstance,
  selectInstanceStatus,
  selectInstancesReadingImage,
  selectLiveInstances,
  selectTenantInstances,
  selectValidations,
  updateInstanceInState,
  updatePendingValidation,
} from '../../src/store/instances/instanceQueries.ts';
import { instanceDb, type InstanceExecutor, type InstanceRow, type ValidationRow } from '../../src/store/instances/instanceTables.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const T1 = { accountId: '111111111111', region: 'us-east-1' };
const T2 = { accountId: '222222222222', region: 'us-east-1' };
const NOW = 1_800_000_000_000;

function instance(id: string, extra: Partial<InstanceRow> = {}): InstanceRow {
  return {
    instance_id: id,
    account_id: T1.accountId,
    region: T1.region,
    app_id: null,
    server_id: 's-12345678',
    ami_id: 'ami-00000001',
    domain_name: `ferry-${id}`,
    state: 'pending',
    state_message: null,
    hydration: 'none',
    hydration_message: null,
    plan: '{"vcpus":1}',
    inputs: null,
    console_nonce: 'nonce',
    launched_at: NOW,
    boot_started_at: null,
    boot_deadline_at: NOW + 60_000,
    booted_at: null,
    validation_deadline_at: null,
    hydrated_at: null,
    terminated_at: null,
    updated_at: NOW,
    ...extra,
  };
}

const validation = (instanceId: string, validationId: string, position: number): ValidationRow => ({ instance_id: instanceId, validation_id: validationId, position, name: `check ${position}`, status: 'PENDING', message: null, at: null });

for (const dialect of storeDialects) {
  describe(`instance repository (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: InstanceExecutor;
    before(async () => {
      under = await dialect.open();
      db = instanceDb(under.store.db);
    });
    after(() => under.dispose());
    beforeEach(async () => {
      await db.deleteFrom('instance_validations').execute();
      await db.deleteFrom('instances').execute();
    });

    test('an inserted instance reads back as written, with its validations in order', async () => {
      const row = instance('i-0000000000000001', { app_id: 'app-1', inputs: '{"userData":null}' });
      await insertInstanceRow(db, row, [validation(row.instance_id, 'v-2', 1), validation(row.instance_id, 'v-1', 0)]);
      assert.deepEqual(await selectInstance(db, row.instance_id), row);
      assert.equal(await selectInstance(db, 'i-unknown'), undefined);
      const validations = await selectValidations(db, [row.instance_id, 'i-unknown']);
      assert.deepEqual(validations.get(row.instance_id)?.map((v) => [v.validation_id, v.position]), [['v-1', 0], ['v-2', 1]]);
      assert.equal(validations.has('i-unknown'), false);
      assert.deepEqual(await selectValidations(db, []), new Map());
    });

    test('listings: per tenant and app in launch order, live ones, and those still reading an image', async () => {
      await insertInstanceRow(db, instance('i-a', { app_id: 'app-1' }), []);
      await insertInstanceRow(db, instance('i-b', { account_id: T2.accountId }), []);
      await insertInstanceRow(db, instance('i-c', { app_id: 'app-2', state: 'terminated', terminated_at: NOW }), []);
      await insertInstanceRow(db, instance('i-d', { app_id: 'app-1', state: 'running', hydration: 'hydrated', hydrated_at: NOW }), []);
      await insertInstanceRow(db, instance('i-e', { state: 'failed', ami_id: 'ami-00000001' }), []);
      await insertInstanceRow(db, instance('i-f', { state: 'running', hydration: 'hydrating', ami_id: 'ami-00000002' }), []);
      const ids = (rows: InstanceRow[]) => rows.map((r) => r.instance_id);
      assert.deepEqual(ids(await selectTenantInstances(db, T1)), ['i-a', 'i-c', 'i-d', 'i-e', 'i-f']);
      assert.deepEqual(ids(await selectTenantInstances(db, T1, 'app-1')), ['i-a', 'i-d']);
      assert.deepEqual(ids(await selectTenantInstances(db, T2)), ['i-b']);
      assert.deepEqual(ids(await selectLiveInstances(db)), ['i-a', 'i-b', 'i-d', 'i-e', 'i-f']);
      assert.deepEqual(await selectInstancesReadingImage(db, 'ami-00000001'), ['i-a', 'i-b']);
      assert.deepEqual(await selectInstancesReadingImage(db, 'ami-00000002'), ['i-f']);
    });

    test('a change applies only while the instance is in the expected state', async () => {
      await insertInstanceRow(db, instance('i-a'), []);
      assert.equal(await updateInstanceInState(db, 'i-a', 'running', { state: 'terminated' }, NOW + 1), false);
      assert.equal(await updateInstanceInState(db, 'i-a', 'pending', { state: 'running', booted_at: NOW + 2 }, NOW + 3), true);
      const row = await selectInstance(db, 'i-a');
      assert.deepEqual([row?.state, row?.booted_at, row?.updated_at], ['running', NOW + 2, NOW + 3]);
      assert.deepEqual(await selectInstanceStatus(db, 'i-a'), { state: 'running', hydration: 'none' });
      assert.equal(await updateInstanceInState(db, 'i-a', 'pending', { state: 'failed' }, NOW + 4), false, 'a stale expectation changes nothing');
      assert.equal(await updateInstanceInState(db, 'i-unknown', 'pending', { state: 'failed' }, NOW), false);
    });

    test('the first validation result wins; the rest still pending can be failed at once', async () => {
      await insertInstanceRow(db, instance('i-a'), [validation('i-a', 'v-1', 0), validation('i-a', 'v-2', 1), validation('i-a', 'v-3', 2)]);
      assert.equal(await updatePendingValidation(db, 'i-a', { validationId: 'v-1', status: 'SUCCEEDED', message: 'ok' }, NOW), true);
      assert.equal(await updatePendingValidation(db, 'i-a', { validationId: 'v-1', status: 'FAILED', message: 'late' }, NOW + 1), false);
      assert.equal(await failPendingValidationRows(db, 'i-a', 'the guest never reported', NOW + 2), 2);
      assert.equal(await failPendingValidationRows(db, 'i-a', 'again', NOW + 3), 0);
      const rows = (await selectValidations(db, ['i-a'])).get('i-a')!;
      assert.deepEqual(
        rows.map((v) => [v.validation_id, v.status, v.message, v.at]),
        [
          ['v-1', 'SUCCEEDED', 'ok', NOW],
          ['v-2', 'FAILED', 'the guest never reported', NOW + 2],
          ['v-3', 'FAILED', 'the guest never reported', NOW + 2],
        ],
      );
    });

    test('the launch owner id is written once, whoever asks first', async () => {
      const [first, second] = await Promise.all([ensureLaunchOwner(db, 'owner-a', NOW), ensureLaunchOwner(db, 'owner-b', NOW)]);
      assert.equal(first, second);
      assert.equal(await ensureLaunchOwner(db, 'owner-c', NOW), first);
      assert.ok(['owner-a', 'owner-b'].includes(first));
    });

    test('queries run inside the caller\'s transaction and roll back with it', async () => {
      await assert.rejects(
        under.store.db.transaction().execute(async (trx) => {
          await insertInstanceRow(instanceDb(trx), instance('i-rolled-back'), [validation('i-rolled-back', 'v-1', 0)]);
          assert.ok(await selectInstance(instanceDb(trx), 'i-rolled-back'), 'the transaction sees its own insert');
          throw new Error('abandon');
        }),
        /abandon/,
      );
      assert.equal(await selectInstance(db, 'i-rolled-back'), undefined);
      assert.deepEqual(await selectValidations(db, ['i-rolled-back']), new Map());
    });
  });
}
