/**
 * Two writers of one app, interleaved deterministically on every dialect (test/helpers/interleave.ts): the App
 * operations decide from the app's row, its members and its jobs, and the app status hook derives the app's status
 * from all of its jobs. On PostgreSQL each read what the other had not committed yet (docs/store.md, "Read-then-write
 * decisions"); each case asserts what the second leaves when it runs strictly after the first, as on SQLite.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, addServer, coreOver } from '../helpers/storeFixtures.ts';
import { interleave } from '../helpers/interleave.ts';
import type { Core } from '../../src/core/context.ts';
import { createApp } from '../../src/core/apps/apps.ts';
import { importAppCatalog, loadCatalog } from '../../src/core/apps/appCatalog.ts';
import { putReplicationConfiguration } from '../../src/core/apps/replicationConfig.ts';
import { startAppReplication } from '../../src/core/apps/appReplication.ts';
import { appStatusHook } from '../../src/core/apps/refreshApps.ts';
import { claimRuns, failRun } from '../../src/core/runs.ts';
import * as catalog from '../../src/store/catalog/index.ts';
import type { ConnectorRow } from '../../src/store/rows.ts';

const NOW = 1_800_000_000_000;
const OPTIONS = { launchAvailable: false };

for (const dialect of storeDialects) {
  describe(`one app, two writers (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    let core: Core;
    let n = 0;
    before(async () => {
      sut = await dialect.open(NOW);
      core = coreOver(sut.store, NOW);
      (core.beforeCommit ??= []).push(appStatusHook(core, () => OPTIONS));
      await catalog.saveState(sut.store.db, TENANT, { status: 'AVAILABLE', last_modified_on: NOW, import_requested_at: null, status_before_import: null });
    });
    after(async () => sut.dispose());

    /** A connector of its own (so its claims take this case's runs only) and `count` servers it reported. */
    async function servers(count: number): Promise<{ connector: ConnectorRow; serverIds: string[] }> {
      const i = n++;
      const connector = await addConnector(sut.store, `c-app-race-${i}`, `vcenter-app-race-${i}`, NOW);
      const serverIds: string[] = [];
      for (let s = 0; s < count; s++) serverIds.push((await addServer(sut.store, `s-app-race-${i}-${s}`, connector.connector_id, connector.vm_manager_id!, NOW)).server_id);
      return { connector, serverIds };
    }

    async function appOf(serverIds: string[]): Promise<{ appId: string; groupId: string }> {
      const snapshot = await createApp(core, TENANT, { name: `app-${serverIds[0]}`, serverGroups: [{ name: 'g', serverList: serverIds.map((serverId) => ({ serverId })) }] }, OPTIONS);
      return { appId: snapshot.app.app_id, groupId: snapshot.groups[0]!.server_group_id };
    }

    const configure = (app: { appId: string; groupId: string }, serverIds: string[], parameters: { runOnce?: boolean; frequency?: number }) =>
      putReplicationConfiguration(
        core,
        TENANT,
        {
          appId: app.appId,
          serverGroupReplicationConfigurations: [
            { serverGroupId: app.groupId, serverReplicationConfigurations: serverIds.map((serverId) => ({ server: { serverId }, serverReplicationParameters: { seedTime: new Date(NOW), ...parameters } })) },
          ],
        },
        OPTIONS,
      );

    const appRow = (appId: string) => sut.store.db.selectFrom('apps').selectAll().where('app_id', '=', appId).executeTakeFirstOrThrow();

    test('both servers\' runs fail side by side: the app reads REPLICATION_FAILED, not the status each saw alone', async () => {
      const { connector, serverIds } = await servers(2);
      const app = await appOf(serverIds);
      await configure(app, serverIds, { runOnce: true });
      await startAppReplication(core, TENANT, app.appId, OPTIONS);
      const claimed = await claimRuns(core, connector, 2);
      assert.equal(claimed.length, 2);
      assert.equal((await appRow(app.appId)).replication_status, 'REPLICATION_IN_PROGRESS');
      const second = await interleave(
        sut.store,
        core,
        (holding) => failRun(holding, connector, claimed[0]!.replicationRunId, 'disk 0 unreadable'),
        () => failRun(core, connector, claimed[1]!.replicationRunId, 'disk 1 unreadable'),
      );
      assert.equal(second.error, undefined, `${second.error?.name}: ${second.error?.message}`);
      assert.equal((await appRow(app.appId)).replication_status, 'REPLICATION_FAILED');
    });

    test('PutAppReplicationConfiguration beside StartAppReplication: refused once the app replicates, its jobs\' configuration kept', async () => {
      const { serverIds } = await servers(1);
      const app = await appOf(serverIds);
      await configure(app, serverIds, { frequency: 12 });
      const second = await interleave(
        sut.store,
        core,
        (holding) => startAppReplication(holding, TENANT, app.appId, OPTIONS),
        () => configure(app, serverIds, { frequency: 24 }),
      );
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the configuration answered ${second.error?.message ?? 'success'}`);
      const stored = await appRow(app.appId);
      assert.deepEqual([stored.replication_phase, stored.replication_status], ['STARTED', 'REPLICATION_PENDING']);
      const member = await sut.store.db.selectFrom('app_servers').select('replication_parameters').where('server_id', '=', serverIds[0]!).executeTakeFirstOrThrow();
      assert.equal(JSON.parse(member.replication_parameters!).frequency, 12);
    });

    test('two CreateApp with one server: the second is told which app holds it', async () => {
      const { serverIds } = await servers(1);
      const input = (name: string) => ({ name, serverGroups: [{ name: 'g', serverList: [{ serverId: serverIds[0]! }] }] });
      const second = await interleave(
        sut.store,
        core,
        (holding) => createApp(holding, TENANT, input('first-owner'), OPTIONS),
        () => createApp(core, TENANT, input('second-owner'), OPTIONS),
      );
      assert.equal(second.error?.name, 'InvalidParameterException', `the second create answered ${second.error?.message ?? 'success'}`);
      assert.match(second.error!.message, /already belongs to app/);
    });

    test('two CreateApp with one clientToken: the second returns the first\'s app', async () => {
      const input = { name: 'tokened', clientToken: `token-${n++}` };
      let firstAppId = '';
      const second = await interleave(
        sut.store,
        core,
        async (holding) => (firstAppId = (await createApp(holding, TENANT, input, OPTIONS)).app.app_id),
        () => createApp(core, TENANT, input, OPTIONS),
      );
      assert.equal(second.error, undefined, `${second.error?.name}: ${second.error?.message}`);
      assert.equal(second.value!.app.app_id, firstAppId);
    });

    test('two ImportAppCatalog at once: each catalog entry is one app, each server in one app', async () => {
      const { serverIds } = await servers(2);
      await loadCatalog(core, TENANT, [
        { id: 'race-import-a', name: 'a', servers: [serverIds[0]!] },
        { id: 'race-import-b', name: 'b', servers: [serverIds[1]!] },
      ]);
      const second = await interleave(
        sut.store,
        core,
        (holding) => importAppCatalog(holding, TENANT, undefined, OPTIONS),
        () => importAppCatalog(core, TENANT, undefined, OPTIONS),
      );
      assert.equal(second.error, undefined, `${second.error?.name}: ${second.error?.message}`);
      const imported = await sut.store.db.selectFrom('apps').select(['app_id', 'imported_app_id']).where('imported_app_id', 'in', ['race-import-a', 'race-import-b']).execute();
      assert.deepEqual(imported.map((a) => a.imported_app_id).sort(), ['race-import-a', 'race-import-b'], 'one app per entry');
      const owners = await sut.store.db.selectFrom('app_servers').select(['server_id', 'app_id']).where('server_id', 'in', serverIds).execute();
      assert.equal(owners.length, 2, `each server in one app: ${JSON.stringify(owners)}`);
    });

    test('two CreateApp at the account\'s last free app: the second is refused', async () => {
      const count = (await sut.store.db.selectFrom('apps').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
      const limited: Core = { ...core, policy: { ...core.policy, maxAppsPerAccount: Number(count) + 1 } };
      const second = await interleave(
        sut.store,
        limited,
        (holding) => createApp(holding, TENANT, { name: 'last-free-1' }, OPTIONS),
        () => createApp(limited, TENANT, { name: 'last-free-2' }, OPTIONS),
      );
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the second create answered ${second.error?.message ?? 'success'}`);
    });
  });
}
