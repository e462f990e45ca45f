/**
 * The connectors repository's contract, held against every store dialect: tokens find only associated connectors,
 * registration and heartbeats write what they report, the health lookup and the page see only registered,
 * associated connectors of the tenant, and disassociation waits for the connector's live jobs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, addJob, addServer } from '../helpers/storeFixtures.ts';
import * as connectors from '../../src/store/connectors/index.ts';

const NOW = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`connectors repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('an issued connector is found by its token hash until it registers and after; disassociated, never', async () => {
      const { db } = sut.store;
      await connectors.insertIssued(db, { ...TENANT, connectorId: 'c-issued', tokenHash: 'h-issued', label: 'rack 4', now: NOW });
      const issued = (await connectors.byTokenHash(db, 'h-issued'))!;
      assert.deepEqual([issued.connector_id, issued.label, issued.registered_at, issued.capabilities], ['c-issued', 'rack 4', null, '[]']);
      assert.equal(await connectors.associatedInTenant(db, TENANT, 'c-issued'), undefined, 'not registered yet');
      const reg = { vmManagerType: 'VSPHERE', vmManagerName: 'vc', vmManagerId: 'vcenter-r', version: '2.0', capabilities: ['VSPHERE'], ipAddress: '10.0.0.4' };
      await connectors.register(db, issued, reg as never, NOW + 10);
      await connectors.register(db, (await connectors.byTokenHash(db, 'h-issued'))!, reg as never, NOW + 20);
      const registered = (await connectors.associatedInTenant(db, TENANT, 'c-issued'))!;
      assert.deepEqual(
        [registered.registered_at, registered.last_heartbeat_at, registered.vm_manager_id, registered.capabilities, registered.ip_address, registered.mac_address],
        [NOW + 10, NOW + 20, 'vcenter-r', '["VSPHERE"]', '10.0.0.4', null],
      );
      await connectors.heartbeat(db, 'c-issued', { status: 'UNHEALTHY', message: 'disk full' }, NOW + 30);
      const beat = (await connectors.byTokenHash(db, 'h-issued'))!;
      assert.deepEqual([beat.last_heartbeat_at, beat.reported_status, beat.status_message], [NOW + 30, 'UNHEALTHY', 'disk full']);
      assert.equal(await connectors.isAssociated(db, 'c-issued'), true);
      await connectors.disassociate(db, 'c-issued', NOW + 40);
      assert.equal(await connectors.byTokenHash(db, 'h-issued'), undefined);
      assert.equal(await connectors.isAssociated(db, 'c-issued'), false);
      assert.equal(await connectors.isAssociated(db, 'c-never'), false);
    });

    test('recentlySeen: heartbeat window, VM manager or reporter, tenant; page: in sequence after a cursor', async () => {
      const { store } = sut;
      await addConnector(store, 'c-seen-fresh', 'vcenter-1', NOW);
      await addConnector(store, 'c-seen-stale', 'vcenter-1', NOW - 60_000);
      const other = await addConnector(store, 'c-seen-other', 'vcenter-2', NOW);
      const ids = (rows: { connector_id: string }[]) => rows.map((r) => r.connector_id).sort();
      assert.deepEqual(ids(await connectors.recentlySeen(store.db, TENANT, NOW - 1_000, 'vcenter-1')), ['c-seen-fresh']);
      assert.deepEqual(ids(await connectors.recentlySeen(store.db, TENANT, NOW - 1_000, 'vcenter-1', other.connector_id)), ['c-seen-fresh', 'c-seen-other']);
      assert.deepEqual(ids(await connectors.recentlySeen(store.db, TENANT, NOW - 120_000, null)), ['c-seen-fresh', 'c-seen-other', 'c-seen-stale']);
      assert.deepEqual(await connectors.recentlySeen(store.db, { ...TENANT, region: 'eu-west-1' }, 0, null), []);
      const first = await connectors.page(store.db, TENANT, undefined, 2);
      assert.equal(first.length, 2);
      const rest = await connectors.page(store.db, TENANT, first[1]!.seq, 10);
      assert.deepEqual([...first, ...rest].map((c) => c.connector_id), ['c-seen-fresh', 'c-seen-stale', 'c-seen-other']);
      assert.ok(rest.every((c) => c.seq > first[1]!.seq));
    });

    test('aLiveJobServedBy: a job of the connector’s servers that is not over, none once it is', async () => {
      const { store } = sut;
      const c = await addConnector(store, 'c-serving', 'vcenter-s', NOW);
      assert.equal(await connectors.aLiveJobServedBy(store.db, c.connector_id), undefined);
      const job = await addJob(store, 'sms-job-serving', await addServer(store, 's-serving', c.connector_id, 'vcenter-s', NOW), 'PAUSED_ON_FAILURE', NOW);
      assert.equal(await connectors.aLiveJobServedBy(store.db, c.connector_id), job.replication_job_id);
      await store.db.updateTable('jobs').set({ state: 'COMPLETED' }).where('replication_job_id', '=', job.replication_job_id).execute();
      assert.equal(await connectors.aLiveJobServedBy(store.db, c.connector_id), undefined);
    });

    test('allAssociated: the tenant’s registered, associated connectors in sequence', async () => {
      const { store } = sut;
      const before = (await connectors.allAssociated(store.db, TENANT)).map((c) => c.connector_id);
      await addConnector(store, 'c-all-1', 'vcenter-all', NOW);
      await addConnector(store, 'c-all-2', null, NOW);
      await connectors.disassociate(store.db, 'c-all-1', NOW + 1);
      await connectors.insertIssued(store.db, { ...TENANT, connectorId: 'c-all-issued', tokenHash: 'h-all', label: null, now: NOW });
      assert.deepEqual((await connectors.allAssociated(store.db, TENANT)).map((c) => c.connector_id), [...before, 'c-all-2']);
      assert.deepEqual(await connectors.allAssociated(store.db, { ...TENANT, region: 'ap-south-1' }), []);
    });
  });
}
