/** The pieces of the sample's bootable VMs that need no kernel download: initramfs, module metadata, the guest's /init. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildInitramfs, cpioNewc } from '../../src/agent/sample/initramfs.ts';
import { insmodOrder, moduleInfo, readModinfo, type ModuleInfo } from '../../src/agent/sample/kernelModules.ts';
import { guestInitScript } from '../../src/agent/sample/guestInit.ts';
import { mbrSignatureBytes } from '../../src/agent/sample/diskBuilder.ts';
import { findTool } from '../../src/lib/tools.ts';
import { BOOT_MARKER } from '../../src/domain/instanceConsole.ts';

/** A minimal ELF64 little-endian object with a .shstrtab and (optionally) a .modinfo section. */
function elfWithModinfo(modinfo: string | undefined): Buffer {
  const names = Buffer.from('\0.shstrtab\0.modinfo\0', 'latin1');
  const info = Buffer.from(modinfo ?? '', 'utf8');
  const headerSize = 64;
  const namesAt = headerSize;
  const infoAt = namesAt + names.length;
  const tableAt = Math.ceil((infoAt + info.length) / 8) * 8;
  const sections = modinfo === undefined ? 2 : 3;
  const elf = Buffer.alloc(tableAt + 64 * sections);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // 64-bit
  elf[5] = 1; // little-endian
  elf.writeBigUInt64LE(BigInt(tableAt), 0x28);
  elf.writeUInt16LE(64, 0x3a);
  elf.writeUInt16LE(sections, 0x3c);
  elf.writeUInt16LE(1, 0x3e); // .shstrtab is section 1
  names.copy(elf, namesAt);
  info.copy(elf, infoAt);
  const section = (i: number, name: number, offset: number, size: number) => {
    const at = tableAt + 64 * i;
    elf.writeUInt32LE(name, at);
    elf.writeBigUInt64LE(BigInt(offset), at + 24);
    elf.writeBigUInt64LE(BigInt(size), at + 32);
  };
  section(1, 1, namesAt, names.length);
  if (modinfo !== undefined) section(2, 11, infoAt, info.length);
  return elf;
}

describe('kernel module metadata', () => {
  test('reads name and depends from .modinfo', () => {
    const elf = elfWithModinfo('license=GPL\0depends=virtio,virtio_ring\0name=virtio_blk\0vermagic=6.1.0 SMP\0');
    assert.equal(readModinfo(elf).get('license'), 'GPL');
    assert.deepEqual(moduleInfo(elf, 'virtio_blk.ko'), { name: 'virtio_blk', depends: ['virtio', 'virtio_ring'] });
    assert.deepEqual(moduleInfo(elfWithModinfo('depends=\0'), 'e1000.ko'), { name: 'e1000', depends: [] });
  });

  test('refuses what is not a module', () => {
    assert.throws(() => readModinfo(Buffer.from('not an elf file at all, just some text that is long enough to be read')), /not an ELF/);
    assert.throws(() => readModinfo(elfWithModinfo(undefined)), /no \.modinfo/);
    const truncated = elfWithModinfo('name=x\0').subarray(0, 100);
    assert.throws(() => readModinfo(truncated), /truncated/);
  });

  test('orders dependencies first, skips built-ins, reports absent wanted modules, refuses missing dependencies', () => {
    const mods = new Map<string, ModuleInfo>([
      ['virtio', { name: 'virtio', depends: [] }],
      ['virtio_ring', { name: 'virtio_ring', depends: [] }],
      ['virtio_blk', { name: 'virtio_blk', depends: ['virtio', 'virtio_ring'] }],
      ['nvme_core', { name: 'nvme-core', depends: [] }],
      ['nvme', { name: 'nvme', depends: ['nvme-core'] }],
      ['sd_mod', { name: 'sd_mod', depends: ['scsi_mod', 't10-pi'] }],
      ['scsi_mod', { name: 'scsi_mod', depends: [] }],
    ]);
    const { order, absent } = insmodOrder(['virtio_blk', 'nvme', 'ahci', 'sd_mod'], mods, new Set(['t10_pi']));
    assert.deepEqual(order, ['virtio', 'virtio_ring', 'virtio_blk', 'nvme_core', 'nvme', 'scsi_mod', 'sd_mod']);
    assert.deepEqual(absent, ['ahci']);
    assert.throws(() => insmodOrder(['sd_mod'], mods), /sd_mod needs t10-pi, which the kernel package does not contain/);
    const cycle = new Map<string, ModuleInfo>([
      ['a', { name: 'a', depends: ['b'] }],
      ['b', { name: 'b', depends: ['a'] }],
    ]);
    assert.throws(() => insmodOrder(['a'], cycle), /cycle/);
  });
});

describe('initramfs', () => {
  test('is a newc archive the cpio tool reads back, with the modes, links and bytes given', async (t) => {
    const cpio = findTool('cpio');
    if (!cpio) return t.skip('cpio is not installed (apt-get install cpio)');
    const binary = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    const archive = cpioNewc([
      { path: 'bin', type: 'dir' },
      { path: '/bin/tool', type: 'file', data: binary, mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', target: 'tool' },
      { path: 'init', type: 'file', data: '#!/bin/sh\necho hi\n', mode: 0o700 },
    ]);
    assert.equal(archive.length % 4, 0);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cpio-'));
    try {
      const out = spawnSync(cpio, ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: dir, input: archive });
      assert.equal(out.status, 0, out.stderr.toString());
      assert.deepEqual(readFileSync(join(dir, 'bin', 'tool')), binary);
      assert.equal(statSync(join(dir, 'bin', 'tool')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(join(dir, 'bin', 'sh')), 'tool');
      assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
      assert.equal(statSync(join(dir, 'init')).mode & 0o777, 0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const gz = await buildInitramfs([{ path: 'init', type: 'file', data: 'x' }]);
    assert.deepEqual(gunzipSync(gz), cpioNewc([{ path: 'init', type: 'file', data: 'x' }]), 'the same bytes on every build');
    assert.throws(() => cpioNewc([{ path: '../etc/passwd', type: 'file', data: '' }]), /bad initramfs path/);
  });
});

describe("the sample guest's /init", () => {
  const options = { hostname: 'boot-kvm01', diskSignature: 'd81bfb0c', modules: ['virtio.ko', 'virtio_blk.ko'], guestAgent: '/usr/bin/qemu-ga' };

  test('is a shell script busybox parses, printing the documented marker', (t) => {
    const script = guestInitScript(options);
    assert.match(script, new RegExp(`say "${BOOT_MARKER} \\$HOST"`));
    assert.match(script, /org\.qemu\.guest_agent\.0/);
    assert.doesNotMatch(guestInitScript({ ...options, guestAgent: undefined } as never), /qemu-ga/);
    const busybox = findTool('busybox');
    if (!busybox) return t.skip('busybox is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-init-'));
    try {
      writeFileSync(join(dir, 'init'), script);
      const parsed = spawnSync(busybox, ['sh', '-n', join(dir, 'init')]);
      assert.equal(parsed.status, 0, parsed.stderr.toString());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses values that would change the script', () => {
    assert.throws(() => guestInitScript({ ...options, diskSignature: '"; reboot; "' }), /bad disk signature/);
    assert.throws(() => guestInitScript({ ...options, hostname: 'a b' }), /bad hostname/);
    assert.throws(() => guestInitScript({ ...options, modules: ['x.ko; reboot'] }), /bad module/);
  });

  test('looks for the disk signature sfdisk writes for the seed (label-id, little-endian on disk)', () => {
    const labelId = createHash('sha256').update('boot-kvm01:0').digest('hex').slice(0, 8);
    const onDisk = Buffer.from(labelId, 'hex').reverse().toString('hex');
    assert.equal(mbrSignatureBytes('boot-kvm01:0').toString('hex'), onDisk);
  });
});
