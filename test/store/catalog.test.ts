/**
 * The catalog repository's contract, held against every store dialect: each tenant's catalog state, the imports the
 * scheduler times out, reported VMs written by (vmManagerId, vmId) so their server ids stay, taking servers out of
 * the catalog, the connector's served page, GetServers' page and its VM address filters; and the connectors'
 * inventory facts an import waits on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector } from '../helpers/storeFixtures.ts';
import * as catalog from '../../src/store/catalog/index.ts';
import * as connectors from '../../src/store/connectors/index.ts';

const NOW = 1_800_000_000_000;
const OTHER = { accountId: TENANT.accountId, region: 'eu-west-1' };

const reported = (vmId: string, connectorId: string, vmManagerId: string, fields: Partial<catalog.ReportedServer> = {}): catalog.ReportedServer => ({
  vm_manager_id: vmManagerId,
  vm_id: vmId,
  connector_id: connectorId,
  vm_manager_name: `vc ${vmManagerId}`,
  vm_manager_type: 'VSPHERE',
  vm_name: `name-${vmId}`,
  vm_path: `/dc/${vmId}`,
  replicable: 1,
  unsupported_reason: null,
  in_catalog: 1,
  details: null,
  updated_at: NOW,
  ...fields,
});

for (const dialect of storeDialects) {
  describe(`catalog repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('catalog state per tenant: NOT_IMPORTED until saved; imports to time out and the oldest request', async () => {
      const { db } = sut.store;
      assert.deepEqual(await catalog.stateOf(db, TENANT), { status: 'NOT_IMPORTED', last_modified_on: null, import_requested_at: null, status_before_import: null });
      assert.equal(await catalog.oldestImportRequest(db), null);
      await catalog.saveState(db, TENANT, { status: 'IMPORTING', last_modified_on: null, import_requested_at: NOW + 10, status_before_import: 'NOT_IMPORTED' });
      await catalog.saveState(db, OTHER, { status: 'IMPORTING', last_modified_on: NOW, import_requested_at: NOW + 5, status_before_import: 'AVAILABLE' });
      assert.deepEqual({ ...(await catalog.stateOf(db, TENANT)) }, { status: 'IMPORTING', last_modified_on: null, import_requested_at: NOW + 10, status_before_import: 'NOT_IMPORTED' });
      assert.equal(await catalog.catalogStatus(db, OTHER), 'IMPORTING');
      assert.deepEqual({ ...(await catalog.importState(db, OTHER)) }, { status: 'IMPORTING', import_requested_at: NOW + 5 });
      assert.equal(await catalog.oldestImportRequest(db), NOW + 5);
      assert.deepEqual((await catalog.importsRequestedBy(db, NOW + 7)).map((c) => [c.region, c.status_before_import]), [['eu-west-1', 'AVAILABLE']]);
      assert.equal((await catalog.importsRequestedBy(db, NOW + 10)).length, 2);
      await catalog.saveState(db, OTHER, { status: 'AVAILABLE', last_modified_on: NOW + 20, import_requested_at: null, status_before_import: null });
      assert.equal(await catalog.oldestImportRequest(db), NOW + 10);
      assert.equal(await catalog.catalogStatus(db, OTHER), 'AVAILABLE');
    });

    test('upsertReported inserts new VMs under fresh ids and updates known ones in place; takenIds; removal', async () => {
      const { db } = sut.store;
      await catalog.upsertReported(db, TENANT, [reported('vm-1', 'c-1', 'vc-1'), reported('vm-2', 'c-1', 'vc-1')], ['s-cat00001', 's-cat00002']);
      await catalog.upsertReported(db, TENANT, [reported('vm-2', 'c-2', 'vc-1', { vm_name: 'renamed', replicable: 0, unsupported_reason: 'no disks' }), reported('vm-3', 'c-2', 'vc-1')], ['s-unused01', 's-cat00003']);
      await catalog.upsertReported(db, OTHER, [reported('vm-1', 'c-1', 'vc-1')], ['s-other001']);
      const two = (await catalog.get(db, 's-cat00002'))!;
      assert.deepEqual([two.connector_id, two.vm_name, two.replicable, two.unsupported_reason], ['c-2', 'renamed', 0, 'no disks']);
      assert.equal(await catalog.get(db, 's-unused01'), undefined, 'a known VM keeps its id');
      assert.deepEqual([...(await catalog.takenIds(db, ['s-cat00001', 's-free0001', 's-other001']))].sort(), ['s-cat00001', 's-other001']);
      assert.deepEqual([...(await catalog.takenIds(db, []))], []);

      const all = await catalog.catalogPage(db, TENANT, { limit: 10, filters: [] });
      assert.deepEqual(all.map((s) => s.server_id), ['s-cat00001', 's-cat00002', 's-cat00003']);
      const after = await catalog.catalogPage(db, TENANT, { after: all[0]!.seq, limit: 1, filters: [] });
      assert.deepEqual(after.map((s) => s.server_id), ['s-cat00002']);
      const filtered = await catalog.catalogPage(db, TENANT, { limit: 10, filters: [{ vmManagerId: 'vc-1', vmId: 'vm-3' }, { vmId: 'vm-1' }] });
      assert.deepEqual(filtered.map((s) => s.server_id), ['s-cat00001', 's-cat00003']);
      assert.equal((await catalog.catalogPage(db, TENANT, { limit: 10, filters: [{}] })).length, 3, 'an empty filter matches every server');

      const served = await catalog.servedPage(db, TENANT, { connector_id: 'c-2', vm_manager_id: null }, 0, 10);
      assert.deepEqual(served.map((s) => s.server_id), ['s-cat00002', 's-cat00003']);
      const byManager = await catalog.servedPage(db, TENANT, { connector_id: 'c-9', vm_manager_id: 'vc-1' }, served[0]!.seq, 10);
      assert.deepEqual(byManager.map((s) => s.server_id), ['s-cat00003']);

      await catalog.removeFromCatalog(db, ['s-cat00001'], NOW + 1);
      await catalog.removeFromCatalog(db, [], NOW + 1);
      assert.deepEqual((await catalog.catalogPage(db, TENANT, { limit: 10, filters: [] })).map((s) => s.server_id), ['s-cat00002', 's-cat00003']);
      assert.equal((await catalog.get(db, 's-cat00001'))?.updated_at, NOW + 1);
      await catalog.removeTenantFromCatalog(db, TENANT, NOW + 2);
      assert.deepEqual(await catalog.catalogPage(db, TENANT, { limit: 10, filters: [] }), []);
      assert.equal((await catalog.catalogPage(db, OTHER, { limit: 10, filters: [] })).length, 1, 'another tenant keeps its catalog');
    });

    test('connectors: inventory marks, the reporter an import awaits, any inventory since', async () => {
      const { store } = sut;
      await addConnector(store, 'c-inv-a', 'vc-inv', NOW);
      await addConnector(store, 'c-inv-b', 'vc-inv', NOW - 60_000); // heartbeat too old: not awaited
      assert.equal(await connectors.anAwaitedReporter(store.db, TENANT, NOW - 1_000, NOW), 'c-inv-a');
      assert.equal(await connectors.anyInventorySince(store.db, TENANT, NOW), false);
      await connectors.markInventoried(store.db, 'c-inv-a', NOW + 5);
      assert.equal(await connectors.anAwaitedReporter(store.db, TENANT, NOW - 1_000, NOW), undefined);
      assert.equal(await connectors.anAwaitedReporter(store.db, TENANT, NOW - 1_000, NOW + 6), 'c-inv-a', 'an inventory from before the import does not count');
      assert.equal(await connectors.anyInventorySince(store.db, TENANT, NOW + 5), true);
      assert.equal(await connectors.anyInventorySince(store.db, OTHER, 0), false);
      await connectors.heartbeat(store.db, 'c-inv-a', { status: 'UNHEALTHY', message: 'x' }, NOW + 7);
      assert.equal(await connectors.anAwaitedReporter(store.db, TENANT, NOW - 1_000, NOW + 6), undefined, 'an unhealthy connector is not waited for');
    });
  });
}
