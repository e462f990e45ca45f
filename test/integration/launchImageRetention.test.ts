/**
 * Images in use are not deleted. Defect: retention (`numberOfRecentAmisToKeep`) deleted an image at once, even while
 * an instance not yet hydrated was booting from it through its export — its guest would then get I/O errors for every
 * block it had not read. Now the deletion is deferred (the entry stays queued, saying why) until every such instance
 * is hydrated, failed or terminated; a garbage collection meanwhile leaves the image's blocks alone. Real libvirt: a
 * KVM sample guest hashes its whole disk over and over (caches dropped first) while hydration is held to 1 MiB/s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StartOnDemandReplicationRunCommand, GetReplicationRunsCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { createJob, expectCompleted, importCatalog, waitFor } from '../helpers/replication.ts';
import { bootableDatastore, bootableVm, launchSkipReason, realLaunch, removeLaunchedDomains, virshListAll, waitForInstance } from '../helpers/launch.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';

const HASH_LOOP = `#!/bin/sh
while :; do
  echo 3 > /proc/sys/vm/drop_caches
  echo "DISK-SHA256 $(sha256sum "$FERRY_ROOT_DISK" | cut -d' ' -f1)"
  sleep 1
done
`;

test('retention defers deleting an image until the instances booting from it are hydrated', { skip: launchSkipReason() }, async (t) => {
  const datastore = await bootableDatastore(['kvm']);
  const launch = await realLaunch({ hydrationBandwidthMiB: 1 });
  const ferry = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
  try {
    const vm = bootableVm('kvm');
    const raw = join(ferry.dataDir, 'source.raw');
    await runTool('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(datastore.dir, vm.folder, `${vm.folder}.qcow2`), raw]);
    const diskSha = createHash('sha256').update(await readFile(raw)).digest('hex');
    await rm(raw);

    const tenant = { accountId: ferry.ferry.root.accountId, region: 'us-east-1' };
    const serverId = (await importCatalog(ferry.sms, [vm.folder])).get(vm.folder)!.serverId!;
    const { jobId, seedRunId } = await createJob(ferry.sms, serverId, { numberOfRecentAmisToKeep: 1 });
    const first = (await expectCompleted(ferry.sms, jobId, seedRunId)).amiId;
    const instance = await ferry.ferry.instances.launch({ tenant, appId: null, serverId, amiId: first, vcpus: 1, memoryMiB: 256, deviceModel: 'auto', userData: Buffer.from(HASH_LOOP), bootTimeoutMs: 240_000 });

    // A newer image: retention retires the first one, which the instance reads through its export.
    await ferry.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
    const second = await waitFor('the on-demand run', async () => {
      const runs = (await ferry.sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId }))).replicationRunList ?? [];
      return runs.find((r) => r.type === 'ON_DEMAND' && r.state === 'COMPLETED')?.amiId;
    }, { timeoutMs: 120_000 });
    assert.notEqual(second, first);
    const queued = () => ferry.ferry.core.db.selectFrom('image_deletions').selectAll().where('ami_id', '=', first).executeTakeFirst();
    const deferred = await waitFor('the deletion to be deferred', async () => {
      const row = await queued();
      return row?.last_error ? row : undefined;
    }, { timeoutMs: 60_000 });
    assert.equal(deferred.done_at, null);
    assert.equal(deferred.attempts, 0, 'a deferral is not a failure: no backoff');
    assert.match(deferred.last_error!, new RegExp(`^deferred: instance\\(s\\) ${instance.instanceId} still boot from ${first}`));
    assert.equal((await ferry.ferry.plane.images.findImage(first))?.amiId, first, 'the image is still there');

    // A collection while the instance still reads through the export frees nothing of it.
    await ferry.ferry.plane.images.collectGarbage();
    const running = await waitForInstance(ferry.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'running' || i.state === 'failed', 240_000);
    assert.equal(running.state, 'running', running.stateMessage ?? '');
    const consoleLog = join(launch.launch.instancesDir, instance.instanceId, 'console.log');
    const hashes = async () => [...(await readFile(consoleLog, 'utf8')).matchAll(/DISK-SHA256 ([0-9a-f]{64})/g)].map((m) => m[1]!);
    await waitFor('the guest to hash its disk', async () => ((await hashes()).length > 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 500 });
    const [now, row] = [await ferry.ferry.instances.get(tenant, instance.instanceId), await queued()];
    if (now!.hydration !== 'hydrated') assert.equal(row?.done_at, null, 'still deferred while the instance is not hydrated');

    const hydrated = await waitForInstance(ferry.ferry.instances, tenant, instance.instanceId, (i) => i.hydration === 'hydrated' || i.hydration === 'failed', 240_000);
    assert.equal(hydrated.hydration, 'hydrated', hydrated.hydrationMessage ?? '');
    const done = await waitFor('the deletion to happen once the instance is hydrated', async () => ((await queued())?.done_at ? true : undefined), { timeoutMs: 90_000 });
    assert.ok(done);
    assert.equal(await ferry.ferry.plane.images.findImage(first), undefined, 'deleted now');
    await ferry.ferry.plane.images.collectGarbage();
    const seen = await hashes();
    await waitFor('another hash after the collection', async () => ((await hashes()).length > seen.length ? true : undefined), { timeoutMs: 60_000, intervalMs: 500 });
    assert.deepEqual(new Set(await hashes()), new Set([diskSha]), 'every read of the disk, before and after, gave the image bit for bit');
    t.diagnostic(`the guest hashed its disk ${(await hashes()).length} times; hydrated ${hydrated.hydratedAt! - hydrated.bootedAt!} ms after booting at 1 MiB/s`);

    await ferry.ferry.instances.terminate(tenant, instance.instanceId);
    await waitForInstance(ferry.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'terminated', 60_000);
    assert.ok(!virshListAll().includes(instance.domainName));
  } finally {
    await removeLaunchedDomains(ferry.ferry.core);
    await ferry.close();
    await datastore.cleanup();
    await launch.cleanup();
  }
});
