import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';

test("Ferry's own operations: run progress, on-demand quota and images, per tenant, SigV4-signed", async () => {
  // A quota other than the default, so the limit the operation answers can only come from the service's policy.
  const t = await startTestFerry({ policy: { onDemandRunsPerWindow: 3, onDemandWindowMs: 12 * 3600_000 } });
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

    assert.deepEqual(await ferry.getOnDemandQuota(replicationJobId!), { replicationJobId, limit: 3, used: 0, windowHours: 12 });
    assert.deepEqual((await ferry.listImages()).images, [], 'a failed run leaves no image');
    await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId }));
    assert.deepEqual(await ferry.getOnDemandQuota(replicationJobId!), { replicationJobId, limit: 3, used: 1, windowHours: 12 });

    // The on-demand run completes with an image: ListImages shows it, with its job, run, size and disks.
    const onDemand = await connector.claimWhenDue();
    const amiId = await connector.completeWithImage(onDemand.replicationRunId);
    const { images } = await ferry.listImages();
    assert.equal(images.length, 1);
    const [image] = images;
    assert.equal(image!.amiId, amiId);
    assert.equal(image!.replicationJobId, replicationJobId);
    assert.equal(image!.replicationRunId, onDemand.replicationRunId);
    assert.equal(image!.parentAmiId, undefined);
    assert.equal(image!.encrypted, false);
    assert.equal(image!.sizeBytes, 512 * 1024);
    assert.equal(image!.dataBlocks, 0, 'the connector uploaded an empty disk');
    assert.deepEqual(
      image!.disks.map((d) => ({ index: d.index, sizeBytes: d.sizeBytes, dataBlocks: d.dataBlocks, snapshot: /^snap-[0-9a-f]{17}$/.test(d.snapshotId) })),
      [{ index: 0, sizeBytes: 512 * 1024, dataBlocks: 0, snapshot: true }],
    );
    assert.equal(typeof image!.createdAt, 'number');
    assert.deepEqual((await ferry.listImages(replicationJobId)).images.map((i) => i.amiId), [amiId], 'filtered by its job');
    assert.deepEqual((await ferry.listImages('sms-job-0000000000000000a')).images, [], 'another job has none');

    const other = await t.createAccount('other');
    const stranger = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: other });
    await assert.rejects(stranger.getRunProgress(run.replicationRunId), { name: 'InvalidParameterException' });
    await assert.rejects(stranger.call('NoSuchThing'), { name: 'UnknownOperationException' });
    assert.deepEqual((await stranger.listImages()).images, [], "another account does not see this account's images");
    const forged = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: { ...other, secretAccessKey: 'wrong' } });
    await assert.rejects(forged.listImages(), { name: 'InvalidSignatureException' });
  } finally {
    await t.close();
  }
});
