/**
 * scanVmFolder reads one VM folder again the way a whole scan reads it: a replication run uses it to find its own VM
 * without rescanning every VM of the datastore. Its answer must be the scan's own for that folder, show a broken or
 * restored disk as it is now, and give the id the folder claims (so a caller can tell when a scan would differ).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanDatastore, scanVmFolder, type DiscoveredVm } from '../../src/agent/inventory/scanDatastore.ts';
import { makeHypervVm, makeKvmVm, makeTempDatastore, makeVmwareVm, MiB } from '../helpers/vmFactory.ts';

describe('scanVmFolder', () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let vms: DiscoveredVm[];
  const options = { datastoreName: 'ds1' };

  before(async () => {
    ds = await makeTempDatastore('ferry-folderscan-');
    await makeVmwareVm(ds.dir, 'vmw', { disks: [{ sizeBytes: 4 * MiB }] });
    await makeKvmVm(ds.dir, 'group/kvm-raw', { name: 'kvm-raw', disks: [{ format: 'raw', sizeBytes: 3 * MiB }] });
    await makeKvmVm(ds.dir, 'kvm-qcow2', { disks: [{ format: 'qcow2', sizeBytes: 4 * MiB }] });
    await makeHypervVm(ds.dir, 'hv', { disks: [{ format: 'vhdx', sizeBytes: 8 * MiB }] });
    const shared = '6f1c2b3a-4d5e-4f60-8a71-92b3c4d5e6f7';
    await makeKvmVm(ds.dir, 'copy-a', { uuid: shared, disks: [{ format: 'raw', sizeBytes: MiB }] });
    await makeKvmVm(ds.dir, 'copy-b', { uuid: shared, disks: [{ format: 'raw', sizeBytes: MiB }] });
    vms = await scanDatastore(ds.dir, options);
  });
  after(() => ds.cleanup());

  test("is the whole scan's answer for each VM folder whose id no other VM claims", async () => {
    const unique = vms.filter((vm) => !vm.folder.includes('copy-'));
    assert.equal(unique.length, 4);
    for (const vm of unique) {
      assert.ok(vm.replicable, vm.reason);
      assert.deepEqual(await scanVmFolder(ds.dir, vm.folder, options), vm);
    }
  });

  test('gives the id a folder claims, where the scan had to derive another', async () => {
    const copy = vms.find((vm) => vm.folder.endsWith('/copy-a'))!;
    assert.notEqual(copy.vmId, '6f1c2b3a-4d5e-4f60-8a71-92b3c4d5e6f7');
    const again = await scanVmFolder(ds.dir, copy.folder, options);
    assert.equal(again?.vmId, '6f1c2b3a-4d5e-4f60-8a71-92b3c4d5e6f7');
    assert.notEqual(again?.vmId, copy.vmId, 'a caller comparing ids falls back to the whole scan');
  });

  test('shows a disk that went missing, and the same disk restored', async () => {
    const vm = vms.find((v) => v.folder.endsWith('/group/kvm-raw'))!;
    const disk = vm.disks[0]!.path;
    await rename(disk, `${disk}.away`);
    const broken = await scanVmFolder(ds.dir, vm.folder, options);
    assert.equal(broken?.replicable, false);
    assert.match(broken?.reason ?? '', /not found/);
    await rename(`${disk}.away`, disk);
    assert.deepEqual(await scanVmFolder(ds.dir, vm.folder, options), vm);
  });

  test('nothing for a folder that is gone, no longer a VM folder, or not inside the datastore', async () => {
    const gone = join(ds.dir, 'gone');
    assert.equal(await scanVmFolder(ds.dir, gone, options), undefined);
    const notVm = join(ds.dir, 'hv-copy');
    await makeHypervVm(ds.dir, 'hv-copy', { disks: [{ format: 'vhdx', sizeBytes: MiB }] });
    await rm(notVm, { recursive: true });
    await writeFile(join(ds.dir, 'stray.txt'), 'x');
    assert.equal(await scanVmFolder(ds.dir, notVm, options), undefined);
    assert.equal(await scanVmFolder(ds.dir, ds.dir, options), undefined);
    assert.equal(await scanVmFolder(ds.dir, join(ds.dir, '..'), options), undefined);
  });
});
