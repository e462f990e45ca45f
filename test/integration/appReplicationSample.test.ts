/**
 * App replication end to end on the real engine: the embedded connector replicates three VMs of the generated
 * sample datastore (VMware VMDK, KVM qcow2 and raw) as one app. StartAppReplication → REPLICATED with an image per
 * server in the image store; StartOnDemandAppReplication → DELTA_REPLICATED; StopAppReplication →
 * REPLICATION_STOPPED with every image kept.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetAppCommand, GetReplicationRunsCommand, StartAppReplicationCommand, StartOnDemandAppReplicationCommand, StopAppReplicationCommand } from '@aws-sdk/client-sms';
import { createSampleDatastore } from '../../src/agent/sample/createSampleDatastore.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { importCatalog } from '../helpers/replication.ts';
import { configureReplication, createApp, waitForApp } from '../helpers/apps.ts';

let base: string;
let t: TestFerry;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ferry-app-sample-'));
  const datastore = join(base, 'sample-datastore');
  await createSampleDatastore(datastore);
  t = await startTestFerry({ datastore, connectorPollMs: 100 });
});
after(async () => {
  await t?.close();
  await rm(base, { recursive: true, force: true });
});

test('an app of three sample VMs: REPLICATED, DELTA_REPLICATED, then REPLICATION_STOPPED with its images kept', async (ctx) => {
  const servers = await importCatalog(t.sms, ['kvm-app02', 'web01', 'kvm-app01'], 60_000);
  const id = (folder: string) => servers.get(folder)!.serverId!;
  const app = await createApp(t.sms, 'sample-shop', [id('kvm-app02')], [id('web01'), id('kvm-app01')]);
  await configureReplication(t.sms, app, { frequency: 12 });
  const started = Date.now();
  await t.sms.send(new StartAppReplicationCommand({ appId: app.appId }));
  const replicated = await waitForApp(t.sms, app.appId, 'REPLICATED', (s) => s.replicationStatus === 'REPLICATED', 120_000);
  ctx.diagnostic(`3 servers replicated in ${Date.now() - started} ms`);
  assert.ok(replicated.latestReplicationTime);

  const jobsOf = async () => (await t.sms.send(new GetAppCommand({ appId: app.appId }))).serverGroups!.flatMap((g) => g.serverList!.map((s) => s.replicationJobId!));
  const imagesOf = async () => {
    const images: string[] = [];
    for (const jobId of await jobsOf()) {
      const runs = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId }))).replicationRunList!;
      images.push(...runs.filter((r) => r.state === 'COMPLETED').map((r) => r.amiId!));
    }
    return images;
  };
  const first = await imagesOf();
  assert.equal(first.length, 3);
  for (const amiId of first) assert.ok(await t.ferry.plane.images.findImage(amiId), `${amiId} is in the image store`);

  await t.sms.send(new StartOnDemandAppReplicationCommand({ appId: app.appId, description: 'final sync' }));
  await waitForApp(t.sms, app.appId, 'DELTA_REPLICATED', (s) => s.replicationStatus === 'DELTA_REPLICATED', 120_000);
  const all = await imagesOf();
  assert.equal(all.length, 6, 'a second image per server');

  await t.sms.send(new StopAppReplicationCommand({ appId: app.appId }));
  const stopped = await waitForApp(t.sms, app.appId, 'REPLICATION_STOPPED', (s) => s.replicationStatus === 'REPLICATION_STOPPED', 30_000);
  assert.ok(stopped.latestReplicationTime!.getTime() >= replicated.latestReplicationTime!.getTime());
  for (const amiId of all) assert.ok(await t.ferry.plane.images.findImage(amiId), `${amiId} is kept after StopAppReplication`);
});
