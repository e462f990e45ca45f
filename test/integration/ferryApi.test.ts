import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';

test("Ferry's own operations: run progress, on-demand quota and images, per tenant, SigV4-signed", async () => {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.inventory(vms(1));
    const serverId = (await t.sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
    const { replicationJobId } = await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 6 }));
    const ferry = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: t.ferry.root });

    const run = await connector.claimWhenDue();
    await connector.progress(run.replicationRunId, 'Uploading', '25%', { bytesDone: 250, bytesTotal: 1000, bytesPerSecond: 50 });
    const progress = await ferry.getRunProgress(run.replicationRunId);
    assert.equal(progress.stage, 'Uploading');
    assert.equal(progress.bytesDone, 250);
    assert.equal(progress.etaSeconds, 15);
    assert.equal(typeof progress.updatedAt, 'number');
    await connector.fail(run.replicationRunId, 'test failure');

    assert.deepEqual(
      { used: (await ferry.getOnDemandQuota(replicationJobId!)).used, limit: 2 },
      { used: 0, limit: 2 },
    );
    await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }));
    const quota = await ferry.getOnDemandQuota(replicationJobId!);
    assert.equal(quota.used, 1);
    assert.equal(quota.nextAvailableAt, undefined);
    assert.deepEqual((await ferry.listImages()).images, []);

    const other = await t.createAccount('other');
    const stranger = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: other });
    await assert.rejects(stranger.getRunProgress(run.replicationRunId), { name: 'InvalidParameterException' });
    await assert.rejects(stranger.call('NoSuchThing'), { name: 'UnknownOperationException' });
    const forged = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: { ...other, secretAccessKey: 'wrong' } });
    await assert.rejects(forged.listImages(), { name: 'InvalidSignatureException' });
  } finally {
    await t.close();
  }
});
