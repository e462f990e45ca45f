/**
 * The inventory's raw-disk facts come from fstat instead of a `qemu-img info -f raw` process: they must be what
 * qemu-img itself reports for the same files (sizes that are not whole sectors, sparse files, a qcow2 header
 * inside a file the definition calls raw).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { qemuImgInfo, rawInfoDirectly } from '../../src/agent/inventory/qemuImg.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';

const skip = qemuUtilsMissing();
const dir = mkdtempSync(join(tmpdir(), 'ferry-rawinfo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sparseFile(name: string, size: number, writes: Array<[number, Buffer]>): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    for (const [offset, bytes] of writes) writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
  spawnSync('truncate', ['-s', String(size), path]);
  return path;
}

test('raw facts from fstat equal qemu-img info -f raw', { skip }, async () => {
  const qcow2Inside = join(dir, 'guest-wrote-a-header.img');
  assert.equal(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2Inside, '64M']).status, 0);
  const files = [
    sparseFile('odd.img', 1_000_001, [[0, randomBytes(4096)]]),
    sparseFile('sparse.raw', 64 * 1024 * 1024, [[0, randomBytes(65536)], [40 * 1024 * 1024, randomBytes(1000)]]),
    sparseFile('one-byte.img', 1, [[0, Buffer.from([7])]]),
    qcow2Inside,
  ];
  writeFileSync(join(dir, 'dense.img'), randomBytes(3 * 1024 * 1024 + 5));
  files.push(join(dir, 'dense.img'));
  for (const path of files) {
    const direct = await rawInfoDirectly(path);
    const qemu = await qemuImgInfo(path, 'raw');
    assert.ok(direct, path);
    assert.deepEqual(direct, { ...qemu, bitmaps: [] }, path);
    assert.equal(direct.format, 'raw', path);
  }
});

test('anything but a regular file is left to qemu-img', async () => {
  assert.equal(await rawInfoDirectly(dir), undefined);
  assert.equal(await rawInfoDirectly(join(dir, 'missing.img')), undefined);
});
