import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nameBasedUuid } from '../../src/agent/inventory/identity.ts';
import { DatastoreError, scanDatastore, type DiscoveredVm } from '../../src/agent/inventory/scanDatastore.ts';
import { MAX_VM_DISKS } from '../../src/domain/inventory.ts';
import { findTool } from '../../src/lib/tools.ts';
import {
  addDirtyBitmap,
  changeDiskBlocks,
  expectedContent,
  makeHypervVm,
  makeKvmVm,
  makeTempDatastore,
  makeVmwareVm,
  MiB,
  readDiskAsRaw,
  sparsePattern,
} from '../helpers/vmFactory.ts';

const exec = promisify(execFile);
const tool = (name: string) => findTool(name)!;

function byFolder(vms: DiscoveredVm[], folder: string): DiscoveredVm {
  const vm = vms.find((v) => v.folder.endsWith(`/${folder}`));
  assert.ok(vm, `no VM for folder ${folder}; have ${vms.map((v) => v.vmPath).join(', ')}`);
  return vm;
}

describe('scanDatastore: every kind', () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let vms: DiscoveredVm[];
  const made: Record<string, Awaited<ReturnType<typeof makeVmwareVm>>> = {};

  before(async () => {
    ds = await makeTempDatastore('ferry-inv-');
    made['vmw-sparse'] = await makeVmwareVm(ds.dir, 'vmw-sparse', {
      name: 'Web Server (prod)',
      guestOS: 'ubuntu-64',
      disks: [{ sizeBytes: 4 * MiB }, { sizeBytes: 8 * MiB }],
    });
    made['vmw-flat'] = await makeVmwareVm(ds.dir, 'vmw-flat', {
      uuidBios: null,
      vcUuid: '5003B2C1-55AA-4F0E-8D21-7F0A9C3E1D02',
      guestOS: 'windows2019srv-64',
      controller: 'sata',
      disks: [{ sizeBytes: 6 * MiB, vmdkSubformat: 'monolithicFlat' }],
    });
    made['vmw-stream'] = await makeVmwareVm(ds.dir, 'vmw-stream', { disks: [{ sizeBytes: 4 * MiB, vmdkSubformat: 'streamOptimized' }] });
    made['hv-layout'] = await makeHypervVm(ds.dir, 'hv-layout', { disks: [{ format: 'vhdx', sizeBytes: 8 * MiB }] });
    made['hv-flat'] = await makeHypervVm(ds.dir, 'hv-flat', {
      layout: 'flat',
      ferryVm: { vmId: '{8F2C4D6E-1A3B-4C5D-9E7F-0A1B2C3D4E03}', vmName: 'legacy-app', osFamily: 'windows' },
      disks: [{ format: 'vpc', sizeBytes: 5 * MiB }],
    });
    made['kvm-qcow2'] = await makeKvmVm(ds.dir, 'kvm-qcow2', { osinfoId: 'http://debian.org/debian/12', disks: [{ format: 'qcow2', sizeBytes: 4 * MiB }] });
    made['kvm-raw'] = await makeKvmVm(ds.dir, 'group/kvm-raw', {
      name: 'raw-vm',
      sourceDir: '/var/lib/libvirt/images',
      disks: [{ format: 'raw', sizeBytes: 3 * MiB }],
    });
    // Not VMs: an empty folder and one with unrelated files.
    await mkdir(join(ds.dir, 'empty'));
    await mkdir(join(ds.dir, 'docs'));
    await writeFile(join(ds.dir, 'docs', 'README.txt'), 'notes\n');
    vms = await scanDatastore(ds.dir, { datastoreName: 'ds1' });
  });
  after(() => ds.cleanup());

  test('lists exactly the VMs, sorted by vmPath, all replicable', () => {
    assert.deepEqual(
      vms.map((v) => v.vmPath),
      [
        '/ds1/hyperv/hv-flat',
        '/ds1/hyperv/hv-layout',
        '/ds1/kvm/group/kvm-raw',
        '/ds1/kvm/kvm-qcow2',
        '/ds1/vmware/vmw-flat',
        '/ds1/vmware/vmw-sparse',
        '/ds1/vmware/vmw-stream',
      ],
    );
    for (const vm of vms) assert.equal(vm.replicable, true, `${vm.vmPath}: ${vm.reason}`);
    for (const vm of vms) assert.equal(vm.reason, undefined);
  });

  test('VMware: uuid.bios / vc.uuid, displayName, VSPHERE, vmdk disks with createType and controller', () => {
    const sparse = byFolder(vms, 'vmw-sparse');
    assert.equal(sparse.vmId, made['vmw-sparse']!.expectedVmId);
    assert.equal(sparse.vmName, 'Web Server (prod)');
    assert.equal(sparse.vmManagerType, 'VSPHERE');
    assert.equal(sparse.kind, 'vmware');
    assert.equal(sparse.osFamily, 'linux');
    assert.equal(sparse.definition, join(ds.dir, 'vmw-sparse', 'Web Server (prod).vmx'));
    assert.deepEqual(
      sparse.disks.map((d) => [d.controller, d.format, d.createType, d.virtualSize, d.path]),
      [
        ['scsi0:0', 'vmdk', 'monolithicSparse', 4 * MiB, join(ds.dir, 'vmw-sparse', 'Web Server (prod).vmdk')],
        ['scsi0:1', 'vmdk', 'monolithicSparse', 8 * MiB, join(ds.dir, 'vmw-sparse', 'Web Server (prod)_1.vmdk')],
      ],
    );

    const flat = byFolder(vms, 'vmw-flat');
    assert.equal(flat.vmId, '5003b2c1-55aa-4f0e-8d21-7f0a9c3e1d02');
    assert.equal(flat.osFamily, 'windows');
    assert.equal(flat.disks[0]!.controller, 'sata0:0');
    assert.equal(flat.disks[0]!.createType, 'monolithicFlat');
    assert.equal(flat.disks[0]!.virtualSize, 6 * MiB);
    assert.deepEqual(flat.disks[0]!.extents, [{ path: join(ds.dir, 'vmw-flat', 'vmw-flat-flat.vmdk'), offset: 0, size: 6 * MiB, type: 'FLAT' }]);

    const stream = byFolder(vms, 'vmw-stream');
    assert.equal(stream.disks[0]!.createType, 'streamOptimized');
    assert.equal(stream.disks[0]!.virtualSize, 4 * MiB);
    assert.equal(stream.osFamily, 'unknown');
  });

  test('Hyper-V: GUID of the .vmcx, or ferry-vm.json; vhdx and vhd (vpc); HYPERV-MANAGER', () => {
    const layout = byFolder(vms, 'hv-layout');
    assert.equal(layout.vmId, made['hv-layout']!.expectedVmId);
    assert.equal(layout.vmName, 'hv-layout');
    assert.equal(layout.vmManagerType, 'HYPERV-MANAGER');
    assert.equal(layout.kind, 'hyperv');
    assert.deepEqual(layout.disks.map((d) => [d.format, d.virtualSize, d.path]), [['vhdx', 8 * MiB, join(ds.dir, 'hv-layout', 'Virtual Hard Disks', 'hv-layout.vhdx')]]);

    const flat = byFolder(vms, 'hv-flat');
    assert.equal(flat.vmId, '8f2c4d6e-1a3b-4c5d-9e7f-0a1b2c3d4e03');
    assert.equal(flat.vmName, 'legacy-app');
    assert.equal(flat.osFamily, 'windows');
    assert.deepEqual(flat.disks.map((d) => [d.format, d.virtualSize]), [['vpc', 5 * MiB]]);
  });

  test('KVM: <uuid>, <name>, libosinfo, qcow2 and raw; absolute libvirt paths found in the VM folder; reported as VSPHERE', () => {
    const q = byFolder(vms, 'kvm-qcow2');
    assert.equal(q.vmId, made['kvm-qcow2']!.expectedVmId);
    assert.equal(q.vmName, 'kvm-qcow2');
    assert.equal(q.vmManagerType, 'VSPHERE');
    assert.equal(q.kind, 'kvm');
    assert.equal(q.osFamily, 'linux');
    assert.deepEqual(q.disks.map((d) => [d.controller, d.format, d.virtualSize]), [['vda', 'qcow2', 4 * MiB]]);

    const r = byFolder(vms, 'kvm-raw');
    assert.equal(r.vmName, 'raw-vm');
    assert.deepEqual(r.disks.map((d) => [d.format, d.virtualSize, d.path]), [['raw', 3 * MiB, join(ds.dir, 'group', 'kvm-raw', 'raw-vm.img')]]);
  });

  test('disk content round-trips byte for byte through every format', async () => {
    for (const vm of vms) {
      for (const disk of vm.disks) {
        const raw = await readDiskAsRaw(disk.path, disk.format);
        assert.equal(raw.length, disk.virtualSize);
        const seedIndex = vm.disks.indexOf(disk);
        const folder = vm.folder.slice(ds.dir.length + 1);
        assert.ok(raw.equals(expectedContent(sparsePattern(`${folder}:${seedIndex}`, disk.virtualSize), disk.virtualSize)), disk.path);
      }
    }
  });
});

describe('scanDatastore: identity is stable', () => {
  test('across scans, after renaming files that carry no identity, and after moving the datastore', async () => {
    const ds = await makeTempDatastore('ferry-inv-id-');
    try {
      await makeVmwareVm(ds.dir, 'web', {});
      await makeVmwareVm(ds.dir, 'nouuid', { uuidBios: null });
      await makeKvmVm(ds.dir, 'kvm', {});
      await makeHypervVm(ds.dir, 'hvflat', { layout: 'flat' });
      const first = await scanDatastore(ds.dir);
      const ids = (vms: DiscoveredVm[]) => Object.fromEntries(vms.map((v) => [v.folder.split('/').at(-1), v.vmId]));
      const before = ids(first);
      assert.equal(before['nouuid'], nameBasedUuid('nouuid'));
      assert.equal(before['hvflat'], nameBasedUuid('hvflat'));
      assert.deepEqual(ids(await scanDatastore(ds.dir)), before);

      // VMware: rename the disk (and the vmx's reference) and the .vmx itself.
      const vmx = join(ds.dir, 'web', 'web.vmx');
      await writeFile(vmx, (await readFile(vmx, 'utf8')).replace('"web.vmdk"', '"renamed-disk.vmdk"'));
      await rename(join(ds.dir, 'web', 'web.vmdk'), join(ds.dir, 'web', 'renamed-disk.vmdk'));
      await rename(vmx, join(ds.dir, 'web', 'other-name.vmx'));
      await rename(join(ds.dir, 'nouuid', 'nouuid.vmx'), join(ds.dir, 'nouuid', 'x.vmx'));
      // KVM: the domain XML's file name carries no identity.
      await rename(join(ds.dir, 'kvm', 'kvm.xml'), join(ds.dir, 'kvm', 'domain.xml'));
      // Hyper-V without a GUID: the disk's name carries no identity.
      await rename(join(ds.dir, 'hvflat', 'hvflat.vhdx'), join(ds.dir, 'hvflat', 'system.vhdx'));
      const afterRename = await scanDatastore(ds.dir);
      for (const vm of afterRename) assert.equal(vm.replicable, true, `${vm.vmPath}: ${vm.reason}`);
      assert.deepEqual(ids(afterRename), before);

      const moved = `${ds.dir}-moved`;
      await rename(ds.dir, moved);
      try {
        assert.deepEqual(ids(await scanDatastore(moved)), before);
      } finally {
        await rename(moved, ds.dir);
      }
    } finally {
      await ds.cleanup();
    }
  });

  test('Hyper-V 2012 XML configuration: GUID from the file name, name from <properties><name>', async () => {
    const ds = await makeTempDatastore('ferry-inv-hv12-');
    try {
      const guid = 'A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF';
      await makeHypervVm(ds.dir, 'old-host-export', { guid: null, disks: [{ format: 'vhdx', sizeBytes: MiB }] });
      await mkdir(join(ds.dir, 'old-host-export', 'Virtual Machines'), { recursive: true });
      await writeFile(
        join(ds.dir, 'old-host-export', 'Virtual Machines', `${guid}.xml`),
        `<?xml version="1.0" encoding="UTF-16" standalone="yes"?>\n<configuration><properties><name type="string">SQL &amp; Reports</name></properties></configuration>\n`,
      );
      const [vm] = await scanDatastore(ds.dir);
      assert.equal(vm!.vmId, guid.toLowerCase());
      assert.equal(vm!.vmName, 'SQL & Reports');
      assert.equal(vm!.replicable, true, vm!.reason);
    } finally {
      await ds.cleanup();
    }
  });

  test('a copied VM folder that keeps its UUID: both VMs get distinct path-derived ids and a warning', async () => {
    const ds = await makeTempDatastore('ferry-inv-dup-');
    try {
      const uuid = '11111111-2222-4333-8444-555555555555';
      await makeKvmVm(ds.dir, 'a', { uuid });
      await makeKvmVm(ds.dir, 'b', { uuid });
      const vms = await scanDatastore(ds.dir);
      assert.equal(new Set(vms.map((v) => v.vmId)).size, 2);
      for (const vm of vms) {
        assert.notEqual(vm.vmId, uuid);
        assert.match(vm.warnings?.join(' ') ?? '', /also claimed by/);
      }
      assert.deepEqual(
        (await scanDatastore(ds.dir)).map((v) => v.vmId),
        vms.map((v) => v.vmId),
      );
    } finally {
      await ds.cleanup();
    }
  });
});

describe('scanDatastore: VMs that cannot be replicated are listed with the reason', () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let vms: DiscoveredVm[];

  before(async () => {
    ds = await makeTempDatastore('ferry-inv-bad-');
    const d = ds.dir;
    // Missing disk.
    await makeVmwareVm(d, 'missing-disk', { disks: [{ sizeBytes: MiB }, { sizeBytes: MiB }] });
    await rm(join(d, 'missing-disk', 'missing-disk_1.vmdk'));
    // Unreadable (corrupt) disk.
    await makeKvmVm(d, 'corrupt', { disks: [{ format: 'qcow2', sizeBytes: MiB }] });
    await writeFile(join(d, 'corrupt', 'corrupt.qcow2'), Buffer.alloc(4096, 0x42));
    // Unknown format.
    await makeKvmVm(d, 'qed', { disks: [{ format: 'raw', sizeBytes: MiB }] });
    const qedXml = join(d, 'qed', 'qed.xml');
    await writeFile(qedXml, (await readFile(qedXml, 'utf8')).replace("type='raw'/>\n      <source file='qed.img'", "type='qed'/>\n      <source file='qed.img'"));
    // More than 22 disks (raw disks: no conversion, cheap).
    await makeKvmVm(d, 'many-disks', {
      disks: Array.from({ length: MAX_VM_DISKS + 1 }, () => ({ format: 'raw' as const, sizeBytes: 512 * 1024, content: { type: 'empty' as const } })),
    });
    // Exactly 22 disks is fine.
    await makeKvmVm(d, 'max-disks', {
      disks: Array.from({ length: MAX_VM_DISKS }, () => ({ format: 'raw' as const, sizeBytes: 512 * 1024, content: { type: 'empty' as const } })),
    });
    // Hyper-V checkpoint.
    await makeHypervVm(d, 'checkpoint', { layout: 'flat', disks: [{ format: 'vhdx', sizeBytes: MiB }] });
    await copyFile(join(d, 'checkpoint', 'checkpoint.vhdx'), join(d, 'checkpoint', 'checkpoint_8F2C4D6E.avhdx'));
    // A .vmx that does not parse.
    await mkdir(join(d, 'bad-vmx'));
    await writeFile(join(d, 'bad-vmx', 'bad-vmx.vmx'), 'displayName = "x"\n<<< merge conflict >>>\n');
    // No disks.
    await mkdir(join(d, 'diskless'));
    await writeFile(join(d, 'diskless', 'diskless.vmx'), 'displayName = "diskless"\nuuid.bios = "56 4d 00 00 00 00 00 01-00 00 00 00 00 00 00 01"\n');
    // Disks but no definition.
    await mkdir(join(d, 'orphan'));
    await copyFile(join(d, 'corrupt', 'corrupt.qcow2'), join(d, 'orphan', 'disk.qcow2'));
    // VMware snapshot (delta disk).
    await makeVmwareVm(d, 'snapshot', { disks: [{ sizeBytes: MiB }] });
    await exec(tool('qemu-img'), ['create', '-q', '-f', 'vmdk', '-b', 'snapshot.vmdk', '-F', 'vmdk', join(d, 'snapshot', 'snapshot-000001.vmdk')]);
    const snapVmx = join(d, 'snapshot', 'snapshot.vmx');
    await writeFile(snapVmx, (await readFile(snapVmx, 'utf8')).replace('"snapshot.vmdk"', '"snapshot-000001.vmdk"'));
    // qcow2 overlay with a backing file.
    await makeKvmVm(d, 'overlay', { disks: [{ format: 'qcow2', sizeBytes: MiB }] });
    await exec(tool('qemu-img'), ['create', '-q', '-f', 'qcow2', '-b', 'overlay.qcow2', '-F', 'qcow2', join(d, 'overlay', 'top.qcow2')]);
    const ovXml = join(d, 'overlay', 'overlay.xml');
    await writeFile(ovXml, (await readFile(ovXml, 'utf8')).replace("file='overlay.qcow2'", "file='top.qcow2'"));
    // A block-device disk.
    await makeKvmVm(d, 'blockdev', {
      disks: [{ format: 'raw', sizeBytes: MiB }],
      extraDevicesXml: `    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdb'/><target dev='vdb' bus='virtio'/></disk>`,
    });
    // Disk references leaving the datastore.
    await makeVmwareVm(d, 'escape', {
      disks: [{ sizeBytes: MiB }],
      extraVmx: { 'scsi0:1.present': 'TRUE', 'scsi0:1.fileName': '../../../../etc/passwd', 'scsi0:2.present': 'TRUE', 'scsi0:2.fileName': '/etc/hostname' },
    });
    // ferry-vm.json that is not JSON.
    await makeHypervVm(d, 'bad-json', { layout: 'flat', disks: [{ format: 'vpc', sizeBytes: MiB }] });
    await writeFile(join(d, 'bad-json', 'ferry-vm.json'), '{ "vmName": oops');
    vms = await scanDatastore(d);
  });
  after(() => ds.cleanup());

  const reasonOf = (folder: string) => {
    const vm = byFolder(vms, folder);
    assert.equal(vm.replicable, false, `${folder} should not be replicable`);
    assert.ok(vm.reason, `${folder} has no reason`);
    return vm.reason;
  };

  test('each bad VM is listed, not replicable, with a reason that says why', () => {
    assert.match(reasonOf('missing-disk'), /disk scsi0:1 \(missing-disk_1\.vmdk\): file not found/);
    assert.equal(byFolder(vms, 'missing-disk').disks.length, 1);
    assert.match(reasonOf('corrupt'), /disk vda \(corrupt\.qcow2\): qcow2 image cannot be opened: .*not in qcow2 format/i);
    assert.match(reasonOf('qed'), /unknown format 'qed'/);
    assert.match(reasonOf('many-disks'), /23 disks; at most 22/);
    assert.equal(byFolder(vms, 'many-disks').disks.length, 23);
    assert.equal(byFolder(vms, 'max-disks').replicable, true);
    assert.match(reasonOf('checkpoint'), /checkpoint \(differencing\) disks: checkpoint_8F2C4D6E\.avhdx/);
    assert.match(reasonOf('bad-vmx'), /bad-vmx\.vmx does not parse: line 2/);
    assert.equal(byFolder(vms, 'bad-vmx').vmId, nameBasedUuid('bad-vmx'));
    assert.match(reasonOf('diskless'), /no disks/);
    assert.equal(byFolder(vms, 'diskless').vmId, '564d0000-0000-0001-0000-000000000001');
    assert.match(reasonOf('orphan'), /no VM definition/);
    assert.equal(byFolder(vms, 'orphan').kind, 'kvm');
    assert.match(reasonOf('snapshot'), /snapshot \(delta\) disk of snapshot\.vmdk/);
    assert.match(reasonOf('overlay'), /backing file \(overlay\.qcow2\)/);
    assert.match(reasonOf('blockdev'), /disk vdb is a 'block' disk/);
    assert.match(reasonOf('escape'), /passwd\) refers to .*outside the datastore/);
    assert.match(reasonOf('escape'), /disk scsi0:2 \(hostname\): file not found \(escape\/hostname\)/);
    assert.match(reasonOf('bad-json'), /ferry-vm\.json is not valid JSON/);
    assert.equal(byFolder(vms, 'bad-json').disks.length, 1);
  });

  test('a missing datastore directory is a clear error', async () => {
    await assert.rejects(scanDatastore(join(ds.dir, 'nope')), (e: Error) => e instanceof DatastoreError && /does not exist/.test(e.message));
    await assert.rejects(scanDatastore(join(ds.dir, 'bad-vmx', 'bad-vmx.vmx')), DatastoreError);
  });
});

test('an unreadable disk file is listed with the reason', { skip: process.getuid?.() === 0 ? 'root can read any file' : false }, async () => {
  const ds = await makeTempDatastore('ferry-inv-perm-');
  try {
    const vm = await makeKvmVm(ds.dir, 'locked', { disks: [{ format: 'raw', sizeBytes: MiB }] });
    await chmod(vm.disks[0]!.path, 0o000);
    const [found] = await scanDatastore(ds.dir);
    assert.equal(found!.replicable, false);
    assert.match(found!.reason!, /disk vda \(locked\.img\): cannot be read: .*EACCES/);
  } finally {
    await ds.cleanup();
  }
});

describe('vmFactory: changing ~1% of a disk for incremental runs', () => {
  test('qcow2 through qemu-io (a dirty bitmap records it) and raw in place; only the returned ranges change', async () => {
    const ds = await makeTempDatastore('ferry-inv-chg-');
    try {
      const q = await makeKvmVm(ds.dir, 'q', { disks: [{ format: 'qcow2', sizeBytes: 64 * MiB, content: { type: 'pattern', seed: 'q' } }] });
      const r = await makeKvmVm(ds.dir, 'r', { disks: [{ format: 'raw', sizeBytes: 64 * MiB, content: { type: 'pattern', seed: 'r' } }] });
      await addDirtyBitmap(q.disks[0]!.path, 'run1');
      for (const [vm, format] of [
        [q, 'qcow2'],
        [r, 'raw'],
      ] as const) {
        const path = vm.disks[0]!.path;
        const beforeBytes = await readDiskAsRaw(path, format);
        const ranges = await changeDiskBlocks(path, format, { seed: format });
        assert.equal(ranges.length, 1); // 1% of 128 blocks of 512 KiB
        const afterBytes = await readDiskAsRaw(path, format);
        const expected = Buffer.from(beforeBytes);
        for (const c of ranges) expected.fill(c.byte, c.offset, c.offset + c.length);
        assert.ok(afterBytes.equals(expected));
        assert.ok(!afterBytes.equals(beforeBytes));
      }
      const { stdout } = await exec(tool('qemu-img'), ['info', '--output=json', q.disks[0]!.path]);
      const bitmaps = JSON.parse(stdout)['format-specific'].data.bitmaps as { name: string; flags: string[] }[];
      assert.deepEqual(bitmaps.map((b) => [b.name, b.flags]), [['run1', ['auto']]]);
    } finally {
      await ds.cleanup();
    }
  });
});
