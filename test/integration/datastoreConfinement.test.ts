/**
 * Issue 8, defect 3: files in a datastore that lead outside it are never read. A disk, a VMDK flat extent or a
 * definition file that is a symbolic link to a file outside (here /etc/shadow and files in another temp dir), or a
 * VMDK extent named by an absolute path outside, makes the VM not replicable with the reason, and
 * CreateReplicationJob refuses it. A disk swapped for such a link after the catalog import fails its run when the
 * run opens it; what qemu-nbd and Ferry's own readers opened is checked; a qcow2 whose backing file lies outside is
 * not read through its backing file; qemu-img bitmap does not touch a file outside. Links that stay inside the
 * datastore (and a datastore reached through a link) keep working.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateReplicationJobCommand } from '@aws-sdk/client-sms';
import { scanDatastore, type DiscoveredVm } from '../../src/agent/inventory/scanDatastore.ts';
import { checkProcessFiles, confinementOf, openChecked } from '../../src/agent/disks/confine.ts';
import { openDisk } from '../../src/agent/disks/openDisk.ts';
import { probeDisk } from '../../src/agent/disks/probe.ts';
import { applyBitmapSteps } from '../../src/agent/disks/dirtyBitmaps.ts';
import { QemuNbdServer } from '../../src/agent/disks/qemuNbd.ts';
import { NbdDiskSource } from '../../src/agent/disks/nbdSource.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';
import { DiskError } from '../../src/agent/disks/diskSource.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { createJob, importCatalog, packsContaining, watchRun } from '../helpers/replication.ts';
import { makeHypervVm, makeKvmVm, makeTempDatastore, makeVmwareVm, MiB } from '../helpers/vmFactory.ts';
import { readAll, run } from '../helpers/diskImages.ts';

const skip = qemuUtilsMissing() ?? false;
const SIZE = 4 * MiB;
/** Bytes that exist only outside the datastore: no image may ever contain them. */
const SECRET = 'FERRY-OUTSIDE-SECRET-0123456789';
const secretDisk = () => Buffer.concat(Array.from({ length: SIZE / 32 }, () => Buffer.from(SECRET.padEnd(32, '#'))));

function byFolder(vms: DiscoveredVm[], folder: string): DiscoveredVm {
  const vm = vms.find((v) => v.vmPath.endsWith(`/${folder}`));
  assert.ok(vm, `a VM for ${folder}: ${vms.map((v) => v.vmPath).join(', ')}`);
  return vm;
}

describe('the inventory never follows a path out of the datastore', { skip }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let outside: { dir: string; cleanup: () => Promise<void> };
  let vms: DiscoveredVm[];

  before(async () => {
    ds = await makeTempDatastore('ferry-confine-ds-');
    outside = await makeTempDatastore('ferry-confine-outside-');
    await writeFile(join(outside.dir, 'secret.raw'), secretDisk());
    await writeFile(join(outside.dir, 'secret.txt'), `${SECRET}\n`);

    // A disk that is a link to /etc/shadow (the attack from the issue) and one to a disk image outside.
    const shadow = await makeKvmVm(ds.dir, 'link-shadow', { disks: [{ format: 'raw', sizeBytes: SIZE }] });
    await rm(shadow.disks[0]!.path);
    await symlink('/etc/shadow', shadow.disks[0]!.path);
    const linked = await makeVmwareVm(outside.dir, 'elsewhere', { disks: [{ sizeBytes: SIZE }] });
    const vmdkLink = await makeVmwareVm(ds.dir, 'link-vmdk', { disks: [{ sizeBytes: SIZE }] });
    await rm(vmdkLink.disks[0]!.path);
    await symlink(linked.disks[0]!.path, vmdkLink.disks[0]!.path);

    // A flat VMDK whose -flat extent is a link out, and one whose descriptor names an absolute extent outside
    // (a same-named file sits in the VM folder: the extent must not be looked up there by name).
    const flatLink = await makeVmwareVm(ds.dir, 'flat-extent-link', { disks: [{ sizeBytes: SIZE, vmdkSubformat: 'monolithicFlat' }] });
    const flatExtent = flatLink.disks[0]!.path.replace(/\.vmdk$/, '-flat.vmdk');
    await rm(flatExtent);
    await symlink(join(outside.dir, 'secret.raw'), flatExtent);
    const flatAbs = await makeVmwareVm(ds.dir, 'flat-extent-absolute', { disks: [{ sizeBytes: SIZE, vmdkSubformat: 'monolithicFlat' }] });
    const descriptor = flatAbs.disks[0]!.path;
    const text = await readFile(descriptor, 'utf8');
    await copyFile(join(outside.dir, 'secret.raw'), join(ds.dir, 'flat-extent-absolute', 'secret.raw'));
    await writeFile(descriptor, text.replace(/"flat-extent-absolute-flat\.vmdk"/, `"${join(outside.dir, 'secret.raw')}"`));

    // Definition files that are links out: a .vmx and a ferry-vm.json whose content must not surface in the reason.
    const vmxLink = await makeVmwareVm(ds.dir, 'vmx-link', { disks: [{ sizeBytes: SIZE }] });
    await rm(vmxLink.definition!);
    await symlink(join(outside.dir, 'secret.txt'), vmxLink.definition!);
    const jsonLink = await makeHypervVm(ds.dir, 'ferry-vm-link', { layout: 'flat', disks: [{ format: 'vpc', sizeBytes: SIZE }] });
    await rm(join(jsonLink.folder, 'ferry-vm.json'), { force: true });
    await symlink(join(outside.dir, 'secret.txt'), join(jsonLink.folder, 'ferry-vm.json'));

    // A link that stays inside the datastore is fine.
    const shared = await makeKvmVm(ds.dir, 'shared', { disks: [{ format: 'qcow2', sizeBytes: SIZE }] });
    const inside = await makeKvmVm(ds.dir, 'link-inside', { disks: [{ format: 'qcow2', sizeBytes: SIZE }] });
    await rm(inside.disks[0]!.path);
    await symlink(join('..', 'shared', 'shared.qcow2'), inside.disks[0]!.path);
    assert.equal(shared.disks[0]!.path, join(ds.dir, 'shared', 'shared.qcow2'));

    // FIFOs planted where a definition and a disk are expected: the scan must not block on them.
    const fifoVmx = await makeVmwareVm(ds.dir, 'fifo-vmx', { disks: [{ sizeBytes: SIZE }] });
    await rm(fifoVmx.definition!);
    await run('mkfifo', [fifoVmx.definition!]);
    const fifoLink = await makeVmwareVm(ds.dir, 'fifo-link', { disks: [{ sizeBytes: SIZE }] });
    await rm(fifoLink.definition!);
    await run('mkfifo', [join(ds.dir, 'fifo-link', 'pipe')]);
    await symlink('pipe', fifoLink.definition!);
    const fifoDisk = await makeKvmVm(ds.dir, 'fifo-disk', { disks: [{ format: 'raw', sizeBytes: SIZE }] });
    await rm(fifoDisk.disks[0]!.path);
    await run('mkfifo', [fifoDisk.disks[0]!.path]);

    // The datastore itself reached through a link: its real directory is the boundary.
    await symlink(ds.dir, join(outside.dir, 'ds-link'));
    vms = await scanDatastore(join(outside.dir, 'ds-link'));
  });
  after(async () => {
    await ds?.cleanup();
    await outside?.cleanup();
  });

  const reasonOf = (folder: string) => {
    const vm = byFolder(vms, folder);
    assert.equal(vm.replicable, false, `${folder} must not be replicable`);
    assert.ok(!vm.reason!.includes(SECRET), `${folder}: nothing of the outside file shows in the reason`);
    return vm.reason!;
  };

  test('a disk linked to /etc/shadow or to an image outside is not replicable, with the reason', () => {
    assert.match(reasonOf('link-shadow'), /disk vda \(link-shadow\.img\): resolves to \/etc\/shadow, outside the datastore/);
    assert.match(reasonOf('link-vmdk'), /disk scsi0:0 \(link-vmdk\.vmdk\): resolves to .*\/elsewhere\/elsewhere\.vmdk, outside the datastore/);
  });

  test('a flat VMDK extent linked outside, or named by an absolute path outside, is not replicable', () => {
    assert.match(reasonOf('flat-extent-link'), /extent flat-extent-link-flat\.vmdk resolves to .*secret\.raw, outside the datastore/);
    assert.match(reasonOf('flat-extent-absolute'), /extent \/.*secret\.raw resolves to .*secret\.raw, outside the datastore/);
  });

  test('definition files linked outside are not read: the reason says where they lead, never what they hold', () => {
    assert.match(reasonOf('vmx-link'), /vmx-link\.vmx resolves to .*secret\.txt, outside the datastore/);
    assert.match(reasonOf('ferry-vm-link'), /ferry-vm\.json resolves to .*secret\.txt, outside the datastore/);
  });

  test('a FIFO as a definition or a disk does not block the scan: the VM is listed with the reason', () => {
    assert.match(reasonOf('fifo-vmx'), /no VM definition: the folder has disk files \(fifo-vmx\.vmdk\) but no \.vmx/);
    assert.match(reasonOf('fifo-link'), /fifo-link\.vmx does not parse: fifo-link\.vmx is not a regular file/);
    assert.match(reasonOf('fifo-disk'), /disk vda \(fifo-disk\.img\): not a regular file/);
  });

  test('links inside the datastore, and a datastore reached through a link, keep working', async () => {
    const vm = byFolder(vms, 'link-inside');
    assert.equal(vm.replicable, true, vm.reason);
    assert.equal(vm.disks[0]!.virtualSize, SIZE);
    assert.equal(vm.datastoreRoot, await realpath(ds.dir));
    assert.equal(byFolder(vms, 'shared').replicable, true);
  });
});

describe('CreateReplicationJob and runs refuse what leads out of the datastore', { skip, concurrency: false }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let outside: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  let swappedDisk: string;

  before(async () => {
    ds = await makeTempDatastore('ferry-confine-run-');
    outside = await makeTempDatastore('ferry-confine-run-outside-');
    await writeFile(join(outside.dir, 'secret.raw'), secretDisk());
    const shadow = await makeKvmVm(ds.dir, 'shadow', { disks: [{ format: 'raw', sizeBytes: SIZE }] });
    await rm(shadow.disks[0]!.path);
    await symlink('/etc/shadow', shadow.disks[0]!.path);
    swappedDisk = (await makeKvmVm(ds.dir, 'swapped', { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'pattern', seed: 'swapped' } }] })).disks[0]!.path;
    t = await startTestFerry({ datastore: ds.dir, compression: 'none', connectorPollMs: 100, policy: { retryDelayMs: 100 } });
  });
  after(async () => {
    await t?.close();
    await ds?.cleanup();
    await outside?.cleanup();
  });

  test('a disk linked to /etc/shadow: CreateReplicationJob answers ServerCannotBeReplicatedException with the reason', async () => {
    const servers = await importCatalog(t.sms, ['shadow']);
    await assert.rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId: servers.get('shadow')!.serverId!, seedReplicationTime: new Date(), frequency: 12 })),
      (err: Error) => {
        assert.equal(err.name, 'ServerCannotBeReplicatedException');
        assert.match(err.message, /resolves to \/etc\/shadow, outside the datastore/);
        return true;
      },
    );
  });

  test('a disk swapped for a link out after the catalog import fails its run when opened; nothing of it is stored', async () => {
    const servers = await importCatalog(t.sms, ['swapped']);
    await rm(swappedDisk);
    await symlink(join(outside.dir, 'secret.raw'), swappedDisk);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('swapped')!.serverId!);
    const { run: seed } = await watchRun(t.sms, jobId, seedRunId);
    assert.equal(seed.state, 'FAILED', seed.statusMessage);
    assert.match(seed.statusMessage ?? '', /Validating.*resolves to .*secret\.raw, outside the datastore/);
    assert.deepEqual(await packsContaining(t.dataDir, Buffer.from(SECRET)), [], 'no pack holds a byte of the outside file');
  });
});

describe('opening a disk for a run checks what was really opened', { skip }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let outside: { dir: string; cleanup: () => Promise<void> };

  before(async () => {
    ds = await makeTempDatastore('ferry-confine-open-');
    outside = await makeTempDatastore('ferry-confine-open-outside-');
    await writeFile(join(outside.dir, 'secret.raw'), secretDisk());
  });
  after(async () => {
    await ds?.cleanup();
    await outside?.cleanup();
  });

  test('a file opened through a link out is refused from the open file itself (no window between check and open)', async () => {
    const confine = confinementOf(ds.dir);
    await symlink(join(outside.dir, 'secret.raw'), join(ds.dir, 'opened.raw'));
    await assert.rejects(openChecked(confine, join(ds.dir, 'opened.raw')), (err: Error) => err instanceof DiskError && /outside the datastore/.test(err.message));
    await assert.rejects(probeDisk(join(ds.dir, 'opened.raw'), { confine }), /resolves to .*secret\.raw, outside the datastore/);
    // The same file opened with a probe made earlier (the disk was swapped since): the direct reader refuses it too.
    await writeFile(join(ds.dir, 'real.raw'), Buffer.alloc(SIZE, 1));
    const probe = await probeDisk(join(ds.dir, 'real.raw'), { confine });
    await rm(join(ds.dir, 'real.raw'));
    await symlink(join(outside.dir, 'secret.raw'), join(ds.dir, 'real.raw'));
    await assert.rejects(openDisk(join(ds.dir, 'real.raw'), { probe, confine }), /outside the datastore/);
  });

  test('a qcow2 whose backing file lies outside: refused when probed, and qemu-nbd never reads through the backing file', async () => {
    const confine = confinementOf(ds.dir);
    const overlay = join(ds.dir, 'overlay.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(outside.dir, 'secret.raw'), '-F', 'raw', overlay]);
    await assert.rejects(probeDisk(overlay, { confine }), /has a backing file \(.*secret\.raw\); flatten it first/);
    // With a probe made without confinement (as before the fix), the confined open still reads only the overlay.
    const probe = await probeDisk(overlay);
    assert.ok(probe.backingFile, 'the image has a backing file');
    const source = await openDisk(overlay, { probe, confine });
    try {
      const bytes = await readAll(source);
      assert.ok(!bytes.includes(Buffer.from(SECRET)), 'nothing of the backing file is read');
      assert.ok(bytes.equals(Buffer.alloc(SIZE)), 'the overlay alone reads as zeros');
    } finally {
      await source.close();
    }
  });

  test('a VMDK descriptor inside whose extent leads outside is refused before qemu opens it', async () => {
    const confine = confinementOf(ds.dir);
    const descriptor = join(ds.dir, 'd.vmdk');
    await writeFile(descriptor, `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW ${SIZE / 512} FLAT "${join(outside.dir, 'secret.raw')}" 0\n`);
    await assert.rejects(probeDisk(descriptor, { confine }), /extent .*secret\.raw resolves to .*secret\.raw, outside the datastore/);
    await assert.rejects(QemuNbdServer.start(descriptor, { format: 'vmdk', confine }), /extent .*outside the datastore/);
  });

  test('every image file qemu-nbd holds open is checked: one outside is refused', async () => {
    const confine = confinementOf(ds.dir);
    // Opened without confinement and past the handshake (qemu-nbd has opened its image by then), then checked.
    const source = await NbdDiskSource.open(join(outside.dir, 'secret.raw'), { format: 'raw', size: SIZE });
    try {
      await assert.rejects(checkProcessFiles(confine, source.server.pid!, 'secret.raw'), /qemu-nbd opened .*secret\.raw, outside the datastore/);
      await checkProcessFiles(confinementOf(outside.dir), source.server.pid!, 'secret.raw');
    } finally {
      await source.close();
    }
  });

  test('qemu-img bitmap is not run on a qcow2 outside the datastore', async () => {
    const confine = confinementOf(ds.dir);
    const target = join(outside.dir, 'target.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', target, String(SIZE)]);
    await symlink(target, join(ds.dir, 'bitmapped.qcow2'));
    await assert.rejects(applyBitmapSteps(join(ds.dir, 'bitmapped.qcow2'), [{ op: 'add', name: 'ferry-x-1' }], confine), /outside the datastore/);
    const { stdout } = await run('qemu-img', ['info', '--output=json', target]);
    assert.ok(!stdout.includes('ferry-x-1'), 'the file outside has no new bitmap');
    // Inside the datastore, confined bitmap steps work (qemu-img gets the file without its backing chain).
    await mkdir(join(ds.dir, 'vm'), { recursive: true });
    const own = join(ds.dir, 'vm', 'own.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', own, String(SIZE)]);
    await applyBitmapSteps(own, [{ op: 'add', name: 'ferry-x-1' }], confine);
    assert.deepEqual((await probeDisk(own, { confine })).dirtyBitmaps.map((b) => b.name), ['ferry-x-1']);
  });
});
