/**
 * Copy-first launches on real libvirt (src/launch/copyFirst.ts, rule src/domain/copyFirst.ts): the KVM sample's
 * image (32 MiB disk, ~19 MiB of data, under the default 64 MiB line) is copied whole into the instance's own raw
 * disk before the domain's first start. The instance is hydrated before it runs, its domain never has an NBD backing file, the
 * guest boots and validates from its local disk, the image is never written, and terminate leaves nothing. The
 * boot through the export (copy-first off) is launch.test.ts; a kill in the middle of the copy, launchCrash.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { createJob, expectCompleted, importCatalog, tempDir, waitFor } from '../helpers/replication.ts';
import { bootableDatastore, bootableVm, instancesDir, LAUNCH_URI, launchSkipReason, removeDomain, virsh, virshListAll, waitForInstance } from '../helpers/launch.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';
import { BOOT_MARKER } from '../../src/domain/instanceConsole.ts';
import type { Tenant } from '../../src/domain/tenant.ts';

describe('copy-first launches of small images', { skip: launchSkipReason() }, () => {
  let t: TestFerry;
  let datastore: { dir: string; cleanup: () => Promise<void> };
  let instances: { dir: string; cleanup: () => Promise<void> };
  let tenant: Tenant;
  let image: { serverId: string; amiId: string };
  const launched: string[] = [];

  before(async () => {
    datastore = await bootableDatastore(['kvm']);
    instances = await instancesDir();
    // No copyFirstMaxMiB: the default line.
    t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: { uri: LAUNCH_URI, instancesDir: instances.dir } });
    tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    const folder = bootableVm('kvm').folder;
    const serverId = (await importCatalog(t.sms, [folder])).get(folder)!.serverId!;
    const { jobId, seedRunId } = await createJob(t.sms, serverId);
    image = { serverId, amiId: (await expectCompleted(t.sms, jobId, seedRunId)).amiId };
  });

  after(async () => {
    for (const id of launched) removeDomain(`ferry-${id}`);
    await t?.close();
    await datastore?.cleanup();
    await instances?.cleanup();
  });

  async function imageSha(amiId: string): Promise<string> {
    const dir = await tempDir();
    try {
      const out = join(dir.dir, 'disk.raw');
      await t.ferry.plane.images.exportDisk(amiId, 0, 'raw', out);
      return createHash('sha256').update(await readFile(out)).digest('hex');
    } finally {
      await dir.cleanup();
    }
  }

  test('a small image is copied before the first start: hydrated before it runs, no NBD backing, boots and validates from its own disk; the image is never written; terminate leaves nothing', async (tt) => {
    const shaBefore = await imageSha(image.amiId);
    const seen: { instanceId: string; state: string; hydration: string; message: string | null }[] = [];
    const stop = t.ferry.core.events.subscribe((e) => {
      if (e.type === 'instance.state') seen.push({ instanceId: e.instanceId, state: e.state, hydration: e.hydration, message: e.message });
    });
    const phases: [string, string][] = [];
    const stopPhases = t.ferry.instances.onPhase((id, phase) => phases.push([id, phase]));
    const instance = await t.ferry.instances.launch({
      tenant,
      appId: 'app-copy',
      serverId: image.serverId,
      amiId: image.amiId,
      vcpus: 1,
      memoryMiB: 256,
      deviceModel: 'auto',
      bootTimeoutMs: 180_000,
      validations: [{ validationId: 'val-disk', name: 'disk hashes', script: Buffer.from('#!/bin/sh\nsha256sum "$FERRY_ROOT_DISK" | cut -c1-64\n'), scriptType: 'SHELL_SCRIPT' }],
    });
    launched.push(instance.instanceId);
    assert.equal(instance.state, 'pending');
    assert.equal(instance.hydration, 'none');

    const done = await waitForInstance(t.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'failed' || (i.state === 'running' && i.validations.every((v) => v.status !== 'PENDING')));
    assert.equal(done.state, 'running', done.stateMessage ?? '');
    await waitFor('the running event', () => (seen.some((e) => e.instanceId === instance.instanceId && e.state === 'running') ? true : undefined), { timeoutMs: 10_000 });
    stop();
    stopPhases();

    // Statuses: hydrated with the move to `starting`, so before the domain ever started; never `hydrating`.
    const events = seen.filter((e) => e.instanceId === instance.instanceId);
    assert.deepEqual(events.map((e) => e.state).filter((s, i, all) => s !== all[i - 1]), ['pending', 'starting', 'booting', 'running']);
    assert.deepEqual(events.map((e) => e.hydration).filter((h, i, all) => h !== all[i - 1]), ['none', 'hydrated']);
    const starting = events.find((e) => e.state === 'starting')!;
    assert.equal(starting.hydration, 'hydrated', 'hydrated before it started');
    assert.match(starting.message ?? '', /Copied from the image before the first boot/);
    assert.equal(done.hydration, 'hydrated');
    assert.match(done.hydrationMessage ?? '', /before the first boot/);
    assert.ok(done.hydratedAt! < done.bootedAt!, 'hydrated before it booted');
    tt.diagnostic(`KVM sample, copy-first: launch → hydrated ${done.hydratedAt! - done.launchedAt} ms; → booted ${done.bootedAt! - done.launchedAt} ms`);

    // Phases: the copy ends before the domain starts; no pull at all.
    const order = phases.filter(([id]) => id === instance.instanceId).map(([, phase]) => phase);
    const at = (phase: string) => {
      assert.ok(order.includes(phase), `phase "${phase}" reported (saw ${order.join(', ')})`);
      return order.indexOf(phase);
    };
    assert.ok(at('disk copy started') < at('disks copied before boot') && at('disks copied before boot') < at('prepared (starting)'));
    assert.ok(at('prepared (starting)') < at('virsh start returned') && at('virsh start returned') < at('boot marker seen'));
    for (const phase of ['NBD export up', 'overlay created', 'hydration started']) assert.ok(!order.includes(phase), `no export, no overlay over it, no pull (${order.join(', ')})`);

    // The guest read its own disk: the validation's hash is the image's.
    assert.deepEqual(done.validations.map((v) => [v.validationId, v.status, v.message]), [['val-disk', 'SUCCEEDED', `${shaBefore}\n`]]);
    const console = (await t.ferry.instances.consoleOutput(tenant, instance.instanceId));
    assert.ok(console.includes(`${BOOT_MARKER} ${instance.instanceId}`), console);

    // No NBD backing anywhere: not in the live definition, not in the disk file; no export socket, no partial copy.
    const xml = virsh('dumpxml', instance.domainName);
    assert.doesNotMatch(xml, /<backingStore type=/);
    assert.doesNotMatch(xml, /nbd/i);
    const dir = join(instances.dir, instance.instanceId);
    assert.match(xml, /<driver name='qemu' type='raw'[^>]*\/>\s*<source file='[^']*\/disk0\.raw'/);
    const info = JSON.parse((await runTool('qemu-img', ['info', '-U', '--output=json', join(dir, 'disk0.raw')])).stdout) as { format: string; 'backing-filename'?: string; 'virtual-size': number };
    assert.equal(info.format, 'raw');
    assert.equal(info['backing-filename'], undefined, 'the disk has no backing file');
    assert.equal((await stat(join(dir, 'disk0.raw'))).mode & 0o077, 0, 'the disk is 0600');
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.sock') || f.endsWith('.copying') || f.endsWith('.qcow2')), [], 'no export socket, no overlay, no partial copy');
    assert.deepEqual(await t.ferry.instances.imageReaders(image.amiId), [], 'the image has no reader');

    assert.equal(await imageSha(image.amiId), shaBefore, 'the image is unchanged');

    await t.ferry.instances.terminate(tenant, instance.instanceId);
    await waitForInstance(t.ferry.instances, tenant, instance.instanceId, (i) => i.state === 'terminated', 60_000);
    assert.ok(!virshListAll().includes(instance.domainName), 'no domain left');
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });
});
