/**
 * The overlay Ferry writes itself (src/launch/qcow2Overlay.ts) against `qemu-img create`, which wrote it before:
 * the same bytes for every size class (one L1 cluster or more, sizes not on a sector), and QEMU reads through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inTempDir } from '../helpers/tempDirs.ts';
import { qcow2Overlay, writeQcow2Overlay } from '../../src/launch/qcow2Overlay.ts';

const run = promisify(execFile);

const SOCKET_URI = 'nbd+unix:///?socket=/var/lib/ferry/instances/i-0123456789abcdef0/disk0.sock';

for (const [what, size] of [
  ['32 MiB (the sample)', 32 * 1024 * 1024],
  ['4 GiB', 4 * 1024 ** 3],
  ['512 MiB + 1 byte (rounded up to a sector, a second L2)', 512 * 1024 * 1024 + 1],
  ['one sector', 512],
  ['8 TiB (an L1 table of two clusters)', 8 * 1024 ** 4],
] as const) {
  test(`the overlay of ${what} is what qemu-img create writes, byte for byte`, async () => {
    await inTempDir('ferry-qcow2-', async (dir) => {
      const theirs = join(dir, 'qemu-img.qcow2');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', SOCKET_URI, '-u', theirs, String(size)]);
      const ours = qcow2Overlay(SOCKET_URI, size);
      const expected = await readFile(theirs);
      assert.equal(ours.length, expected.length);
      assert.ok(ours.equals(expected), `first difference at byte ${ours.findIndex((b, i) => b !== expected[i])}`);
    });
  });
}

test('QEMU checks the overlay clean and reads the backing file through it; writing to it leaves the backing file alone', async () => {
  await inTempDir('ferry-qcow2-', async (dir) => {
    const backing = join(dir, 'image.raw');
    const content = Buffer.alloc(3 * 1024 * 1024 + 512);
    for (let i = 0; i < content.length; i += 4096) content.write(`block ${i / 4096}`, i);
    await writeFile(backing, content);
    const overlay = join(dir, 'disk0.qcow2');
    await writeFile(overlay, 'an older, longer file a crashed launch left behind'.repeat(10_000));
    await writeQcow2Overlay(overlay, backing, content.length);
    assert.equal((await stat(overlay)).mode & 0o777, 0o644);

    await run('qemu-img', ['check', '-f', 'qcow2', overlay]);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', '-U', overlay])).stdout) as Record<string, unknown>;
    assert.equal(info['format'], 'qcow2');
    assert.equal(info['virtual-size'], content.length);
    assert.equal(info['backing-filename'], backing);
    assert.equal(info['backing-filename-format'], 'raw');
    await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', overlay, backing]);

    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 64k', overlay]);
    await run('qemu-img', ['check', '-f', 'qcow2', overlay]);
    assert.ok((await readFile(backing)).equals(content));
    const read = await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0xab 1M 64k', overlay]);
    assert.doesNotMatch(read.stdout, /Pattern verification failed/);
  });
});

test('names and sizes QEMU would refuse are refused', () => {
  assert.throws(() => qcow2Overlay('', 512), /backing file name/);
  assert.throws(() => qcow2Overlay('x'.repeat(1024), 512), /backing file name/);
  assert.throws(() => qcow2Overlay(SOCKET_URI, -1), /bad disk size/);
  assert.throws(() => qcow2Overlay(SOCKET_URI, 2 ** 53), /bad disk size|larger than/);
});
