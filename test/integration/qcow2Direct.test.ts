/**
 * The direct qcow2 reader (Qcow2FileSource) against real qemu tools: images made with qemu-img / qemu-io in a
 * temp dir (8–64 MiB, sparse) are opened through openDisk, which must pick the direct reader, and read block by
 * block (concurrently, as the engine does) byte-identical to `qemu-img convert -O raw`; extents must match
 * `qemu-img map`. Images the reader does not implement must fall back to qemu-nbd; broken ones must be
 * DiskErrors; dirty bitmaps must report exactly what qemu-nbd's qemu:dirty-bitmap context reports.
 * Skips (with the reason) when qemu-utils is not installed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, DiskError, type Extent } from '../../src/agent/disks/diskSource.ts';
import { NbdDiskSource } from '../../src/agent/disks/nbdSource.ts';
import { openDisk } from '../../src/agent/disks/openDisk.ts';
import { probeDisk } from '../../src/agent/disks/probe.ts';
import { Qcow2FileSource, isUnsupported } from '../../src/agent/disks/qcow2Source.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';
import { collect, MiB, qemuMap, readAll, reference, run, writeSparseRaw } from '../helpers/diskImages.ts';

const skip = qemuUtilsMissing();

let dir = '';
let rawPath = '';

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ferry-qcow2-direct-'));
  // 16 MiB sparse raw: random data at 0–1 MiB, 3–3.5 MiB, 6 MiB + 4 KiB (unaligned) and 12–14 MiB, written
  // zeros at 5–6 MiB (qemu-img convert leaves those unallocated), holes elsewhere.
  rawPath = join(dir, 'disk.img');
  writeSparseRaw(rawPath, 16, [{ offset: 12 * MiB, length: 2 * MiB }]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function makeImage(name: string, convertArgs: string[], ioCommands: string[] = []): Promise<string> {
  const path = join(dir, name);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...convertArgs, rawPath, path]);
  if (ioCommands.length > 0) await run('qemu-io', ['-f', 'qcow2', ...ioCommands.flatMap((c) => ['-c', c]), path]);
  return path;
}

/**
 * Opens through openDisk, asserts the direct reader was chosen, and checks bytes, extents and bytesRead
 * against qemu. Returns the extents for case-specific checks.
 */
async function assertDirectMatchesQemu(path: string, options: { compressed?: boolean } = {}): Promise<Extent[]> {
  const expected = await reference(path, 'qcow2');
  const source = await openDisk(path, { format: 'qcow2' });
  try {
    assert.ok(source instanceof Qcow2FileSource, `${path} is read directly, not through qemu-nbd`);
    assert.equal(source.format, 'qcow2');
    assert.equal(source.size, expected.length);
    assert.equal(source.changedExtents(), undefined);

    const extents = await collect(source.extents());
    assert.deepEqual(extents, await qemuMap(path, 'qcow2'));

    assert.ok((await readAll(source)).equals(expected), 'whole-disk read is byte-identical to qemu-img convert');

    // Only data extents, as the engine reads them: zero extents are zeros, bytesRead counts what came from the file.
    const before = source.bytesRead;
    const sparse = Buffer.alloc(source.size);
    for (const e of extents) {
      if (e.zero) assert.ok(expected.subarray(e.offset, e.offset + e.length).every((b) => b === 0), `zero extent ${e.offset}+${e.length}`);
      else await source.read(e.offset, e.length, sparse.subarray(e.offset));
    }
    assert.ok(sparse.equals(expected), 'data-extent read is byte-identical');
    const dataBytes = extents.filter((e) => !e.zero).reduce((s, e) => s + e.length, 0);
    if (options.compressed) assert.ok(source.bytesRead - before > 0 && source.bytesRead - before <= dataBytes + 2 * source.clusterSize);
    else assert.equal(source.bytesRead - before, dataBytes, 'bytesRead counts exactly the data clusters read');

    // Unaligned reads across cluster boundaries and extent kinds.
    for (const [offset, length] of [
      [3 * MiB - 17, 1000],
      [MiB - 100, 70_000],
      [6 * MiB + 4000, 300],
      [source.size - 777, 777],
    ] as const) {
      const piece = Buffer.alloc(length);
      await source.read(offset, length, piece);
      assert.ok(piece.equals(expected.subarray(offset, offset + length)), `read ${offset}+${length}`);
    }
    await assert.rejects(source.read(source.size - 10, 20, Buffer.alloc(20)), RangeError);
    return extents;
  } finally {
    await source.close();
  }
}

async function assertFallsBack(path: string, reason: RegExp): Promise<void> {
  const probe = await probeDisk(path);
  const direct = await Qcow2FileSource.open(probe.path, { size: probe.virtualSize });
  assert.ok(!(direct instanceof Qcow2FileSource) && isUnsupported(direct), 'the direct reader declines');
  assert.match(direct.unsupported, reason);
  const expected = await reference(path, 'qcow2');
  const source = await openDisk(path);
  try {
    assert.ok(source instanceof NbdDiskSource, `${path} falls back to qemu-nbd`);
    assert.ok((await readAll(source)).equals(expected));
  } finally {
    await source.close();
  }
}

async function expectDiskError(promise: Promise<unknown>, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DiskError, String(error));
    assert.equal(error.path, path);
    assert.match(error.message, pattern);
    return true;
  });
}

function qemuImgSupports(option: string): boolean {
  if (skip) return false;
  const probePath = join(tmpdir(), `ferry-qcow2-opt-${process.pid}.qcow2`);
  const result = spawnSync('qemu-img', ['create', '-f', 'qcow2', '-o', option, probePath, '1M'], { stdio: 'ignore' });
  rmSync(probePath, { force: true });
  return result.status === 0;
}

// ---------------------------------------------------------------------------------------------------------------

test('qcow2 v3, 64 KiB clusters, data / holes / write -z zero clusters', { skip }, async () => {
  const path = await makeImage('v3.qcow2', [], ['write -z 256k 512k', 'write -P 0x5a 8M 192k', 'write -z 12M 1M', 'write -P 0x11 15M 4k']);
  const { stdout } = await run('qemu-img', ['map', '--output=json', path]);
  assert.ok((JSON.parse(stdout) as Array<{ zero: boolean; offset?: number }>).some((e) => e.zero), 'the image has zero clusters');
  const extents = await assertDirectMatchesQemu(path);
  assert.ok(extents.some((e) => e.zero && e.offset === 256 * 1024), 'write -z clusters are zero extents');
});

test('qcow2 v2 (compat=0.10)', { skip }, async () => {
  const path = await makeImage('v2.qcow2', ['-o', 'compat=0.10'], ['write -P 0x77 9M 64k']);
  const source = await openDisk(path);
  try {
    assert.ok(source instanceof Qcow2FileSource);
    assert.equal(source.version, 2);
  } finally {
    await source.close();
  }
  await assertDirectMatchesQemu(path);
});

for (const clusterSize of ['4k', '2M', '512']) {
  test(`qcow2 with cluster_size=${clusterSize}`, { skip }, async () => {
    const path = await makeImage(`c${clusterSize}.qcow2`, ['-o', `cluster_size=${clusterSize}`], ['write -P 0x21 7M 3k', 'write -z 12M 2M']);
    await assertDirectMatchesQemu(path);
  });
}

test('virtual size not a multiple of the cluster size', { skip }, async () => {
  for (const [name, opts, size] of [
    ['odd-64k.qcow2', [], 10 * MiB + 4608],
    ['odd-2m.qcow2', ['-o', 'cluster_size=2M'], 9 * MiB + 512],
  ] as const) {
    const path = join(dir, name);
    await run('qemu-img', ['create', '-f', 'qcow2', ...opts, path, String(size)]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x31 0 1M', '-c', `write -P 0x42 ${size - 4096} 4096`, '-c', `write -P 0x53 ${size - 512} 512`, path]);
    const extents = await assertDirectMatchesQemu(path);
    const last = extents[extents.length - 1]!;
    assert.equal(last.offset + last.length, size, 'extents end at the virtual size');
    assert.equal(last.zero, false);
  }
});

test('compressed images (zlib) are read directly, also with 2 MiB clusters read in pieces', { skip }, async () => {
  // Compressible data, so the clusters really are stored compressed.
  const textRaw = join(dir, 'text.img');
  const text = Buffer.from('All work and no play makes Jack a dull boy. '.repeat(100_000)).subarray(0, 4 * MiB);
  const fd = openSync(textRaw, 'w');
  writeSync(fd, text, 0, text.length, MiB);
  writeSync(fd, randomBytes(MiB), 0, MiB, 6 * MiB); // incompressible: qemu stores these clusters uncompressed
  closeSync(fd);
  truncateSync(textRaw, 16 * MiB);
  for (const [name, opts] of [
    ['comp.qcow2', []],
    ['comp-2m.qcow2', ['-o', 'cluster_size=2M']],
    ['comp-4k.qcow2', ['-o', 'cluster_size=4k']],
  ] as const) {
    const path = join(dir, name);
    await run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', ...opts, textRaw, path]);
    // qemu-img map gives compressed clusters no host offset.
    const { stdout } = await run('qemu-img', ['map', '--output=json', path]);
    const entries = JSON.parse(stdout) as Array<{ data: boolean; offset?: number }>;
    assert.ok(entries.some((e) => e.data && e.offset === undefined), `${name} holds compressed clusters`);
    await assertDirectMatchesQemu(path, { compressed: true });
  }
  rmSync(textRaw);
});

test('zstd compression falls back to qemu-nbd', { skip: skip ?? (qemuImgSupports('compression_type=zstd') ? false : 'qemu-img has no zstd support') }, async () => {
  const path = await makeImage('zstd.qcow2', ['-c', '-o', 'compression_type=zstd']);
  await assertFallsBack(path, /zstd/);
});

test('extended L2 entries fall back to qemu-nbd', { skip: skip ?? (qemuImgSupports('extended_l2=on') ? false : 'qemu-img has no extended_l2') }, async () => {
  const path = await makeImage('ext-l2.qcow2', ['-o', 'extended_l2=on']);
  await assertFallsBack(path, /extended L2/);
});

test('a backing file falls back to qemu-nbd', { skip }, async () => {
  const base = await makeImage('base.qcow2', []);
  const overlay = join(dir, 'overlay.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x66 2M 64k', overlay]);
  await assertFallsBack(overlay, /backing file/);
});

test('metadata preallocation (a file of holes) falls back to qemu-nbd', { skip }, async () => {
  const path = join(dir, 'prealloc.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', '-o', 'preallocation=metadata', path, '64M']);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x12 1M 64k', path]);
  await assertFallsBack(path, /holes/);
});

test('a truncated qcow2 is a DiskError naming the path and guest offset, never zeros', { skip }, async () => {
  const path = await makeImage('trunc.qcow2', []);
  truncateSync(path, 600 * 1024);
  await expectDiskError(openDisk(path), path, /truncated/);
  // Without the probe's check the reader itself must notice.
  const source = await openDisk(path, { verify: false });
  try {
    assert.ok(source instanceof Qcow2FileSource);
    await expectDiskError(readAll(source), path, /truncated.*guest offset \d+/);
  } finally {
    await source.close();
  }
});

test('the corrupt bit is a DiskError', { skip }, async () => {
  const path = await makeImage('corrupt.qcow2', []);
  const fd = openSync(path, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, 79); // incompatible_features, bit 1
  byte[0] = byte[0]! | 2;
  writeSync(fd, byte, 0, 1, 79);
  closeSync(fd);
  await expectDiskError(openDisk(path), path, /corrupt/);
  await expectDiskError(Qcow2FileSource.open(path, { size: 16 * MiB }), path, /marked corrupt/);
});

test('an L2 table outside the file is a DiskError "corrupt qcow2"', { skip }, async () => {
  const path = await makeImage('bad-l1.qcow2', []);
  const file = readFileSync(path);
  const l1Offset = Number(file.readBigUInt64BE(40));
  const fd = openSync(path, 'r+');
  const entry = Buffer.alloc(8);
  entry.writeBigUInt64BE((1n << 63n) | BigInt(file.length + 1024 * 1024));
  writeSync(fd, entry, 0, 8, l1Offset);
  closeSync(fd);
  const source = await Qcow2FileSource.open(path, { size: 16 * MiB });
  assert.ok(source instanceof Qcow2FileSource);
  try {
    await expectDiskError(source.read(0, BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE)), path, /corrupt qcow2: L2 table for guest offset 0/);
    await expectDiskError(collect(source.extents()), path, /corrupt qcow2/);
  } finally {
    await source.close();
  }
});

test('reads after close are DiskErrors', { skip }, async () => {
  const path = await makeImage('closed.qcow2', []);
  const source = await openDisk(path);
  assert.ok(source instanceof Qcow2FileSource);
  await source.close();
  await expectDiskError(source.read(0, 4096, Buffer.alloc(4096)), path, /after close/);
  await source.close();
});

test('dirty bitmaps: changedExtents equals what qemu-nbd reports for the same bitmap', { skip }, async () => {
  const cases = [
    { name: 'bm-64k.qcow2', create: [] as string[], size: 64 * MiB, granularity: undefined as number | undefined },
    // 512-byte granularity over 4 KiB clusters: the bitmap spans several data clusters.
    { name: 'bm-4k.qcow2', create: ['-o', 'cluster_size=4k'], size: 64 * MiB, granularity: 512 },
    // A size that is not a multiple of the granularity: the last bit is clipped.
    { name: 'bm-odd.qcow2', create: [], size: 8 * MiB + 1536, granularity: undefined },
  ];
  for (const c of cases) {
    const path = join(dir, c.name);
    await run('qemu-img', ['create', '-f', 'qcow2', ...c.create, path, String(c.size)]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x01 0 1M', path]);
    await run('qemu-img', ['bitmap', '--add', ...(c.granularity ? ['-g', String(c.granularity)] : []), path, 'cbt']);
    const writes = ['write -P 0x22 64k 64k', 'write -P 0x33 200k 4k', 'write -P 0x44 1047k 3k', 'write -P 0x55 3M 2M', `write -P 0x66 ${c.size - 512} 512`];
    await run('qemu-io', ['-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), path]);
    await run('qemu-img', ['bitmap', '--disable', path, 'cbt']);

    const expected = await reference(path, 'qcow2');
    const source = await openDisk(path, { dirtyBitmap: 'cbt' });
    const nbd = await NbdDiskSource.open(path, { format: 'qcow2', size: c.size, dirtyBitmap: 'cbt' });
    try {
      assert.ok(source instanceof Qcow2FileSource, `${c.name}: the bitmap is read directly`);
      const changed = await collect(source.changedExtents()!);
      assert.deepEqual(changed, await collect(nbd.changedExtents()!), `${c.name}: same dirty ranges as qemu:dirty-bitmap`);
      assert.ok(changed.length >= 4);
      const last = changed[changed.length - 1]!;
      assert.equal(last.offset + last.length, c.size, `${c.name}: clipped to the disk size`);
      for (const r of changed) {
        const got = Buffer.alloc(r.length);
        await source.read(r.offset, r.length, got);
        assert.ok(got.equals(expected.subarray(r.offset, r.offset + r.length)));
      }
    } finally {
      await source.close();
      await nbd.close();
    }
  }
});

test('an in-use dirty bitmap is a DiskError', { skip }, async () => {
  const path = join(dir, 'inuse.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', path, '8M']);
  await run('qemu-img', ['bitmap', '--add', path, 'cbt']);
  // A writable qemu-nbd marks the bitmap in-use on open; SIGKILL leaves the flag set.
  const writer = spawn('qemu-nbd', ['-f', 'qcow2', '-k', join(dir, 'rw.sock'), path], { stdio: 'ignore' });
  for (let i = 0; i < 500; i++) {
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', path]);
    if (stdout.includes('"in-use"')) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('close', r));
  await expectDiskError(openDisk(path, { dirtyBitmap: 'cbt' }), path, /in-use/);
  await expectDiskError(Qcow2FileSource.open(path, { size: 8 * MiB, dirtyBitmap: 'cbt' }), path, /in-use/);
});
