/**
 * Disk sources against real qemu tools: images made with qemu-img / qemu-io in a temp dir (8–16 MiB, sparse)
 * are read through openDisk and compared byte for byte with `qemu-img convert -O raw`; extents are compared
 * with `qemu-img map` (and `nbdinfo --map` when libnbd-bin is installed); qcow2 dirty bitmaps expose exactly the
 * ranges qemu-io wrote; broken files give DiskErrors naming the path; no qemu-nbd outlives its source.
 * Skips (with the reason) when qemu-utils is not installed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, DiskError, type DiskFormat, type Extent } from '../../src/agent/disks/diskSource.ts';
import { openDisk } from '../../src/agent/disks/openDisk.ts';
import { probeDisk } from '../../src/agent/disks/probe.ts';
import { NbdDiskSource } from '../../src/agent/disks/nbdSource.ts';
import { RawFileSource } from '../../src/agent/disks/rawSource.ts';
import { Qcow2FileSource } from '../../src/agent/disks/qcow2Source.ts';
import { applyBitmapSteps, planBitmapRun, addBitmap } from '../../src/agent/disks/dirtyBitmaps.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';
import { collect, MiB, qemuMap, readAll, reference, run, writeSparseRaw } from '../helpers/diskImages.ts';
import { NbdConnectionError } from '../../src/agent/nbd/errors.ts';

const skip = qemuUtilsMissing();
const hasNbdinfo = !skip && spawnSync('nbdinfo', ['--version'], { stdio: 'ignore' }).status === 0;

let dir = '';
let rawPath = '';

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'ferry-disks-test-'));
  // 8 MiB sparse raw: random data at 0–1 MiB, 3–3.5 MiB and 6 MiB + 4 KiB (unaligned tail), written zeros at 5–6 MiB.
  rawPath = join(dir, 'disk.img');
  writeSparseRaw(rawPath, 8);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function assertCovers(extents: Extent[], size: number): void {
  let pos = 0;
  for (const e of extents) {
    assert.equal(e.offset, pos, 'extents are contiguous');
    assert.ok(e.length > 0);
    pos += e.length;
  }
  assert.equal(pos, size, 'extents cover the disk');
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ourSocketDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith(`ferry-nbd-${process.pid}-`));
}

/** Parses `nbdinfo --map[=CTX]` lines "offset length flags description". */
async function nbdinfoMap(socketPath: string, context?: string): Promise<Array<{ offset: number; length: number; flags: number }>> {
  const args = [context ? `--map=${context}` : '--map', `nbd+unix:///disk?socket=${socketPath}`];
  const { stdout } = await run('nbdinfo', args);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .map(([offset, length, flags]) => ({ offset: Number(offset), length: Number(length), flags: Number(flags) }));
}

// ---------------------------------------------------------------------------------------------------------------

const FORMATS: Array<{ name: string; format: DiskFormat; convert: string[]; kind: 'raw' | 'qcow2' | 'nbd' }> = [
  { name: 'qcow2', format: 'qcow2', convert: ['-O', 'qcow2'], kind: 'qcow2' },
  { name: 'vmdk monolithicSparse', format: 'vmdk', convert: ['-O', 'vmdk'], kind: 'nbd' },
  { name: 'vmdk streamOptimized', format: 'vmdk', convert: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], kind: 'nbd' },
  { name: 'vmdk monolithicFlat', format: 'vmdk', convert: ['-O', 'vmdk', '-o', 'subformat=monolithicFlat'], kind: 'raw' },
  { name: 'vhdx', format: 'vhdx', convert: ['-O', 'vhdx'], kind: 'nbd' },
  { name: 'vpc', format: 'vpc', convert: ['-O', 'vpc'], kind: 'nbd' },
];

test('raw: direct fs reads are byte-identical; extents from SEEK_DATA match qemu-img map', { skip }, async () => {
  const probe = await probeDisk(rawPath);
  assert.equal(probe.format, 'raw');
  assert.equal(probe.virtualSize, 8 * MiB);
  const source = await openDisk(rawPath, { format: 'raw' });
  try {
    assert.ok(source instanceof RawFileSource);
    const extents = await collect(source.extents());
    assertCovers(extents, source.size);
    assert.deepEqual(extents, await qemuMap(rawPath, 'raw'));
    assert.ok(extents.some((e) => e.zero), 'holes of the sparse file are reported');
    assert.equal(source.changedExtents(), undefined);
    assert.deepEqual(await readAll(source), readFileSync(rawPath));
    assert.equal(source.bytesRead, 8 * MiB);
    // Unaligned read, and out-of-range reads.
    const piece = Buffer.alloc(1000);
    await source.read(3 * MiB - 17, 1000, piece);
    assert.deepEqual(piece, readFileSync(rawPath).subarray(3 * MiB - 17, 3 * MiB - 17 + 1000));
    await assert.rejects(source.read(8 * MiB - 10, 20, Buffer.alloc(20)), RangeError);
  } finally {
    await source.close();
  }
});

for (const spec of FORMATS) {
  test(`${spec.name}: reads are byte-identical to qemu-img convert -O raw; extents match qemu-img map`, { skip }, async () => {
    const path = join(dir, `${spec.name.replace(/\s+/g, '-')}.${spec.format === 'vpc' ? 'vhd' : spec.format}`);
    await run('qemu-img', ['convert', '-f', 'raw', ...spec.convert, rawPath, path]);
    const expected = await reference(path, spec.format);
    const probe = await probeDisk(path);
    assert.equal(probe.format, spec.format);
    assert.equal(probe.virtualSize, expected.length);
    const source = await openDisk(path, { format: spec.format });
    let pid: number | undefined;
    try {
      assert.equal(source.format, spec.format);
      assert.equal(source.size, expected.length);
      if (spec.kind === 'raw') assert.ok(source instanceof RawFileSource, 'flat VMDK is read directly');
      else if (spec.kind === 'qcow2') assert.ok(source instanceof Qcow2FileSource, 'qcow2 is read directly');
      else {
        assert.ok(source instanceof NbdDiskSource, 'read through qemu-nbd');
        pid = source.server.pid;
        assert.ok(alive(pid));
      }

      const extents = await collect(source.extents());
      assertCovers(extents, source.size);
      if (spec.format === 'vhdx') assert.deepEqual(extents, [{ offset: 0, length: source.size, zero: false }]);
      // qemu's vmdk driver reports a flat extent as all data; Ferry maps the -flat.vmdk file's holes itself.
      else if (source instanceof RawFileSource) assert.deepEqual(extents, await qemuMap(source.dataPath, 'raw'));
      else assert.deepEqual(extents, await qemuMap(path, spec.format));
      if (spec.format !== 'vhdx') assert.ok(extents.some((e) => e.zero), 'holes are known');

      // Whole disk, block by block.
      const whole = await readAll(source);
      assert.ok(whole.equals(expected), 'whole-disk read is byte-identical');

      // Only data extents, as the engine reads: zero extents really are zeros and bytesRead counts what moved.
      const before = source.bytesRead;
      const sparse = Buffer.alloc(source.size);
      for (const e of extents) {
        if (e.zero) {
          assert.ok(expected.subarray(e.offset, e.offset + e.length).every((b) => b === 0), `zero extent ${e.offset}+${e.length} reads as zeros`);
          continue;
        }
        await source.read(e.offset, e.length, sparse.subarray(e.offset));
      }
      assert.ok(sparse.equals(expected), 'data-extent read is byte-identical');
      const dataBytes = extents.filter((e) => !e.zero).reduce((s, e) => s + e.length, 0);
      assert.equal(source.bytesRead - before, dataBytes, 'bytesRead counts exactly the data extents read');

      if (hasNbdinfo && source instanceof NbdDiskSource && spec.name === 'vmdk monolithicSparse') {
        // Cross-check the client's block status with libnbd's.
        const theirs = await nbdinfoMap(source.server.socketPath);
        const ours = await collect(source.client.blockStatus('base:allocation'));
        assert.deepEqual(ours, theirs);
      }
    } finally {
      await source.close();
    }
    if (pid !== undefined) assert.equal(alive(pid), false, 'qemu-nbd is gone after close');
  });
}

test('qcow2 dirty bitmaps: changedExtents is exactly what qemu-io wrote, and only that is read', { skip }, async () => {
  const path = join(dir, 'cbt.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', path, '16M']);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x01 0 4M', path]);

  // Run 1: nothing recorded yet → full, adding ferry-vm1-1 before the read.
  const plan1 = planBitmapRun((await probeDisk(path)).dirtyBitmaps, 'vm1', undefined);
  assert.equal(plan1.mode, 'full');
  assert.equal(plan1.nextBitmap, 'ferry-vm1-1');
  await applyBitmapSteps(path, plan1.before);
  const full = await openDisk(path);
  assert.equal(full.changedExtents(), undefined);
  await full.close();
  await applyBitmapSteps(path, plan1.afterSuccess);
  let recorded = plan1.nextBitmap;

  // Guest writes between runs (one of them smaller than the 64 KiB granularity).
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 1M 64k', '-c', 'write -P 0x33 10M 128k', '-c', 'write -P 0x44 7M 4k', path]);

  // Run 2: incremental from ferry-vm1-1.
  const probe2 = await probeDisk(path);
  assert.deepEqual(probe2.dirtyBitmaps, [{ name: 'ferry-vm1-1', recording: true, inUse: false, granularity: 65536 }]);
  const plan2 = planBitmapRun(probe2.dirtyBitmaps, 'vm1', recorded);
  assert.equal(plan2.mode, 'incremental');
  assert.ok(plan2.mode === 'incremental');
  assert.equal(plan2.readBitmap, 'ferry-vm1-1');
  assert.deepEqual(plan2.before, [{ op: 'add', name: 'ferry-vm1-2' }]);
  await applyBitmapSteps(path, plan2.before);
  const expected = await reference(path, 'qcow2');
  const source = await openDisk(path, { format: 'qcow2', dirtyBitmap: plan2.readBitmap });
  try {
    const changed = await collect(source.changedExtents()!);
    assert.deepEqual(changed, [
      { offset: 1 * MiB, length: 65536 },
      { offset: 7 * MiB, length: 65536 },
      { offset: 10 * MiB, length: 131072 },
    ]);
    if (hasNbdinfo && source instanceof NbdDiskSource) {
      const theirs = (await nbdinfoMap(source.server.socketPath, 'qemu:dirty-bitmap:ferry-vm1-1')).filter((e) => e.flags === 1);
      assert.deepEqual(theirs.map(({ offset, length }) => ({ offset, length })), changed);
    }
    const got = Buffer.alloc(source.size);
    for (const c of changed) await source.read(c.offset, c.length, got.subarray(c.offset));
    for (const c of changed) assert.ok(got.subarray(c.offset, c.offset + c.length).equals(expected.subarray(c.offset, c.offset + c.length)));
    assert.equal(source.bytesRead, 256 * 1024, 'an incremental run reads only the changed extents');
  } finally {
    await source.close();
  }
  await applyBitmapSteps(path, plan2.afterSuccess);
  recorded = plan2.nextBitmap;
  assert.deepEqual((await probeDisk(path)).dirtyBitmaps.map((b) => [b.name, b.recording]), [['ferry-vm1-2', true]]);

  // Run 3 fails after its before-steps; run 4 must still see the writes from before and after that failure.
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x55 2M 64k', path]);
  const plan3 = planBitmapRun((await probeDisk(path)).dirtyBitmaps, 'vm1', recorded);
  await applyBitmapSteps(path, plan3.before); // adds ferry-vm1-3; then the "run" dies
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x66 12M 64k', path]);
  const plan4 = planBitmapRun((await probeDisk(path)).dirtyBitmaps, 'vm1', recorded);
  assert.ok(plan4.mode === 'incremental');
  assert.equal(plan4.readBitmap, 'ferry-vm1-2');
  assert.deepEqual(plan4.before, [
    { op: 'add', name: 'ferry-vm1-4' },
    { op: 'merge', source: 'ferry-vm1-3', target: 'ferry-vm1-2' },
  ]);
  await applyBitmapSteps(path, plan4.before);
  const retry = await openDisk(path, { dirtyBitmap: plan4.readBitmap });
  try {
    assert.deepEqual(await collect(retry.changedExtents()!), [
      { offset: 2 * MiB, length: 65536 },
      { offset: 12 * MiB, length: 65536 },
    ]);
  } finally {
    await retry.close();
  }
  await applyBitmapSteps(path, plan4.afterSuccess);
  assert.deepEqual((await probeDisk(path)).dirtyBitmaps.map((b) => b.name), ['ferry-vm1-4']);
});

test('an in-use bitmap (image not closed cleanly) forces a full run and cannot be opened', { skip }, async () => {
  const path = join(dir, 'inuse.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', path, '8M']);
  await addBitmap(path, 'ferry-vm2-1');
  // A writable qemu-nbd marks the bitmap in-use on open; SIGKILL leaves the flag set.
  const writer = spawn('qemu-nbd', ['-f', 'qcow2', '-k', join(dir, 'rw.sock'), path], { stdio: 'ignore' });
  // qemu-nbd creates its socket before it opens the image: wait until qemu has marked the bitmap in-use.
  for (let i = 0; i < 500; i++) {
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', path]);
    if (stdout.includes('"in-use"')) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('close', r));
  const probe = await probeDisk(path);
  assert.deepEqual(probe.dirtyBitmaps, [{ name: 'ferry-vm2-1', recording: true, inUse: true, granularity: 65536 }]);
  const plan = planBitmapRun(probe.dirtyBitmaps, 'vm2', 'ferry-vm2-1');
  assert.equal(plan.mode, 'full');
  assert.ok(plan.mode === 'full');
  assert.match(plan.reason, /in-use/);
  assert.deepEqual(plan.before, [{ op: 'add', name: 'ferry-vm2-2' }]);
  assert.deepEqual(plan.afterSuccess, [{ op: 'remove', name: 'ferry-vm2-1' }]);
  await assert.rejects(openDisk(path, { dirtyBitmap: 'ferry-vm2-1' }), (error: unknown) => {
    assert.ok(error instanceof DiskError);
    assert.equal(error.path, path);
    assert.match(error.message, /in-use/);
    return true;
  });
  await applyBitmapSteps(path, plan.before);
  await applyBitmapSteps(path, plan.afterSuccess);
  assert.deepEqual((await probeDisk(path)).dirtyBitmaps.map((b) => [b.name, b.inUse]), [['ferry-vm2-2', false]]);
});

test('planBitmapRun: missing or stopped bitmaps mean a full run', { skip }, () => {
  const bm = (name: string, recording = true) => ({ name, recording, inUse: false, granularity: 65536 });
  const gone = planBitmapRun([bm('ferry-a-3'), bm('other')], 'a', 'ferry-a-2');
  assert.ok(gone.mode === 'full' && /not in the image/.test(gone.reason));
  assert.equal(gone.nextBitmap, 'ferry-a-4');
  assert.deepEqual(gone.afterSuccess, [{ op: 'remove', name: 'ferry-a-3' }], 'other labels and foreign bitmaps are left alone');
  const stopped = planBitmapRun([bm('ferry-a-2', false)], 'a', 'ferry-a-2');
  assert.ok(stopped.mode === 'full' && /disabled/.test(stopped.reason));
  const ok = planBitmapRun([bm('ferry-a-1'), bm('ferry-a-2'), bm('ferry-ab-9')], 'a', 'ferry-a-2');
  assert.ok(ok.mode === 'incremental');
  assert.deepEqual(ok.afterSuccess, [
    { op: 'remove', name: 'ferry-a-2' },
    { op: 'remove', name: 'ferry-a-1' },
  ]);
});

test('broken inputs are DiskErrors that name the path', { skip }, async () => {
  const expectDiskError = async (path: string, pattern: RegExp): Promise<void> => {
    await assert.rejects(openDisk(path), (error: unknown) => {
      assert.ok(error instanceof DiskError, String(error));
      assert.equal(error.path, path);
      assert.ok(error.message.startsWith(`${path}: `));
      assert.match(error.message, pattern);
      return true;
    });
  };
  await expectDiskError(join(dir, 'missing.qcow2'), /no such file/);
  const sub = join(dir, 'a-directory.vmdk');
  mkdirSync(sub);
  await expectDiskError(sub, /not a regular file/);
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked.img');
    writeFileSync(locked, Buffer.alloc(4096));
    (await import('node:fs')).chmodSync(locked, 0o000);
    await expectDiskError(locked, /permission denied/);
  }
  const empty = join(dir, 'empty.qcow2');
  writeFileSync(empty, '');
  await expectDiskError(empty, /empty/);
  const garbage = join(dir, 'garbage.vmdk');
  writeFileSync(garbage, randomBytes(256 * 1024));
  await expectDiskError(garbage, /named like a VMDK image but has no VMDK header/);
  const badHeader = join(dir, 'bad-header.qcow2');
  writeFileSync(badHeader, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), randomBytes(4092)]));
  await expectDiskError(badHeader, /not a readable disk image/);

  // Truncations that qemu itself would read as zeros (qcow2, sparse VMDK) and ones it refuses to open.
  const qcow2 = join(dir, 'trunc.qcow2');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, qcow2]);
  truncateSync(qcow2, 600 * 1024);
  await expectDiskError(qcow2, /truncated/);
  const vmdk = join(dir, 'trunc.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', rawPath, vmdk]);
  truncateSync(vmdk, 700 * 1024);
  await expectDiskError(vmdk, /truncated/);
  for (const [format, name] of [['vhdx', 'trunc.vhdx'], ['vpc', 'trunc.vhd']] as const) {
    const p = join(dir, name);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', format, rawPath, p]);
    truncateSync(p, 1024 * 1024);
    await expectDiskError(p, /truncated/i);
  }
  const flatDescriptor = join(dir, 'trunc-desc.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', rawPath, flatDescriptor]);
  truncateSync(join(dir, 'trunc-desc-flat.vmdk'), MiB);
  await assert.rejects(openDisk(flatDescriptor), DiskError);

  // The caller's expected format must match.
  const q = join(dir, 'plain.qcow2');
  await run('qemu-img', ['create', '-f', 'qcow2', q, '1M']);
  await assert.rejects(openDisk(q, { format: 'raw' }), { name: 'DiskError', message: /expected a raw disk but the file is qcow2/ });
  await assert.rejects(openDisk(q, { dirtyBitmap: 'nope' }), { name: 'DiskError', message: /no dirty bitmap named "nope"/ });
  // qemu-nbd itself refusing (here: a bitmap the probe claimed but the image lacks) reports qemu-nbd's reason.
  const stale = await probeDisk(q);
  stale.dirtyBitmaps.push({ name: 'ghost', recording: true, inUse: false, granularity: 65536 });
  await assert.rejects(openDisk(q, { probe: stale, dirtyBitmap: 'ghost' }), { name: 'DiskError', message: /qemu-nbd failed: Bitmap 'ghost' is not found/ });
  assert.deepEqual(ourSocketDirs(), [], 'a failed start leaves no socket directory');
});

test('qemu-nbd dying mid-transfer surfaces as a DiskError; nothing is leaked', { skip }, async () => {
  const path = join(dir, 'dies.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', rawPath, path]);
  const source = await openDisk(path);
  assert.ok(source instanceof NbdDiskSource);
  const pid = source.server.pid;
  const socketDir = source.server.dir;
  await source.read(0, BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE));
  process.kill(pid!, 'SIGKILL');
  const reads = [];
  for (let i = 0; i < 8; i++) reads.push(source.read(i * BLOCK_SIZE, BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE)));
  const results = await Promise.allSettled(reads);
  const failure = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  assert.ok(failure, 'reads after the server died fail');
  assert.ok(failure.reason instanceof DiskError);
  assert.equal(failure.reason.path, path);
  assert.ok(failure.reason.cause instanceof NbdConnectionError);
  await source.close();
  assert.equal(alive(pid), false);
  assert.equal(existsSync(socketDir), false, 'socket directory removed');
  assert.deepEqual(ourSocketDirs(), [], 'no socket directories left behind by this process');
});
