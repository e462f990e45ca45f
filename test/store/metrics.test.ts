/**
 * The metrics counts on every store dialect: jobs, runs, apps and instances counted by state or status through the
 * committed-data reader, the times a histogram observes, and the connectors whose health is reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  countAppsBy,
  countByState,
  countInstancesByState,
  countLiveInstancesByHydration,
  instanceTimes,
  registeredConnectors,
  runTimes,
  type MetricsReader,
} from '../../src/store/metrics/metricCounts.ts';
import { insertInstanceRow } from '../../src/store/instances/instanceQueries.ts';
import { instanceDb, type InstanceRow } from '../../src/store/instances/instanceTables.ts';
import { appRow, jobRow, T0, TENANT } from '../helpers/storeRows.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

function instance(id: string, state: InstanceRow['state'], hydration: InstanceRow['hydration'], times: Partial<InstanceRow> = {}): InstanceRow {
  return {
    instance_id: id,
    account_id: TENANT.accountId,
    region: TENANT.region,
    app_id: null,
    server_id: 's-1',
    ami_id: 'ami-1',
    domain_name: `ferry-${id}`,
    state,
    state_message: null,
    hydration,
    hydration_message: null,
    plan: '{}',
    inputs: null,
    console_nonce: 'n',
    launched_at: T0,
    boot_started_at: null,
    boot_deadline_at: null,
    booted_at: null,
    validation_deadline_at: null,
    hydrated_at: null,
    terminated_at: null,
    updated_at: T0,
    ...times,
  };
}

function run(runId: string, jobId: string, state: string, startedAt: number | null, completedAt: number | null) {
  return {
    replication_run_id: runId,
    replication_job_id: jobId,
    account_id: TENANT.accountId,
    region: TENANT.region,
    type: 'AUTOMATIC',
    state,
    scheduled_start_time: T0,
    started_at: startedAt,
    completed_time: completedAt,
    status_message: null,
    stage: null,
    stage_progress: null,
    ami_id: null,
    ami_deleted: 0,
    description: null,
    encrypted: 0,
    kms_key_id: null,
    connector_id: null,
    lease_expires_at: null,
    miss_at: null,
    progress: null,
    created_at: T0,
    updated_at: T0,
  };
}

function connector(id: string, registeredAt: number | null, disassociatedAt: number | null) {
  return {
    connector_id: id,
    account_id: TENANT.accountId,
    region: TENANT.region,
    token_hash: `hash-${id}`,
    label: null,
    created_at: T0,
    registered_at: registeredAt,
    vm_manager_type: null,
    vm_manager_name: null,
    vm_manager_id: null,
    version: null,
    capabilities: '[]',
    ip_address: null,
    mac_address: null,
    last_heartbeat_at: registeredAt,
    reported_status: null,
    status_message: null,
    disassociated_at: disassociatedAt,
    last_inventory_at: null,
  };
}

for (const dialect of storeDialects) {
  describe(`metrics counts (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let reader: MetricsReader;
    before(async () => {
      under = await dialect.open();
      reader = under.store;
      const { db } = under.store;
      await db.insertInto('jobs').values([jobRow('j-1', 's-1', 'ACTIVE'), jobRow('j-2', 's-2', 'ACTIVE'), jobRow('j-3', 's-3', 'COMPLETED')]).execute();
      await db.insertInto('runs').values([run('r-1', 'j-1', 'COMPLETED', T0 + 1000, T0 + 61_000), run('r-2', 'j-2', 'ACTIVE', T0, null)]).execute();
      await db
        .insertInto('apps')
        .values([
          appRow('app-1', { replication_status: 'REPLICATED', launch_status: 'LAUNCHED' }),
          appRow('app-2', { replication_status: 'REPLICATED' }),
          appRow('app-3', { replication_status: 'REPLICATION_FAILED' }),
        ])
        .execute();
      const idb = instanceDb(db);
      await insertInstanceRow(idb, instance('i-1', 'running', 'hydrated', { booted_at: T0 + 20_000, hydrated_at: T0 + 90_000 }), []);
      await insertInstanceRow(idb, instance('i-2', 'running', 'hydrating', { booted_at: T0 + 30_000 }), []);
      await insertInstanceRow(idb, instance('i-3', 'terminated', 'hydrating'), []);
      await db.insertInto('connectors').values([connector('c-1', T0, null), connector('c-2', T0, T0 + 1), connector('c-3', null, null)]).execute();
    });
    after(() => under.dispose());

    test('jobs and runs by state', async () => {
      assert.deepEqual(Object.fromEntries(await countByState(reader, 'jobs')), { ACTIVE: 2, COMPLETED: 1 });
      assert.deepEqual(Object.fromEntries(await countByState(reader, 'runs')), { ACTIVE: 1, COMPLETED: 1 });
    });

    test('apps by replication and launch status', async () => {
      assert.deepEqual(Object.fromEntries(await countAppsBy(reader, 'replication_status')), { REPLICATED: 2, REPLICATION_FAILED: 1 });
      assert.deepEqual(Object.fromEntries(await countAppsBy(reader, 'launch_status')), { LAUNCHED: 1, READY_FOR_CONFIGURATION: 2 });
    });

    test('instances by state, and those not terminated by hydration', async () => {
      assert.deepEqual(Object.fromEntries(await countInstancesByState(reader)), { running: 2, terminated: 1 });
      assert.deepEqual(Object.fromEntries(await countLiveInstancesByHydration(reader)), { hydrated: 1, hydrating: 1 });
    });

    test('the times the duration histograms observe', async () => {
      assert.deepEqual(await runTimes(reader, 'r-1'), { startedAt: T0 + 1000, completedAt: T0 + 61_000 });
      assert.deepEqual(await runTimes(reader, 'r-2'), { startedAt: T0, completedAt: null });
      assert.equal(await runTimes(reader, 'r-unknown'), undefined);
      assert.deepEqual(await instanceTimes(reader, 'i-1'), { launchedAt: T0, bootedAt: T0 + 20_000, hydratedAt: T0 + 90_000 });
      assert.deepEqual(await instanceTimes(reader, 'i-3'), { launchedAt: T0, bootedAt: null, hydratedAt: null });
      assert.equal(await instanceTimes(reader, 'i-unknown'), undefined);
    });

    test('connectors registered and still associated', async () => {
      assert.deepEqual((await registeredConnectors(reader)).map((c) => c.connector_id), ['c-1']);
    });
  });
}
