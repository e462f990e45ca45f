/**
 * The probe answers a plain raw file itself (no `qemu-img info`): every file here must get the answer qemu-img's
 * own format probe gives — raw with qemu's virtual size, the container format qemu finds, or the refusal the probe
 * gives a format Ferry does not read or a container name over raw bytes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeDisk } from '../../src/agent/disks/probe.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';

const skip = qemuUtilsMissing();
const dir = mkdtempSync(join(tmpdir(), 'ferry-rawprobe-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function raw(name: string, size: number, writes: Array<[number, Buffer | string]> = []): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    for (const [offset, bytes] of writes) {
      const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
      writeSync(fd, b, 0, b.length, offset);
    }
  } finally {
    closeSync(fd);
  }
  spawnSync('truncate', ['-s', String(size), path]);
  return path;
}

function created(format: string, name: string, options: string[] = []): string {
  const path = join(dir, name);
  const result = spawnSync('qemu-img', ['create', '-q', '-f', format, ...options, path, '8M']);
  assert.equal(result.status, 0, String(result.stderr));
  return path;
}

/** What qemu-img's own probe says of the file; undefined when qemu-img cannot open it. */
function qemuSays(path: string): { format: string; virtualSize: number } | undefined {
  const result = spawnSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const info = JSON.parse(result.stdout) as { format: string; 'virtual-size': number };
  return { format: info.format, virtualSize: info['virtual-size'] };
}

test('every file gets the format and size qemu-img probes, or the same refusal', { skip }, async () => {
  const mbr = Buffer.alloc(512);
  randomBytes(446).copy(mbr);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const qcow2InRaw = created('qcow2', 'guest-wrote-a-qcow2.qcow2');
  renameSync(qcow2InRaw, join(dir, 'guest-wrote-a-qcow2.img'));
  const cases: Array<{ path: string; refused?: RegExp }> = [
    { path: raw('random.img', 4 * 1024 * 1024, [[0, randomBytes(1 << 20)]]) },
    { path: raw('holes.raw', 64 * 1024 * 1024) },
    { path: raw('boot-sector.img', 8 * 1024 * 1024, [[0, mbr]]) },
    { path: raw('odd-size.img', 1_000_001, [[0, randomBytes(4096)]]) },
    { path: raw('tiny.img', 7, [[0, 'abcdefg']]) },
    { path: raw('disk-flat.vmdk', 2 * 1024 * 1024, [[0, randomBytes(4096)]]) },
    { path: raw('says-version.img', 1024 * 1024, [[0, '# Disk DescriptorFile\nversion=1\nCID=fffffffe\n']]), refused: /looks like a VMDK image but qemu cannot open it/ },
    { path: raw('version-inside.img', 1024 * 1024, [[100, 'xx version=3 yy']]) },
    { path: raw('vhd-footer-only.img', 1024 * 1024, [[1024 * 1024 - 512, 'conectix']]) },
    { path: raw('script.img', 1024 * 1024, [[0, '#!/bin/sh\necho\n']]) },
    { path: raw('looks-like-apple.dmg', 1024 * 1024), refused: /not a readable disk image/ },
    { path: join(dir, 'guest-wrote-a-qcow2.img') },
    { path: created('qcow2', 'real.qcow2') },
    { path: created('vmdk', 'sparse.vmdk') },
    { path: created('vpc', 'disk.vhd') },
    { path: created('vhdx', 'disk.vhdx') },
    { path: created('vdi', 'disk.vdi'), refused: /unsupported disk format "vdi"/ },
    { path: created('qed', 'disk.qed'), refused: /unsupported disk format "qed"/ },
    { path: created('parallels', 'disk.hds'), refused: /unsupported disk format "parallels"/ },
    { path: raw('named-vmdk.vmdk', 1024 * 1024, [[0, randomBytes(4096)]]), refused: /named like a VMDK image but has no VMDK header/ },
    { path: raw('named-qcow2.qcow2', 1024 * 1024, [[0, randomBytes(4096)]]), refused: /named like a qcow2 image/ },
  ];
  for (const { path, refused } of cases) {
    const qemu = qemuSays(path);
    if (refused) {
      await assert.rejects(probeDisk(path), refused, path);
      continue;
    }
    assert.ok(qemu, `qemu-img opens ${path}`);
    const probe = await probeDisk(path);
    assert.deepEqual({ format: probe.format, virtualSize: probe.virtualSize }, qemu, path);
  }
});

test('an empty raw file is still refused', async () => {
  writeFileSync(join(dir, 'empty.img'), '');
  await assert.rejects(probeDisk(join(dir, 'empty.img')), /empty/);
});
