/**
 * A raw source's extents (src/agent/disks/rawSource.ts): qemu-img map through the launcher, collected whole, and a
 * map too large for that (a very fragmented file) streamed from qemu-img as before; both give the file's data runs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawFileSource } from '../../src/agent/disks/rawSource.ts';
import { qemuUtilsMissing } from '../../src/agent/disks/qemuTools.ts';
import type { Extent } from '../../src/agent/disks/diskSource.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-raw-map-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const skip = qemuUtilsMissing() ?? false;

/** A sparse file with `runs` data runs of 4 KiB, every `stride` bytes; the data extents it must report. */
function fragmented(name: string, runs: number, stride: number): { path: string; size: number; data: Extent[] } {
  const path = join(dir, name);
  const size = runs * stride;
  const fd = openSync(path, 'w');
  const page = Buffer.alloc(4096, 0x41);
  const data: Extent[] = [];
  try {
    ftruncateSync(fd, size);
    for (let i = 0; i < runs; i++) {
      writeSync(fd, page, 0, page.length, i * stride);
      data.push({ offset: i * stride, length: page.length, zero: false });
    }
  } finally {
    closeSync(fd);
  }
  return { path, size, data };
}

async function dataExtents(path: string, size: number): Promise<Extent[]> {
  const source = await RawFileSource.open(path, { dataPath: path, dataOffset: 0, size, format: 'raw' });
  try {
    const out: Extent[] = [];
    for await (const extent of source.extents()) if (!extent.zero) out.push(extent);
    return out;
  } finally {
    await source.close();
  }
}

test('a few extents and 40,000 (a map larger than the launcher collects) both come out right', { skip }, async () => {
  const small = fragmented('small.img', 20, 64 * 1024);
  assert.deepEqual(await dataExtents(small.path, small.size), small.data);
  const large = fragmented('large.img', 40_000, 16 * 1024);
  const got = await dataExtents(large.path, large.size);
  assert.equal(got.length, large.data.length);
  assert.deepEqual(got, large.data);
});
