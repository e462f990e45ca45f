/**
 * Apps through the real AWS SDK (spec §7): CreateApp (with clientToken), GetApp, UpdateApp, DeleteApp, ListApps
 * (pagination, appIds), ImportAppCatalog — every error case with its modelled exception — plus the limits (50 apps,
 * 10 groups, 50 servers), a server in at most one app, and tenancy (another account's app or server is "not found").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAppCommand,
  DeleteAppCommand,
  GenerateChangeSetCommand,
  GenerateTemplateCommand,
  GetAppCommand,
  ImportAppCatalogCommand,
  LaunchAppCommand,
  ListAppsCommand,
  TerminateAppCommand,
  UpdateAppCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { createApp, ferryWithServers, groups, importServers, rejectsWith, type CatalogFerry } from '../helpers/apps.ts';
import { loadCatalog } from '../../src/core/apps/appCatalog.ts';

describe('CreateApp, GetApp, UpdateApp, DeleteApp', () => {
  let f: CatalogFerry;
  let sms: SMSClient;
  before(async () => {
    f = await ferryWithServers(8, { policy: { maxAppsPerAccount: 5, maxServerGroupsPerApp: 3, maxServersPerApp: 4 } });
    sms = f.t.sms;
  });
  after(() => f.t.close());

  test('CreateApp: an ACTIVE app with Ferry-assigned group ids, its servers as the catalog shows them, and its tags', async () => {
    const before = Date.now();
    const created = await sms.send(
      new CreateAppCommand({
        name: 'shop',
        description: 'the web shop',
        roleName: 'sms',
        serverGroups: [{ name: 'db', serverList: [{ serverId: f.servers[0] }] }, { serverList: [{ serverId: f.servers[1] }, { serverId: f.servers[2] }] }],
        tags: [{ key: 'team', value: 'web' }, { key: 'empty' }],
      }),
    );
    const s = created.appSummary!;
    assert.match(s.appId!, /^app-[0-9a-f]{17}$/);
    assert.equal(s.name, 'shop');
    assert.equal(s.description, 'the web shop');
    assert.equal(s.roleName, 'sms');
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.replicationConfigurationStatus, 'NOT_CONFIGURED');
    assert.equal(s.replicationStatus, 'READY_FOR_CONFIGURATION');
    assert.equal(s.launchConfigurationStatus, 'NOT_CONFIGURED');
    assert.equal(s.launchStatus, 'READY_FOR_CONFIGURATION');
    assert.equal(s.totalServerGroups, 2);
    assert.equal(s.totalServers, 3);
    assert.equal(s.importedAppId, undefined);
    assert.equal(s.launchDetails, undefined);
    assert.ok(s.creationTime!.getTime() >= before - 1000 && s.creationTime!.getTime() <= Date.now() + 1000);
    assert.deepEqual(created.tags, [{ key: 'team', value: 'web' }, { key: 'empty', value: '' }]);
    const [db, second] = created.serverGroups!;
    assert.match(db!.serverGroupId!, /^sg-[0-9a-f]{8}$/);
    assert.equal(db!.name, 'db');
    assert.equal(second!.name, 'Group 2', 'a group without a name gets one');
    assert.equal(db!.serverList![0]!.serverId, f.servers[0]);
    assert.equal(db!.serverList![0]!.vmServer?.vmServerAddress?.vmId, 'vm-0');
    assert.deepEqual(await sms.send(new GetAppCommand({ appId: s.appId })).then((r) => ({ ...r, $metadata: undefined })), { ...created, $metadata: undefined });
    await sms.send(new DeleteAppCommand({ appId: s.appId }));
  });

  test('CreateApp: an app without servers is allowed; errors name the member', async () => {
    const empty = await sms.send(new CreateAppCommand({ name: 'empty' }));
    assert.equal(empty.appSummary!.totalServers, 0);
    assert.deepEqual(empty.serverGroups, []);
    await rejectsWith(sms.send(new CreateAppCommand({ description: 'x' })), 'MissingRequiredParameterException', /name/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', serverGroups: [{ serverList: [{}] }] })), 'MissingRequiredParameterException', /serverGroups\[0\]\.serverList\[0\]\.serverId/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', tags: [{ value: 'v' }] })), 'MissingRequiredParameterException', /tags\[0\]\.key/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', serverGroups: groups(['s-00000000']) })), 'InvalidParameterException', /s-00000000 is not in the server catalog/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', serverGroups: groups([f.servers[0]!], [f.servers[0]!]) })), 'InvalidParameterException', /already listed/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', serverGroups: [{ serverGroupId: 'sg-12345678', serverList: [] }] })), 'InvalidParameterException', /assigned by Ferry/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', tags: [{ key: 'aws:owner', value: 'me' }] })), 'InvalidParameterException', /reserved/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'x', tags: [{ key: 'a' }, { key: 'a' }] })), 'InvalidParameterException', /twice/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'n'.repeat(256) })), 'InvalidParameterException', /at most 255/);
    await sms.send(new DeleteAppCommand({ appId: empty.appSummary!.appId }));
  });

  test('a server belongs to at most one app; deleting the app frees it', async () => {
    const first = await createApp(sms, 'first', [f.servers[3]!]);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'second', serverGroups: groups([f.servers[3]!]) })), 'InvalidParameterException', new RegExp(`${f.servers[3]} already belongs to app ${first.appId}`));
    const other = await createApp(sms, 'other', [f.servers[4]!]);
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: other.appId, serverGroups: groups([f.servers[4]!, f.servers[3]!]) })), 'InvalidParameterException', /belongs to at most one app/);
    await sms.send(new DeleteAppCommand({ appId: first.appId }));
    await rejectsWith(sms.send(new GetAppCommand({ appId: first.appId })), 'InvalidParameterException', /does not exist/);
    const updated = await sms.send(new UpdateAppCommand({ appId: other.appId, serverGroups: groups([f.servers[4]!, f.servers[3]!]) }));
    assert.equal(updated.appSummary!.totalServers, 2);
    await sms.send(new DeleteAppCommand({ appId: other.appId }));
  });

  test('clientToken: a retried CreateApp returns the same app; the token reused for another request is refused', async () => {
    const request = { name: 'idem', clientToken: 'token-1', serverGroups: groups([f.servers[5]!]) };
    const a = await sms.send(new CreateAppCommand(request));
    const b = await sms.send(new CreateAppCommand(request));
    assert.equal(b.appSummary!.appId, a.appSummary!.appId);
    assert.deepEqual(b.serverGroups, a.serverGroups);
    const listed = (await sms.send(new ListAppsCommand({}))).apps!.filter((x) => x.name === 'idem');
    assert.equal(listed.length, 1);
    await rejectsWith(sms.send(new CreateAppCommand({ ...request, name: 'other name' })), 'InvalidParameterException', /clientToken "token-1" was already used/);
    await sms.send(new DeleteAppCommand({ appId: a.appSummary!.appId }));
  });

  test('UpdateApp replaces what it is given: name, description, role, tags, groups (ids kept, servers moved)', async () => {
    const app = await createApp(sms, 'upd', [f.servers[0]!], [f.servers[1]!]);
    const [g1, g2] = app.serverGroups!;
    const renamed = await sms.send(new UpdateAppCommand({ appId: app.appId, name: 'upd2', description: 'd', roleName: 'r', tags: [{ key: 'k', value: 'v' }] }));
    assert.equal(renamed.appSummary!.name, 'upd2');
    assert.equal(renamed.appSummary!.description, 'd');
    assert.equal(renamed.appSummary!.roleName, 'r');
    assert.deepEqual(renamed.tags, [{ key: 'k', value: 'v' }]);
    assert.deepEqual(renamed.serverGroups, app.serverGroups, 'groups untouched when not given');
    const regrouped = await sms.send(
      new UpdateAppCommand({
        appId: app.appId,
        serverGroups: [
          { serverGroupId: g2!.serverGroupId, name: 'renamed', serverList: [{ serverId: f.servers[1] }, { serverId: f.servers[0] }] },
          { name: 'new', serverList: [{ serverId: f.servers[2] }] },
        ],
      }),
    );
    assert.equal(regrouped.serverGroups![0]!.serverGroupId, g2!.serverGroupId);
    assert.equal(regrouped.serverGroups![0]!.name, 'renamed');
    assert.deepEqual(regrouped.serverGroups![0]!.serverList!.map((s) => s.serverId), [f.servers[1], f.servers[0]]);
    assert.notEqual(regrouped.serverGroups![1]!.serverGroupId, g1!.serverGroupId);
    assert.equal(regrouped.appSummary!.totalServerGroups, 2);
    assert.ok(regrouped.appSummary!.lastModified!.getTime() >= app.appSummary!.lastModified!.getTime());
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: app.appId, serverGroups: [{ serverGroupId: 'sg-00000000', serverList: [] }] })), 'InvalidParameterException', /not part of app/);
    await rejectsWith(sms.send(new UpdateAppCommand({ name: 'x' })), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: 'app-00000000000000000', name: 'x' })), 'InvalidParameterException', /does not exist/);
    await sms.send(new DeleteAppCommand({ appId: app.appId }));
  });

  test('limits: 3 groups and 4 servers per app, 5 apps per account (policy; SMS: 10, 50, 50) → OperationNotPermittedException', async () => {
    const one = (i: number) => [f.servers[i]!];
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'g', serverGroups: groups(one(0), one(1), one(2), one(3)) })), 'OperationNotPermittedException', /at most 3 server groups/);
    await rejectsWith(sms.send(new CreateAppCommand({ name: 's', serverGroups: groups(f.servers.slice(0, 5)) })), 'OperationNotPermittedException', /at most 4 servers/);
    const app = await createApp(sms, 'lim', f.servers.slice(0, 4));
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: app.appId, serverGroups: groups(f.servers.slice(0, 5)) })), 'OperationNotPermittedException', /at most 4 servers/);
    const more = [];
    for (let i = 0; i < 4; i++) more.push(await createApp(sms, `more-${i}`));
    await rejectsWith(sms.send(new CreateAppCommand({ name: 'sixth' })), 'OperationNotPermittedException', /already has 5 apps.*limit is 5/);
    for (const a of [app, ...more]) await sms.send(new DeleteAppCommand({ appId: a.appId }));
  });

  test('GetApp and DeleteApp need an appId and an existing app', async () => {
    await rejectsWith(sms.send(new GetAppCommand({})), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new GetAppCommand({ appId: 'app-00000000000000000' })), 'InvalidParameterException', /does not exist/);
    await rejectsWith(sms.send(new DeleteAppCommand({})), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new DeleteAppCommand({ appId: 'not-an-app' })), 'InvalidParameterException');
  });

  test('LaunchApp, TerminateApp, GenerateTemplate and GenerateChangeSet say what is missing before anything else', async () => {
    const app = await createApp(sms, 'noports', [f.servers[6]!]);
    await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launch configuration|no image/);
    await rejectsWith(sms.send(new TerminateAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launched instances/);
    await rejectsWith(sms.send(new GenerateTemplateCommand({ appId: app.appId })), 'OperationNotPermittedException', /GenerateTemplate needs a launch configuration/);
    await rejectsWith(sms.send(new GenerateChangeSetCommand({ appId: app.appId })), 'OperationNotPermittedException', /LaunchApp first/);
    await rejectsWith(sms.send(new GenerateTemplateCommand({ appId: app.appId, templateFormat: 'XML' as never })), 'InvalidParameterException', /JSON, YAML/);
    for (const Command of [LaunchAppCommand, TerminateAppCommand, GenerateTemplateCommand, GenerateChangeSetCommand]) {
      await rejectsWith(sms.send(new Command({})), 'MissingRequiredParameterException', /appId/);
    }
    await sms.send(new DeleteAppCommand({ appId: app.appId }));
  });
});

describe('ListApps', () => {
  let f: CatalogFerry;
  before(async () => (f = await ferryWithServers(1, { policy: { maxAppsPerAccount: 200 } })));
  after(() => f.t.close());

  test('pages of 100 by default, tokens that never repeat, maxResults, appIds', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 103; i++) ids.push((await f.t.sms.send(new CreateAppCommand({ name: `app-${i}` }))).appSummary!.appId!);
    const first = await f.t.sms.send(new ListAppsCommand({}));
    assert.equal(first.apps!.length, 100);
    assert.ok(first.nextToken);
    const second = await f.t.sms.send(new ListAppsCommand({ nextToken: first.nextToken }));
    assert.equal(second.apps!.length, 3);
    assert.equal(second.nextToken, undefined, 'no token on the last page');
    assert.deepEqual([...first.apps!, ...second.apps!].map((a) => a.appId), ids, 'oldest first, each once');

    const tokens = new Set<string>();
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await f.t.sms.send(new ListAppsCommand({ maxResults: 7, nextToken: token }));
      assert.ok(page.apps!.length <= 7);
      seen.push(...page.apps!.map((a) => a.appId!));
      token = page.nextToken;
      if (token) {
        assert.ok(!tokens.has(token), 'a token never repeats');
        tokens.add(token);
      }
    } while (token);
    assert.deepEqual(seen, ids);

    const chosen = [ids[5]!, ids[50]!, 'app-0000000000000000f'];
    const filtered = await f.t.sms.send(new ListAppsCommand({ appIds: chosen }));
    assert.deepEqual(filtered.apps!.map((a) => a.appId), [ids[5], ids[50]]);
    const filteredPage = await f.t.sms.send(new ListAppsCommand({ appIds: chosen, maxResults: 1 }));
    await rejectsWith(f.t.sms.send(new ListAppsCommand({ nextToken: filteredPage.nextToken })), 'InvalidParameterException', /nextToken/);
    await rejectsWith(f.t.sms.send(new ListAppsCommand({ maxResults: 0 })), 'InvalidParameterException', /maxResults/);
    await rejectsWith(f.t.sms.send(new ListAppsCommand({ nextToken: 'garbage' })), 'InvalidParameterException', /nextToken/);
    await rejectsWith(f.t.sms.send(new ListAppsCommand({ appIds: Array.from({ length: 101 }, (_, i) => `app-${i}`) })), 'InvalidParameterException', /at most 100/);
    const summary = filtered.apps![0]!;
    assert.equal(summary.status, 'ACTIVE');
    assert.equal(summary.totalServers, 0);
  });
});

describe('ImportAppCatalog', () => {
  let f: CatalogFerry;
  before(async () => (f = await ferryWithServers(6, { policy: { maxAppsPerAccount: 3 } })));
  after(() => f.t.close());
  const tenant = () => ({ accountId: f.t.ferry.root.accountId, region: 'us-east-1' });

  test('imports the operator-loaded catalog: servers by id or VM id, only those in the catalog and in no other app', async () => {
    const sms = f.t.sms;
    await rejectsWith(sms.send(new ImportAppCatalogCommand({})), 'OperationNotPermittedException', /ferry apps catalog load/);
    const taken = await createApp(sms, 'owner', [f.servers[5]!]);
    await loadCatalog(f.t.ferry.core, tenant(), [
      { id: 'mh-web', name: 'web', description: 'from the catalog', servers: [f.servers[0]!, 'vm-1', { vmManagerId: 'vcenter-1', vmId: 'vm-2' }, 'vm-99', f.servers[5]!] },
      { id: 'mh-db', name: 'db', servers: ['vm-3'] },
    ]);
    await sms.send(new ImportAppCatalogCommand({ roleName: 'migrationhub' }));
    const apps = (await sms.send(new ListAppsCommand({}))).apps!.filter((a) => a.importedAppId);
    assert.deepEqual(apps.map((a) => [a.importedAppId, a.name, a.totalServers, a.roleName]), [['mh-web', 'web', 3, 'migrationhub'], ['mh-db', 'db', 1, 'migrationhub']]);
    const web = await sms.send(new GetAppCommand({ appId: apps[0]!.appId }));
    assert.deepEqual(web.serverGroups![0]!.serverList!.map((s) => s.serverId), f.servers.slice(0, 3));
    assert.equal(web.serverGroups![0]!.name, 'default');
    assert.equal(web.appSummary!.description, 'from the catalog');

    await rejectsWith(sms.send(new UpdateAppCommand({ appId: web.appSummary!.appId, name: 'renamed' })), 'OperationNotPermittedException', /imported.*ImportAppCatalog/);

    // A re-import refreshes the imported apps from their entries, keeping their ids.
    await loadCatalog(f.t.ferry.core, tenant(), [{ id: 'mh-web', name: 'web v2', servers: ['vm-4'] }, { id: 'mh-db', name: 'db', servers: ['vm-3'] }]);
    await sms.send(new ImportAppCatalogCommand({}));
    const again = await sms.send(new GetAppCommand({ appId: web.appSummary!.appId }));
    assert.equal(again.appSummary!.name, 'web v2');
    assert.deepEqual(again.serverGroups![0]!.serverList!.map((s) => s.serverId), [f.servers[4]]);

    // The app limit holds for the whole import: nothing is imported when it would be exceeded.
    await loadCatalog(f.t.ferry.core, tenant(), [{ id: 'mh-a', name: 'a', servers: [] }, { id: 'mh-b', name: 'b', servers: [] }]);
    await rejectsWith(sms.send(new ImportAppCatalogCommand({})), 'OperationNotPermittedException', /limit is 3/);
    assert.equal((await sms.send(new ListAppsCommand({}))).apps!.length, 3);
    await sms.send(new DeleteAppCommand({ appId: taken.appId }));
  });
});

describe('tenancy: apps are per account and region', () => {
  let f: CatalogFerry;
  let bob: SMSClient;
  let aliceEu: SMSClient;
  before(async () => {
    f = await ferryWithServers(2);
    const keys = await f.t.createAccount('bob');
    bob = f.t.client(keys);
    const bobConnector = await f.t.connector({ accountId: keys.accountId });
    await bobConnector.register();
    await importServers(bob, bobConnector, 2, 'bobvm');
    aliceEu = f.t.client(f.t.ferry.root, 'eu-west-1');
  });
  after(() => f.t.close());

  test("another account's app id is not found, and its servers cannot be taken", async () => {
    const app = await createApp(f.t.sms, 'alice', [f.servers[0]!]);
    for (const client of [bob, aliceEu]) {
      await rejectsWith(client.send(new GetAppCommand({ appId: app.appId })), 'InvalidParameterException', /does not exist/);
      await rejectsWith(client.send(new UpdateAppCommand({ appId: app.appId, name: 'mine' })), 'InvalidParameterException', /does not exist/);
      await rejectsWith(client.send(new DeleteAppCommand({ appId: app.appId })), 'InvalidParameterException', /does not exist/);
      await rejectsWith(client.send(new LaunchAppCommand({ appId: app.appId })), 'InvalidParameterException', /does not exist/);
      assert.deepEqual((await client.send(new ListAppsCommand({}))).apps, []);
      assert.deepEqual((await client.send(new ListAppsCommand({ appIds: [app.appId] }))).apps, []);
      await rejectsWith(client.send(new CreateAppCommand({ name: 'steal', serverGroups: groups([f.servers[1]!]) })), 'InvalidParameterException', /not in the server catalog/);
    }
    assert.equal((await f.t.sms.send(new GetAppCommand({ appId: app.appId }))).appSummary!.name, 'alice');
  });
});
