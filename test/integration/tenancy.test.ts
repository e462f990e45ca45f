/**
 * Tenancy (spec §2 "partition all state by (account, region)"): two accounts, and two regions of one account,
 * each with its own connector, catalog, job and runs. The connectors report the same VM manager id and the same
 * VM ids, so nothing but the tenant tells their data apart. No tenant can see or change another's data.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  DeleteServerCatalogCommand,
  DisassociateConnectorCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  UpdateReplicationJobCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { amiId, ConnectorApiError, vms, type TestConnector } from '../helpers/testConnector.ts';

interface Tenant {
  name: string;
  accountId: string;
  region: string;
  sms: SMSClient;
  connector: TestConnector;
  serverIds: string[];
  jobId: string;
  /** The job's first (completed) run. */
  runId: string;
}

describe('tenancy: accounts and regions are isolated', () => {
  let t: TestFerry;
  const tenants: Tenant[] = [];

  before(async () => {
    t = await startTestFerry();
    const alice = await t.createAccount('alice');
    const bob = await t.createAccount('bob');
    const specs = [
      { name: 'alice/us-east-1', keys: alice, region: 'us-east-1' },
      { name: 'bob/us-east-1', keys: bob, region: 'us-east-1' },
      { name: 'alice/eu-west-1', keys: alice, region: 'eu-west-1' },
    ];
    for (const [i, spec] of specs.entries()) {
      const sms = t.client(spec.keys, spec.region);
      const connector = await t.connector({ accountId: spec.keys.accountId, region: spec.region });
      if (i === 1) {
        // Before bob has a connector of his own, alice's do not count for him.
        await assert.rejects(sms.send(new ImportServerCatalogCommand({})), { name: 'NoConnectorsAvailableException' });
        assert.deepEqual(await sms.send(new GetConnectorsCommand({})).then((r) => r.connectorList), []);
        const servers = await sms.send(new GetServersCommand({}));
        assert.equal(servers.serverCatalogStatus, 'NOT_IMPORTED');
        assert.deepEqual(servers.serverList, []);
      }
      const registered = await connector.register({ vmManagerId: 'vcenter-1' });
      assert.equal((registered as Record<string, unknown>).accountId, spec.keys.accountId);
      assert.equal((registered as Record<string, unknown>).region, spec.region);
      await sms.send(new ImportServerCatalogCommand({}));
      assert.equal((await connector.heartbeat()).catalogImportRequested, true);
      assert.equal((await connector.inventory(vms(3))).status, 'AVAILABLE');
      const serverIds = (await sms.send(new GetServersCommand({}))).serverList!.map((s) => s.serverId!);
      assert.equal(serverIds.length, 3);
      const { replicationJobId } = await sms.send(
        new CreateReplicationJobCommand({ serverId: serverIds[0]!, seedReplicationTime: new Date(), frequency: 12 }),
      );
      const run = await connector.claimWhenDue();
      assert.equal(run.replicationJobId, replicationJobId);
      await connector.completeWithImage(run.replicationRunId);
      tenants.push({ name: spec.name, accountId: spec.keys.accountId, region: spec.region, sms, connector, serverIds, jobId: replicationJobId!, runId: run.replicationRunId });
    }
  });

  after(async () => {
    await t?.close();
  });

  const pairs = () => tenants.flatMap((x) => tenants.filter((y) => y !== x).map((y) => [x, y] as const));

  test('each tenant lists only its own connectors, servers, jobs and runs', async () => {
    const allServerIds = tenants.flatMap((x) => x.serverIds);
    assert.equal(new Set(allServerIds).size, 9, 'the same VM addresses are distinct servers per tenant');
    for (const x of tenants) {
      const connectors = await x.sms.send(new GetConnectorsCommand({}));
      assert.deepEqual(connectors.connectorList?.map((c) => c.connectorId), [x.connector.connectorId], x.name);
      const servers = await x.sms.send(new GetServersCommand({ vmServerAddressList: [{ vmManagerId: 'vcenter-1' }] }));
      assert.deepEqual(servers.serverList?.map((s) => s.serverId), x.serverIds, x.name);
      const jobs = await x.sms.send(new GetReplicationJobsCommand({}));
      assert.deepEqual(jobs.replicationJobList?.map((j) => j.replicationJobId), [x.jobId], x.name);
      const runs = await x.sms.send(new GetReplicationRunsCommand({ replicationJobId: x.jobId }));
      assert.ok(runs.replicationRunList?.some((r) => r.replicationRunId === x.runId && r.state === 'COMPLETED'), x.name);
    }
  });

  test("no tenant can read or change another's job", async () => {
    for (const [x, y] of pairs()) {
      const label = `${x.name} → ${y.name}`;
      const notFound = (name: string) => (error: unknown) => {
        assert.equal((error as Error).name, name, label);
        assert.match((error as Error).message, new RegExp(`${y.jobId} does not exist`), label);
        return true;
      };
      await assert.rejects(x.sms.send(new GetReplicationJobsCommand({ replicationJobId: y.jobId })), notFound('InvalidParameterException'));
      await assert.rejects(x.sms.send(new GetReplicationRunsCommand({ replicationJobId: y.jobId })), notFound('InvalidParameterException'));
      await assert.rejects(
        x.sms.send(new UpdateReplicationJobCommand({ replicationJobId: y.jobId, frequency: 1, description: 'hijacked' })),
        notFound('ReplicationJobNotFoundException'),
      );
      await assert.rejects(x.sms.send(new DeleteReplicationJobCommand({ replicationJobId: y.jobId })), notFound('ReplicationJobNotFoundException'));
      await assert.rejects(
        x.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: y.jobId })),
        notFound('InvalidParameterException'),
      );
      // A free server of y's catalog is unknown to x.
      await assert.rejects(
        x.sms.send(new CreateReplicationJobCommand({ serverId: y.serverIds[1]!, seedReplicationTime: new Date(), frequency: 12 })),
        (error: unknown) => {
          assert.equal((error as Error).name, 'InvalidParameterException', label);
          assert.match((error as Error).message, new RegExp(y.serverIds[1]!));
          return true;
        },
      );
      await assert.rejects(x.sms.send(new DisassociateConnectorCommand({ connectorId: y.connector.connectorId })), {
        name: 'InvalidParameterException',
      });
    }
    // Nothing of the above changed anything.
    for (const y of tenants) {
      const job = (await y.sms.send(new GetReplicationJobsCommand({ replicationJobId: y.jobId }))).replicationJobList![0]!;
      assert.equal(job.state, 'ACTIVE', y.name);
      assert.equal(job.frequency, 12, y.name);
      assert.equal(job.description, undefined, y.name);
      const runs = (await y.sms.send(new GetReplicationRunsCommand({ replicationJobId: y.jobId }))).replicationRunList!;
      assert.deepEqual(runs.map((r) => r.type).sort(), ['AUTOMATIC', 'AUTOMATIC'], `${y.name}: no on-demand run was started`);
      const connectors = (await y.sms.send(new GetConnectorsCommand({}))).connectorList!;
      assert.deepEqual(connectors.map((c) => c.connectorId), [y.connector.connectorId], `${y.name}: its connector is still associated`);
      const servers = (await y.sms.send(new GetServersCommand({}))).serverList!;
      assert.equal(servers.find((s) => s.serverId === y.serverIds[1])?.replicationJobId, undefined, `${y.name}: no job on its free server`);
    }
  });

  test("a page token of one tenant is refused by another, even for the same listing", async () => {
    for (const [x, y] of pairs()) {
      const { nextToken } = await x.sms.send(new GetServersCommand({ maxResults: 1 }));
      assert.ok(nextToken);
      await assert.rejects(y.sms.send(new GetServersCommand({ maxResults: 1, nextToken })), { name: 'InvalidParameterException' }, `${x.name} → ${y.name}`);
      const own = await x.sms.send(new GetServersCommand({ maxResults: 1, nextToken }));
      assert.deepEqual(own.serverList?.map((s) => s.serverId), [x.serverIds[1]]);
    }
  });

  test("a connector's token cannot claim, progress or complete another tenant's runs", async () => {
    for (const [x, y] of pairs()) {
      const label = `${x.name}'s connector → ${y.name}'s run`;
      const { replicationRunId } = await y.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: y.jobId }));
      assert.equal((await x.connector.heartbeat()).runsWaiting, false, label);
      assert.deepEqual(await x.connector.claim(5), [], label);
      for (const attempt of [
        () => x.connector.progress(replicationRunId!, 'Uploading', '10%'),
        () => x.connector.complete(replicationRunId!, amiId(99)),
        () => x.connector.fail(replicationRunId!, 'sabotage'),
      ]) {
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof ConnectorApiError, label);
          assert.equal(error.status, 409, label);
          assert.match(error.message, /does not exist/, label);
          return true;
        });
      }
      const runs = (await y.sms.send(new GetReplicationRunsCommand({ replicationJobId: y.jobId }))).replicationRunList!;
      assert.equal(runs.find((r) => r.replicationRunId === replicationRunId)?.state, 'PENDING', label);
      // Its own connector takes it; afterwards x's connector still cannot touch it.
      assert.equal((await y.connector.heartbeat()).runsWaiting, true, label);
      const [claimed] = await y.connector.claim();
      assert.equal(claimed?.replicationRunId, replicationRunId, label);
      await assert.rejects(x.connector.complete(replicationRunId!, amiId(98)), { status: 409 });
      const image = await y.connector.completeWithImage(replicationRunId!);
      const job = (await y.sms.send(new GetReplicationJobsCommand({ replicationJobId: y.jobId }))).replicationJobList![0]!;
      assert.equal(job.latestAmiId, image, label);
    }
  });

  test("catalog operations and disassociation stay within the caller's tenant", async () => {
    const [alice, bob, aliceEu] = tenants as [Tenant, Tenant, Tenant];
    // Alice deletes her us-east-1 catalog: bob's and her eu-west-1 catalog are untouched.
    await alice.sms.send(new DeleteServerCatalogCommand({}));
    const mine = await alice.sms.send(new GetServersCommand({}));
    assert.equal(mine.serverCatalogStatus, 'DELETED');
    assert.deepEqual(mine.serverList, []);
    for (const other of [bob, aliceEu]) {
      const theirs = await other.sms.send(new GetServersCommand({}));
      assert.equal(theirs.serverCatalogStatus, 'AVAILABLE', other.name);
      assert.deepEqual(theirs.serverList?.map((s) => s.serverId), other.serverIds, other.name);
    }
    // Bob re-imports: only his connector is asked for inventory.
    await bob.sms.send(new ImportServerCatalogCommand({}));
    assert.equal((await bob.connector.heartbeat()).catalogImportRequested, true);
    assert.equal((await alice.connector.heartbeat()).catalogImportRequested, false);
    assert.equal((await aliceEu.connector.heartbeat()).catalogImportRequested, false);
    await assert.rejects(alice.connector.inventory(vms(5)), { status: 409 });
    assert.equal((await bob.connector.inventory(vms(3))).status, 'AVAILABLE');
    assert.deepEqual((await bob.sms.send(new GetServersCommand({}))).serverList?.map((s) => s.serverId), bob.serverIds, 'server ids are stable');

    // Bob deletes his job and disassociates his connector; alice's connectors in both regions stay.
    await bob.sms.send(new DeleteReplicationJobCommand({ replicationJobId: bob.jobId }));
    await bob.sms.send(new DisassociateConnectorCommand({ connectorId: bob.connector.connectorId }));
    assert.deepEqual((await bob.sms.send(new GetConnectorsCommand({}))).connectorList, []);
    for (const other of [alice, aliceEu]) {
      const connectors = (await other.sms.send(new GetConnectorsCommand({}))).connectorList!;
      assert.deepEqual(connectors.map((c) => c.connectorId), [other.connector.connectorId], other.name);
      assert.equal(connectors[0]!.status, 'HEALTHY', other.name);
    }
    await assert.rejects(bob.connector.heartbeat(), { status: 401 });
    assert.equal((await aliceEu.connector.heartbeat()).catalogImportRequested, false);
  });
});
