import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scanDatastore, type DiscoveredVm } from '../../src/agent/inventory/scanDatastore.ts';
import { findTool } from '../../src/lib/tools.ts';
import { createSampleDatastore, SAMPLE_MARKER, SAMPLE_VERSION } from '../../src/agent/sample/createSampleDatastore.ts';
import { BOOTABLE_VMS, prepareBootAssets } from '../../src/agent/sample/bootableVms.ts';
import { SYSLINUX_MBR } from '../../src/agent/sample/diskBuilder.ts';

const BOOTABLE = new Set(BOOTABLE_VMS.map((vm) => vm.folder));
const isBootable = (vm: DiscoveredVm) => BOOTABLE.has(vm.vmPath.split('/').at(-1)!);

const exec = promisify(execFile);
const tool = (name: string) => findTool(name)!;
const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C' };

async function allocatedBytes(path: string): Promise<number> {
  const st = await stat(path);
  if (!st.isDirectory()) return st.blocks * 512;
  let total = st.blocks * 512;
  for (const e of await readdir(path)) total += await allocatedBytes(join(path, e));
  return total;
}

interface SfdiskTable {
  partitiontable: { label: 'dos' | 'gpt'; partitions: { start: number; size: number; type: string }[] };
}

describe('sample datastore', () => {
  let base: string;
  let dir: string;
  let vms: DiscoveredVm[];
  let firstBuildMs: number;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'ferry-sample-'));
    dir = join(base, 'sample-datastore');
    // The first build ever downloads and unpacks two kernel packages (about 100 MB, 10–20 s); later builds, timed
    // here, take them from the cache.
    await prepareBootAssets();
    const result = await createSampleDatastore(dir);
    assert.equal(result.created, true);
    // The bootable VMs need Debian's kernel packages once (then they come from ~/.cache/ferry): this machine has apt.
    assert.deepEqual(result.bootable, [...BOOTABLE], `bootable VMs missing: ${result.bootableMissing}`);
    firstBuildMs = result.elapsedMs;
    vms = await scanDatastore(dir);
  });
  after(() => rm(base, { recursive: true, force: true }));

  test('builds in a few seconds and stays small on disk', async (t) => {
    // The bootable VMs carry a kernel each (8–14 MB): they are bounded on their own, the others as before.
    let allocated = 0;
    let bootableAllocated = 0;
    for (const vm of vms) {
      if (isBootable(vm)) bootableAllocated += await allocatedBytes(vm.folder);
      else allocated += await allocatedBytes(vm.folder);
    }
    const virtual = vms.flatMap((v) => v.disks).reduce((s, d) => s + d.virtualSize, 0);
    t.diagnostic(
      `built in ${Math.round(firstBuildMs)} ms; ${(allocated / 2 ** 20).toFixed(1)} MiB (+ ${(bootableAllocated / 2 ** 20).toFixed(1)} MiB bootable) on disk for ${virtual / 2 ** 20} MiB of virtual disks`,
    );
    assert.ok(firstBuildMs < 15_000, `took ${firstBuildMs} ms`);
    assert.ok(allocated < 40 * 2 ** 20, `${allocated} bytes allocated`);
    assert.ok(bootableAllocated < 48 * 2 ** 20, `${bootableAllocated} bytes allocated by the bootable VMs`);
  });

  test('has VMs of each kind and format, all replicable, with fixed ids', () => {
    assert.deepEqual(
      vms.map((v) => [v.vmPath, v.vmManagerType, v.disks.map((d) => d.createType ?? d.format).join('+'), v.osFamily]),
      [
        ['/sample-datastore/hyperv/boot-hv01', 'HYPERV-MANAGER', 'vhdx', 'linux'],
        ['/sample-datastore/hyperv/hv-lin03', 'HYPERV-MANAGER', 'vpc', 'linux'],
        ['/sample-datastore/hyperv/hv-win02', 'HYPERV-MANAGER', 'vhdx', 'windows'],
        ['/sample-datastore/kvm/boot-kvm01', 'VSPHERE', 'qcow2', 'linux'],
        ['/sample-datastore/kvm/kvm-app01', 'VSPHERE', 'qcow2', 'linux'],
        ['/sample-datastore/kvm/kvm-app02', 'VSPHERE', 'raw', 'linux'],
        ['/sample-datastore/vmware/boot-vm01', 'VSPHERE', 'monolithicSparse', 'linux'],
        ['/sample-datastore/vmware/db01', 'VSPHERE', 'monolithicFlat', 'linux'],
        ['/sample-datastore/vmware/web01', 'VSPHERE', 'monolithicSparse+monolithicSparse', 'linux'],
        ['/sample-datastore/vmware/win01', 'VSPHERE', 'streamOptimized', 'windows'],
      ],
    );
    for (const vm of vms) assert.equal(vm.replicable, true, `${vm.vmPath}: ${vm.reason}`);
    for (const d of vms.filter((v) => !isBootable(v)).flatMap((v) => v.disks)) assert.ok(d.virtualSize >= 64 * 2 ** 20 && d.virtualSize <= 256 * 2 ** 20);
    for (const d of vms.filter(isBootable).flatMap((v) => v.disks)) assert.equal(d.virtualSize, 32 * 2 ** 20);
    assert.deepEqual(
      vms.map((v) => v.vmId),
      [
        '8f2c4d6e-1a3b-4c5d-9e7f-0a1b2c3d4e11',
        '8f2c4d6e-1a3b-4c5d-9e7f-0a1b2c3d4e03',
        '8f2c4d6e-1a3b-4c5d-9e7f-0a1b2c3d4e02',
        '3b7e9f2a-6c1d-4e8b-a5f0-2d9c7b1e4a11',
        '3b7e9f2a-6c1d-4e8b-a5f0-2d9c7b1e4a01',
        '3b7e9f2a-6c1d-4e8b-a5f0-2d9c7b1e4a02',
        '564d6a1e-7c0b-4a52-9d3e-0b1f5e2a7c11',
        '564d6a1e-7c0b-4a52-9d3e-0b1f5e2a7c02',
        '564d6a1e-7c0b-4a52-9d3e-0b1f5e2a7c01',
        '564d6a1e-7c0b-4a52-9d3e-0b1f5e2a7c03',
      ],
    );
  });

  test('every disk holds a partition table and real filesystems', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'ferry-sample-raw-'));
    try {
      let ext4 = 0;
      let fat = 0;
      for (const [i, { disk, bootable }] of vms.flatMap((v) => v.disks.map((disk) => ({ disk, bootable: isBootable(v) }))).entries()) {
        let raw = disk.path;
        if (disk.format !== 'raw') {
          raw = join(work, `${i}.raw`);
          await exec(tool('qemu-img'), ['convert', '-f', disk.format, '-O', 'raw', disk.path, raw]);
        }
        const table = (JSON.parse((await exec(tool('sfdisk'), ['-J', raw], { env })).stdout) as SfdiskTable).partitiontable;
        assert.ok(table.partitions.length >= 1, disk.path);
        for (const p of table.partitions) {
          const offset = p.start * 512;
          const linux = p.type === '83' || p.type === '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
          if (linux) {
            const header = (await exec(tool('dumpe2fs'), ['-h', `${raw}?offset=${offset}`], { env })).stdout;
            assert.match(header, /Filesystem magic number:\s+0xEF53/);
            const ls = (await exec(tool('debugfs'), ['-R', 'ls -p /', `${raw}?offset=${offset}`], { env })).stdout;
            if (/\/etc\//.test(ls) || ls.includes('/etc/')) {
              const release = (await exec(tool('debugfs'), ['-R', 'cat /etc/os-release', `${raw}?offset=${offset}`], { env })).stdout;
              assert.match(release, /^NAME=/m);
            } else {
              assert.match(ls, /\/(www|etc|lost\+found)\//);
            }
            ext4++;
          } else {
            const listing = (await exec(tool('mdir'), ['-i', `${raw}@@${offset}`, '-/', '-a', '-b', '::/'], { env })).stdout;
            if (bootable) {
              // syslinux, its configuration, a Debian kernel and the initramfs; and syslinux's MBR boot code.
              for (const name of ['ldlinux.sys', 'syslinux.cfg', 'vmlinuz', 'initrd.gz']) assert.match(listing, new RegExp(`::/${name.replace('.', '\\.')}`, 'i'), disk.path);
              const mbr = await readFile(SYSLINUX_MBR);
              const head = Buffer.alloc(440);
              const handle = await open(raw, 'r');
              await handle.read(head, 0, 440, 0);
              await handle.close();
              assert.deepEqual(head, mbr.subarray(0, 440), `${disk.path}: syslinux MBR`);
            } else {
              assert.match(listing, /::\/(EFI|Windows|Users|ProgramData)/i);
            }
            fat++;
          }
        }
        if (raw !== disk.path) await rm(raw);
      }
      t.diagnostic(`${ext4} ext4 and ${fat} FAT filesystems checked`);
      assert.ok(ext4 >= 6 && fat >= 4, `ext4 ${ext4}, fat ${fat}`);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('is idempotent: a current sample is left alone', async () => {
    const before = await stat(join(dir, 'web01', 'web01.vmdk'));
    const again = await createSampleDatastore(dir);
    assert.equal(again.created, false);
    assert.ok(again.elapsedMs < 1000);
    assert.equal((await stat(join(dir, 'web01', 'web01.vmdk'))).mtimeMs, before.mtimeMs);
  });

  test('an older sample is rebuilt with the same ids; folders it did not make are never overwritten', async () => {
    const marker = JSON.parse(await readFile(join(dir, SAMPLE_MARKER), 'utf8'));
    assert.equal(marker.version, SAMPLE_VERSION);
    await writeFile(join(dir, SAMPLE_MARKER), JSON.stringify({ ...marker, version: SAMPLE_VERSION - 1 }));
    const rebuilt = await createSampleDatastore(dir);
    assert.equal(rebuilt.created, true);
    assert.deepEqual(
      (await scanDatastore(dir)).map((v) => [v.vmId, v.vmPath, v.replicable]),
      vms.map((v) => [v.vmId, v.vmPath, v.replicable]),
    );
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.sample-build-')), []);

    const other = join(base, 'other');
    await mkdir(join(other, 'web01'), { recursive: true });
    await writeFile(join(other, 'web01', 'mine.txt'), 'user data\n');
    await assert.rejects(createSampleDatastore(other), /web01 exists and was not made by Ferry/);
    assert.equal(await readFile(join(other, 'web01', 'mine.txt'), 'utf8'), 'user data\n');
  });

  test('offline: the rest of the sample is built, one line says why the bootable VMs are missing, a later start adds them', async () => {
    const offline = join(base, 'offline');
    const emptyCache = await mkdtemp(join(tmpdir(), 'ferry-kernel-cache-'));
    try {
      const lines: string[] = [];
      // No cached kernel, and apt can reach no mirror (a proxy on the discard port): like a host without network.
      const kernel = { cacheDir: emptyCache, aptOptions: ['-o', 'Acquire::http::Proxy=http://127.0.0.1:9', '-o', 'Acquire::https::Proxy=http://127.0.0.1:9', '-o', 'Acquire::Retries=0'] };
      const result = await createSampleDatastore(offline, { kernel, log: (line) => lines.push(line) });
      assert.equal(result.created, true);
      assert.deepEqual(result.bootable, []);
      assert.match(result.bootableMissing ?? '', /apt-get download linux-image-[\w.-]+ failed/);
      const why = lines.filter((l) => l.startsWith('no bootable sample VMs'));
      assert.equal(why.length, 1, lines.join('\n'));
      assert.match(why[0]!, /apt-get download .* failed/);
      const found = await scanDatastore(offline);
      assert.equal(found.length, vms.length - BOOTABLE.size);
      assert.ok(found.every((vm) => vm.replicable && !isBootable(vm)));

      // Back online (the shared cache): the next start adds just the bootable VMs.
      const before = await stat(join(offline, 'web01', 'web01.vmdk'));
      const again = await createSampleDatastore(offline);
      assert.equal(again.created, true);
      assert.deepEqual(again.bootable, [...BOOTABLE]);
      assert.equal((await scanDatastore(offline)).length, vms.length);
      assert.equal((await stat(join(offline, 'web01', 'web01.vmdk'))).mtimeMs, before.mtimeMs, 'the other VMs were left alone');
    } finally {
      await rm(emptyCache, { recursive: true, force: true });
    }
  });
});
