/**
 * One catalog import, two connectors reporting at once (each through its own node, as in a cluster). An import
 * finishes when the last awaited connector's report commits; on PostgreSQL (READ COMMITTED) two last reports used to
 * read each other as still awaited, and the import stayed IMPORTING until it timed out (CI saw it: the cluster test's
 * catalog never became AVAILABLE). The first report is held open right after it read who is still awaited
 * (test/helpers/interleave.ts, `holdAfter`), the second runs until it waits on it or ends; then the first commits.
 * On SQLite the one writer orders them whatever happens: both run at once there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RootOperationNode } from 'kysely';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, coreOver } from '../helpers/storeFixtures.ts';
import { interleave } from '../helpers/interleave.ts';
import { applyInventory, expireCatalogImports, importCatalog } from '../../src/core/catalog.ts';
import * as catalog from '../../src/store/catalog/index.ts';
import type { Core } from '../../src/core/context.ts';
import type { Store } from '../../src/store/openStore.ts';
import type { InventoryEntry } from '../../src/domain/inventory.ts';

const NOW = 1_800_000_000_000;

/** The read of which connectors an import still awaits (store/connectors anAwaitedReporter). */
const readsAwaitedReporters = (node: RootOperationNode) => node.kind === 'SelectQueryNode' && JSON.stringify(node).includes('"last_inventory_at"');

const vm = (vmId: string): InventoryEntry => ({ vmId, vmName: vmId, vmPath: `/dc/vm/${vmId}`, replicable: true });

for (const dialect of storeDialects) {
  describe(`one catalog import, two connectors reporting at once (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    /** PostgreSQL: a second node on the same database. SQLite belongs to one process: the same store. */
    let otherNode: Store | undefined;
    let core: Core;
    let otherCore: Core;
    before(async () => {
      sut = await dialect.open(NOW);
      if (sut.store.capabilities.sharedByNodes) otherNode = await sut.reopen(NOW);
      core = coreOver(sut.store, NOW);
      otherCore = coreOver(otherNode ?? sut.store, NOW);
    });
    after(async () => {
      await otherNode?.close();
      await sut.dispose();
    });

    test('the report that commits second finishes the import: AVAILABLE, with both connectors\' servers', async () => {
      const a = await addConnector(sut.store, 'c-race-a', 'vc-race-a', NOW);
      const b = await addConnector(sut.store, 'c-race-b', 'vc-race-b', NOW);
      await importCatalog(core, TENANT);
      const first = () => applyInventory(core, a, [vm('vm-a')]);
      const second = () => applyInventory(otherCore, b, [vm('vm-b')]);
      let answers: { status: string }[];
      if (sut.store.capabilities.sharedByNodes) {
        const outcome = await interleave(sut.store, core, (holding) => applyInventory(holding, a, [vm('vm-a')]), second, { holdAfter: readsAwaitedReporters });
        assert.ifError(outcome.error);
        answers = [outcome.value!];
      } else {
        answers = await Promise.all([first(), second()]);
      }
      assert.ok(answers.some((answer) => answer.status === 'AVAILABLE'), `a report finished the import: ${JSON.stringify(answers)}`);
      assert.equal((await catalog.stateOf(sut.store.db, TENANT)).status, 'AVAILABLE');
      const servers = await catalog.catalogPage(sut.store.db, TENANT, { limit: 10, filters: [] });
      assert.deepEqual(servers.map((s) => s.vm_id).sort(), ['vm-a', 'vm-b']);
    });

    test('an import that times out while the last report commits is finished once, by one of them', async () => {
      const c = await addConnector(sut.store, 'c-race-c', 'vc-race-c', NOW);
      await importCatalog(core, TENANT);
      const events: string[] = [];
      otherCore.events.subscribe((event) => event.type === 'catalog.state' && events.push(event.status));
      core.events.subscribe((event) => event.type === 'catalog.state' && events.push(event.status));
      // Connectors a and b were awaited too: with heartbeats this old only c is (the policy's heartbeat timeout).
      const later = NOW + core.policy.catalogImportTimeoutMs;
      const lateCore = { ...core, clock: { now: () => later } };
      await sut.store.db.updateTable('connectors').set({ last_heartbeat_at: later }).where('connector_id', '=', c.connector_id).execute();
      const [report, expiry] = await Promise.allSettled([applyInventory(lateCore, c, [vm('vm-c')]), expireCatalogImports({ ...otherCore, clock: { now: () => later } }, later)]);
      assert.equal(expiry.status, 'fulfilled');
      if (report.status === 'fulfilled') {
        assert.equal(report.value.status, 'AVAILABLE', 'the report came first and finished the import');
      } else {
        // The expiry came first: the import fell back to the catalog it replaced, and the late report is refused.
        assert.equal((report.reason as Error).name, 'OperationNotPermittedException', String(report.reason));
      }
      assert.equal((await catalog.stateOf(sut.store.db, TENANT)).status, 'AVAILABLE');
      assert.deepEqual(events, ['AVAILABLE'], 'the import ended once, announced once');
    });
  });
}
