import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
} from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';

test('catalog import → job → run claimed, progressing, completed, all visible through the SDK', async () => {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    const { connectorList } = await t.sms.send(new GetConnectorsCommand({}));
    assert.equal(connectorList?.length, 1);
    assert.equal(connectorList?.[0]?.status, 'HEALTHY');
    assert.equal(connectorList?.[0]?.vmManagerType, 'VSPHERE');

    await t.sms.send(new ImportServerCatalogCommand({}));
    assert.equal((await t.sms.send(new GetServersCommand({}))).serverCatalogStatus, 'IMPORTING');
    assert.equal((await connector.heartbeat()).catalogImportRequested, true);
    assert.deepEqual(await connector.inventory(vms(3)), { status: 'AVAILABLE', servers: 3 });
    const servers = await t.sms.send(new GetServersCommand({}));
    assert.equal(servers.serverCatalogStatus, 'AVAILABLE');
    assert.equal(servers.serverList?.length, 3);
    const serverId = servers.serverList![0]!.serverId!;
    assert.match(serverId, /^s-[0-9a-f]{8}$/);

    const { replicationJobId } = await t.sms.send(
      new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12, numberOfRecentAmisToKeep: 2 }),
    );
    assert.match(replicationJobId!, /^sms-job-[0-9a-f]{8}$/);
    const run = await connector.claimWhenDue();
    await connector.progress(run.replicationRunId, 'Uploading', '42%', { bytesDone: 42, bytesTotal: 100 });
    let runs = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
    assert.equal(runs.replicationRunList?.find((r) => r.replicationRunId === run.replicationRunId)?.state, 'ACTIVE');
    assert.deepEqual(runs.replicationRunList?.find((r) => r.replicationRunId === run.replicationRunId)?.stageDetails, {
      stage: 'Uploading',
      stageProgress: '42%',
    });
    const image = await connector.completeWithImage(run.replicationRunId);
    const job = (await t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
    assert.equal(job.state, 'ACTIVE');
    assert.equal(job.latestAmiId, image);
    assert.ok(job.nextReplicationRunStartTime instanceof Date);
    runs = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
    const done = runs.replicationRunList!.find((r) => r.replicationRunId === run.replicationRunId)!;
    assert.equal(done.state, 'COMPLETED');
    assert.equal(done.amiId, image);
    assert.equal(done.statusMessage, 'Completed');
    assert.equal(done.stageDetails, undefined);
    assert.ok(done.completedTime instanceof Date);
  } finally {
    await t.close();
  }
});
