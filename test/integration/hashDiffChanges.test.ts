/**
 * A hash-diff run (a raw disk without change tracking: every allocated block read again and compared by hash)
 * never misses a change: one byte at a block's start, middle or end, in the disk's last partial block, a data
 * block punched into a hole and a hole written with data. Runs the block engine (copyDisk) on a real sparse file
 * into a real image store, both ways a raw source is read on a full read (disks/directReads.ts): through the page
 * cache (the file is resident) and with O_DIRECT (dropped from the cache first); the second image exports identical
 * to the changed file and only the changed blocks are stored.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyDisk, plannedBlocks } from '../../src/agent/copyDisk.ts';
import { HashPool } from '../../src/agent/hashPool.ts';
import { RawFileSource } from '../../src/agent/disks/rawSource.ts';
import type { ConnectorTransport } from '../../src/protocol/connector/messages.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import type { ImageStore } from '../../src/images/imageStore.ts';
import { flipByte, hasFallocate, makeSparseDisk, writeAt } from '../helpers/rawDiskEdits.ts';
import { B, exported, JOB, openFixture, tenant } from '../helpers/imageStoreFixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-hash-diff-'));
const pool = new HashPool(2);
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** 16 blocks and a 100 KiB tail; blocks 6, 7, 14 and 15 are holes. */
const SIZE = 16 * B + 100 * 1024;
const HOLES = [6, 7, 14, 15];

const makeDisk = (path: string) => makeSparseDisk(path, SIZE, B, HOLES);

/** The file in the page cache (read from there), or dropped from it (read directly, where O_DIRECT works). */
function cache(path: string, how: 'cached' | 'direct'): void {
  if (how === 'cached') execFileSync('cat', [path], { stdio: 'ignore' });
  else execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

async function copy(images: ImageStore, runId: string, path: string, how: 'cached' | 'direct') {
  await images.beginImage(runId, { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: SIZE }] });
  execFileSync('sync', ['-f', path]);
  cache(path, how);
  const source = await RawFileSource.open(path, { dataPath: path, dataOffset: 0, size: SIZE, format: 'raw' });
  try {
    const ranges = await plannedBlocks(source, 'full');
    const transport = {
      missingBlocks: (id: string, sha256s: Buffer[]) => images.missingBlocks(id, sha256s),
      putBlocks: async (id: string, blocks: { sha256: Buffer; data: Buffer }[]) => void (await images.putBlocks(id, blocks, { trustedDigests: true })),
      recordBlocks: (id: string, diskIndex: number, records: { blockIndex: number; sha256: Buffer | null }[]) => images.recordBlocks(id, diskIndex, records),
    } as unknown as ConnectorTransport;
    const stats = await copyDisk({ runId, diskIndex: 0, source, mode: 'full', committed: new Set(), ranges }, { transport, pool });
    const { amiId } = await images.finishImage(runId);
    return { amiId, stats, bytesRead: source.bytesRead };
  } finally {
    await source.close();
  }
}

for (const how of ['cached', 'direct'] as const) {
  test(`a hash diff finds every changed byte, hole and new data (${how === 'cached' ? 'read through the page cache' : 'read with O_DIRECT where possible'})`, { skip: hasFallocate ? false : 'no fallocate (util-linux) to punch a hole' }, async () => {
    const f = await openFixture();
    const path = join(dir, `${how}.img`);
    try {
      makeDisk(path);
      const first = await copy(f.images, `sms-run-${how === 'cached' ? '0000000a' : '0000000b'}`, path, how);
      assert.deepEqual(await exported(f.images, first.amiId, 0, f.dir), readFileSync(path));
      const dataBlocks = 17 - HOLES.length;
      assert.equal(first.stats.blocksSent, dataBlocks);
      assert.equal(first.bytesRead, SIZE - HOLES.length * B, 'holes are not read');

      // One byte at the start of block 1, in the middle of block 3, at the end of block 4 and at the very end of
      // the disk (its partial last block); block 9 becomes a hole; hole 6 gets data.
      flipByte(path, 1 * B);
      flipByte(path, 3 * B + B / 2);
      flipByte(path, 5 * B - 1);
      flipByte(path, SIZE - 1);
      execFileSync('fallocate', ['--punch-hole', '--offset', String(9 * B), '--length', String(B), path]);
      writeAt(path, 6 * B + 4096, randomBytes(1000));

      const second = await copy(f.images, `sms-run-${how === 'cached' ? '0000001a' : '0000001b'}`, path, how);
      const changed = readFileSync(path);
      assert.deepEqual(await exported(f.images, second.amiId, 0, f.dir), changed, 'the new image is the changed disk');
      assert.equal(second.stats.blocksSent, 5, 'blocks 1, 3, 4, 6 and the last block are new');
      const read = dataBlocks; // block 9 is a hole now, block 6 is data
      assert.equal(second.stats.blocksRead, read);
      assert.equal(second.stats.blocksDeduplicated, read - 5, 'every other block is known');
      assert.equal(second.bytesRead, SIZE - HOLES.length * B, 'the new hole is not read, the new data is');
      assert.deepEqual(await f.images.readBlock(second.amiId, 0, 9), Buffer.alloc(B), 'the punched block reads as zeros');
      assert.notDeepEqual(await exported(f.images, first.amiId, 0, f.dir), changed, 'the first image keeps the old content');
    } finally {
      await f.close();
    }
  });
}
