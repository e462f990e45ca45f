/** Snapshot manifests on real files: format 2 (data entries only) written and read, format 1 still read, damage caught. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_CHUNK, ManifestWriter, openManifest, type ManifestReader } from '../../src/images/manifest.ts';

const B = 512 * 1024;
const TIB = 2 ** 40;

function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-manifest-'));
  return work(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Writes a format 2 manifest of `entries` ([blockIndex, blockId], ascending). */
function writeV2(path: string, sizeBytes: number, entries: [number, number][]): string {
  const writer = new ManifestWriter(path, sizeBytes, Math.ceil(sizeBytes / B));
  for (const [index, id] of entries) writer.push(index, id);
  return writer.finish().sha256;
}

/** Format 1 as images made before format 2 have it: one u64 per block index (0 = zero), SHA-256 of the entries. */
function writeV1(path: string, sizeBytes: number, ids: number[]): string {
  const entries = Buffer.alloc(ids.length * 8);
  ids.forEach((id, i) => entries.writeBigUInt64LE(BigInt(id), i * 8));
  const header = Buffer.alloc(64);
  header.write('FRYMNF01', 0, 'latin1');
  header.writeUInt32LE(1, 8);
  header.writeUInt32LE(B, 12);
  header.writeUIntLE(sizeBytes, 16, 6);
  header.writeUIntLE(ids.length, 24, 6);
  header.writeUIntLE(ids.filter((id) => id !== 0).length, 32, 6);
  const digest = createHash('sha256').update(entries).digest();
  writeFileSync(path, Buffer.concat([header, entries, digest]));
  return digest.toString('hex');
}

async function allEntries(manifest: ManifestReader, sha?: string): Promise<[number, number][]> {
  const out: [number, number][] = [];
  for await (const chunk of manifest.chunks(sha)) for (let i = 0; i < chunk.ids.length; i++) out.push([chunk.indexes[i]!, chunk.ids[i]!]);
  return out;
}

function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] = byte[0]! ^ 0xff;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}

test('format 2: a 64 TiB disk with five data blocks is a 160-byte manifest, with lookups by block index', () =>
  withDir(async (dir) => {
    const path = join(dir, 'sparse.manifest');
    const last = (64 * TIB) / B - 1;
    const entries: [number, number][] = [
      [0, 11],
      [1, 12],
      [2, 13],
      [1000, 2 ** 40 + 5], // ids above 2^32 survive
      [last, 99],
    ];
    const sha = writeV2(path, 64 * TIB, entries);
    assert.equal(statSync(path).size, 64 + 5 * 8 + 3 * 8 + 32);
    const manifest = await openManifest(path);
    try {
      assert.equal(manifest.version, 2);
      assert.equal(manifest.sizeBytes, 64 * TIB);
      assert.equal(manifest.blockCount, last + 1);
      assert.equal(manifest.dataBlocks, 5);
      await manifest.verify(sha);
      assert.deepEqual(await allEntries(manifest, sha), entries);
      for (const [index, id] of entries) assert.equal(await manifest.entry(index), id);
      for (const zero of [3, 999, 1001, last - 1, 2 ** 26]) assert.equal(await manifest.entry(zero), 0);
      const some = await manifest.dataEntries(1, 1001);
      assert.deepEqual([...some.indexes], [1, 2, 1000]);
      assert.deepEqual([...some.ids], [12, 13, 2 ** 40 + 5]);
      assert.equal((await manifest.dataEntries(3, 1000)).ids.length, 0);
      assert.deepEqual([...(await manifest.dataEntries(0, last + 1)).indexes], entries.map(([index]) => index));
      await assert.rejects(manifest.dataEntries(0, last + 2), RangeError);
      await assert.rejects(manifest.entry(last + 1), RangeError);
    } finally {
      await manifest.close();
    }
  }));

test('format 2: dense and fragmented disks, across chunk and run-page boundaries', () =>
  withDir(async (dir) => {
    const dense: [number, number][] = Array.from({ length: MANIFEST_CHUNK * 2 + 7 }, (_, i) => [i + 3, i + 1]);
    const densePath = join(dir, 'dense.manifest');
    const denseSha = writeV2(densePath, (dense.length + 10) * B - 123, dense);
    assert.equal(statSync(densePath).size, 64 + dense.length * 8 + 8 + 32, 'one run: 8 bytes a block, as format 1');
    const d = await openManifest(densePath);
    try {
      assert.deepEqual(await allEntries(d, denseSha), dense);
      assert.equal(await d.entry(MANIFEST_CHUNK + 3), MANIFEST_CHUNK + 1);
      assert.equal(await d.entry(2), 0);
    } finally {
      await d.close();
    }

    // Every other block: 5,000 runs, ten pages of the run table.
    const fragmented: [number, number][] = Array.from({ length: 5000 }, (_, i) => [2 * i, 7 + i]);
    const fragPath = join(dir, 'fragmented.manifest');
    const fragSha = writeV2(fragPath, 10_000 * B, fragmented);
    const f = await openManifest(fragPath);
    try {
      assert.deepEqual(await allEntries(f, fragSha), fragmented);
      for (const i of [0, 1, 511 * 2, 512 * 2, 4999 * 2, 4999 * 2 + 1, 2 * 2500 + 1]) assert.equal(await f.entry(i), i % 2 === 0 ? 7 + i / 2 : 0, `block ${i}`);
      assert.deepEqual([...(await f.dataEntries(1023, 1030)).indexes], [1024, 1026, 1028]);
    } finally {
      await f.close();
    }
  }));

test('format 2: the writer takes ascending indexes inside the disk and skips zeros', () =>
  withDir(async (dir) => {
    const writer = new ManifestWriter(join(dir, 'w.manifest'), 10 * B, 10);
    writer.push(3, 1);
    writer.push(4, 0); // zero: not listed, and it ends the run
    writer.push(5, 2);
    assert.throws(() => writer.push(5, 3), /out of order/);
    assert.throws(() => writer.push(10, 3), /outside/);
    const summary = writer.finish();
    assert.equal(summary.dataBlocks, 2);
    const m = await openManifest(join(dir, 'w.manifest'));
    try {
      assert.deepEqual(await allEntries(m), [[3, 1], [5, 2]]);
      assert.equal(await m.entry(4), 0);
    } finally {
      await m.close();
    }
    assert.throws(() => new ManifestWriter(join(dir, 'x.manifest'), 10 * B, 11), /cannot describe/);
  }));

test('format 2: any altered byte (ids, runs or header) is caught; the wrong file is told apart', () =>
  withDir(async (dir) => {
    const entries: [number, number][] = [[0, 5], [1, 6], [7, 8], [9, 10]];
    for (const [name, offset] of [['an id', 64 + 8], ['a run', 64 + 4 * 8 + 8], ['the header padding', 60], ['the trailer', 64 + 4 * 8 + 2 * 8 + 3]] as const) {
      const path = join(dir, `damaged.manifest`);
      const sha = writeV2(path, 10 * B, entries);
      flipByte(path, offset);
      const m = await openManifest(path);
      try {
        await assert.rejects(m.verify(sha), /checksum mismatch \(the file was altered\)/, name);
      } finally {
        await m.close();
      }
    }
    const path = join(dir, 'other.manifest');
    writeV2(path, 10 * B, entries);
    const m = await openManifest(path);
    try {
      await assert.rejects(m.verify('00'.repeat(32)), /differs from the one recorded for the snapshot/);
    } finally {
      await m.close();
    }
    flipByte(path, 32); // data blocks: the lengths no longer add up
    await assert.rejects(openManifest(path), /inconsistent header|unexpected length/);
  }));

test('format 1 manifests already on disk are still read, zeros left out of the data entries', () =>
  withDir(async (dir) => {
    const path = join(dir, 'old.manifest');
    const ids = [4, 0, 0, 9, 10, 0, 3, 0];
    const sha = writeV1(path, ids.length * B - 100, ids);
    const m = await openManifest(path);
    try {
      assert.equal(m.version, 1);
      assert.equal(m.dataBlocks, 4);
      await m.verify(sha);
      assert.deepEqual(await allEntries(m, sha), [[0, 4], [3, 9], [4, 10], [6, 3]]);
      assert.equal(await m.entry(3), 9);
      assert.equal(await m.entry(5), 0);
      assert.deepEqual([...(await m.dataEntries(1, 5)).indexes], [3, 4]);
    } finally {
      await m.close();
    }
    flipByte(path, 64 + 8);
    const damaged = await openManifest(path);
    try {
      await assert.rejects(damaged.verify(sha), /checksum mismatch/);
    } finally {
      await damaged.close();
    }
  }));
