/**
 * The hash diff over a parent image (a raw disk without change tracking, its image incremental): the block engine
 * (copyDisk) reads a real sparse file whole, the real image store says which blocks differ from the parent's, and
 * only those are sent and recorded — a changed byte, a block written with zeros, a hole punched where the parent had
 * data, data written into a hole, the disk's partial last block. The image exports identical to the disk. A run
 * interrupted mid-copy (the connector killed), then again before finishing with the service killed too, resumes
 * from what it committed and still ends with an image equal to the disk. A disk of another size cannot be compared.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyDisk, plannedBlocks } from '../../src/agent/copyDisk.ts';
import { HashPool } from '../../src/agent/hashPool.ts';
import { RawFileSource } from '../../src/agent/disks/rawSource.ts';
import type { ConnectorTransport, DiffSpan } from '../../src/protocol/connector/messages.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import type { ImageStore } from '../../src/images/imageStore.ts';
import { flipByte, hasFallocate, makeSparseDisk, punchHole, writeAt } from '../helpers/rawDiskEdits.ts';
import { B, crash, exported, JOB, openFixture, tenant, type Fixture } from '../helpers/imageStoreFixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-hash-diff-parent-'));
const pool = new HashPool(2);
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const skip = hasFallocate ? false : 'no fallocate (util-linux) to punch a hole';

const makeDisk = (path: string, size: number, holes: number[]) => makeSparseDisk(path, size, B, holes);
const punch = (path: string, block: number) => punchHole(path, block * B, B);

interface Calls {
  diffs: number;
  puts: number;
  recorded: number[];
}

/** The call that fails (the connector killed then). */
type Kill = { call: 'diffBlocks' | 'putBlocks'; at: number };

/** The transport calls copyDisk makes, straight into the store. */
function transportOf(images: ImageStore, calls: Calls, kill?: Kill): ConnectorTransport {
  return {
    diffBlocks: async (id: string, diskIndex: number, span: DiffSpan) => {
      if (++calls.diffs === kill?.at && kill.call === 'diffBlocks') throw new Error('connector killed');
      return images.diffBlocks(id, diskIndex, span);
    },
    missingBlocks: (id: string, sha256s: Buffer[]) => images.missingBlocks(id, sha256s),
    putBlocks: async (id: string, blocks: { sha256: Buffer; data: Buffer }[]) => {
      if (++calls.puts === kill?.at && kill.call === 'putBlocks') throw new Error('connector killed');
      await images.putBlocks(id, blocks, { trustedDigests: true });
    },
    recordBlocks: async (id: string, diskIndex: number, records: { blockIndex: number; sha256: Buffer | null }[]) => {
      await images.recordBlocks(id, diskIndex, records);
      for (const r of records) calls.recorded.push(r.blockIndex);
    },
  } as unknown as ConnectorTransport;
}

/** Begins (or resumes) the run's image and copies the disk into it; the image is not finished. */
async function copy(images: ImageStore, runId: string, path: string, size: number, parentAmiId: string | undefined, calls: Calls, kill?: Kill) {
  await images.beginImage(runId, {
    tenant,
    replicationJobId: JOB,
    sealer: plainSealer,
    disks: [{ index: 0, sizeBytes: size }],
    ...(parentAmiId ? { mode: 'incremental' as const, parentAmiId } : {}),
  });
  const committed = await images.committedBlocks(runId, 0);
  const source = await RawFileSource.open(path, { dataPath: path, dataOffset: 0, size, format: 'raw' });
  try {
    const ranges = await plannedBlocks(source, 'full');
    const compareWithParent = parentAmiId ? { blockCount: Math.ceil(size / B) } : undefined;
    return await copyDisk({ runId, diskIndex: 0, source, mode: 'full', committed, ranges, compareWithParent }, { transport: transportOf(images, calls, kill), pool });
  } finally {
    await source.close();
  }
}

const newCalls = (): Calls => ({ diffs: 0, puts: 0, recorded: [] });

test('an incremental hash diff sends and records only the blocks that differ, and its image is the disk', { skip }, async () => {
  const f = await openFixture();
  const path = join(dir, 'small.img');
  try {
    // 16 blocks and a 100 KiB tail; blocks 6, 7, 14 and 15 are holes.
    const size = 16 * B + 100 * 1024;
    makeDisk(path, size, [6, 7, 14, 15]);
    await copy(f.images, 'sms-run-000000a1', path, size, undefined, newCalls());
    const { amiId: parent } = await f.images.finishImage('sms-run-000000a1');

    flipByte(path, 1 * B + 12345);
    writeAt(path, 3 * B, Buffer.alloc(B)); // all zeros now, still allocated
    punch(path, 9); // a hole where the parent had data
    writeAt(path, 6 * B + 4096, randomBytes(1000)); // data in a parent hole
    flipByte(path, size - 1); // the partial last block

    const calls = newCalls();
    const stats = await copy(f.images, 'sms-run-000000a2', path, size, parent, calls);
    const changed = [1, 3, 6, 9, 16];
    const committed = await f.images.committedBlocks('sms-run-000000a2', 0);
    assert.deepEqual(Array.from({ length: 17 }, (_, i) => i).filter((i) => committed.has(i)), changed, 'only the differing blocks are recorded');
    assert.deepEqual(calls.recorded.sort((a, b) => a - b), changed);
    assert.equal(stats.blocksRead, 13, 'every data block is read (block 9 is a hole now, block 6 data)');
    assert.equal(stats.blocksSent, 3, 'blocks 1, 6 and 16 are new; 3 is zeros, 9 a hole');
    assert.equal(stats.blocksReadAgain, 3, 'the blocks to send are read a second time, the zeros are not');
    assert.equal(calls.diffs, 1, 'one question for the whole disk');
    assert.equal(stats.blocksUnchanged, 13 - 4, 'the blocks read that the parent holds');
    assert.equal(stats.blocksDeduplicated, 0);
    const { amiId } = await f.images.finishImage('sms-run-000000a2');
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), readFileSync(path), 'the new image is the changed disk');
    assert.deepEqual(await f.images.readBlock(amiId, 0, 9), Buffer.alloc(B), 'the punched block reads as zeros');
    assert.notDeepEqual(await exported(f.images, parent, 0, f.dir), readFileSync(path), 'the parent keeps the old content');

    // A disk of another size cannot be compared with the parent (the connector reads it in full instead).
    await f.images.beginImage('sms-run-000000a3', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: size - B }], mode: 'incremental', parentAmiId: amiId });
    await assert.rejects(f.images.diffBlocks('sms-run-000000a3', 0, { start: 0, end: 1, blocks: [] }), /cannot be compared with parent image .*its size changed/);
  } finally {
    await f.close();
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('an incremental hash diff killed mid-copy, then with the service killed before it finished, resumes to an image equal to the disk', { skip }, async () => {
  let f: Fixture = await openFixture();
  const path = join(dir, 'resume.img');
  const size = 100 * B;
  try {
    makeDisk(path, size, [40, 41, 42, 90]);
    await copy(f.images, 'sms-run-000000b1', path, size, undefined, newCalls());
    const { amiId: parent } = await f.images.finishImage('sms-run-000000b1');

    // Changes in every copy batch of 32 blocks, holes punched and filled, and the tail after the last data block.
    for (const block of [2, 33, 70]) flipByte(path, block * B + 777);
    writeAt(path, 41 * B, randomBytes(B));
    punch(path, 10);
    punch(path, 97);
    punch(path, 98);
    punch(path, 99);

    // The connector dies at its first comparison, then (run again) as it sends the first block that differs: what
    // it recorded by then (perhaps nothing) stays committed.
    await assert.rejects(copy(f.images, 'sms-run-000000b2', path, size, parent, newCalls(), { call: 'diffBlocks', at: 1 }), /connector killed/);
    await assert.rejects(copy(f.images, 'sms-run-000000b2', path, size, parent, newCalls(), { call: 'putBlocks', at: 1 }), /connector killed/);
    // The next attempt copies everything but is killed, with the service, before finishImage.
    const second = newCalls();
    await copy(f.images, 'sms-run-000000b2', path, size, parent, second);
    await crash(f);
    f = await f.reopen();
    // Meanwhile one more block changes.
    flipByte(path, 60 * B + 5);
    const third = newCalls();
    const stats = await copy(f.images, 'sms-run-000000b2', path, size, parent, third);
    assert.deepEqual(third.recorded.sort((a, b) => a - b), [60], 'only the block changed since is recorded again');
    assert.equal(stats.blocksSent, 1);
    assert.equal(stats.blocksSkippedAsCommitted, 4, 'the data blocks committed before (2, 33, 41, 70) are not read again');
    const { amiId } = await f.images.finishImage('sms-run-000000b2');
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), readFileSync(path), 'the resumed image is the disk');
  } finally {
    await f.close();
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('the parent deleted and collected twice while a hash diff writes: the blocks it did not send are kept, and its image is the disk', { skip }, async () => {
  const f = await openFixture();
  const path = join(dir, 'gc.img');
  try {
    const size = 12 * B;
    makeDisk(path, size, [4]);
    await copy(f.images, 'sms-run-000000d1', path, size, undefined, newCalls());
    const { amiId: parent } = await f.images.finishImage('sms-run-000000d1');
    flipByte(path, 2 * B + 99);
    punch(path, 7);

    await f.images.beginImage('sms-run-000000d2', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: size }], mode: 'incremental', parentAmiId: parent });
    await f.images.deleteImage(tenant, JOB, parent);
    await f.images.collectGarbage();
    await f.images.collectGarbage();
    const calls = newCalls();
    const stats = await copy(f.images, 'sms-run-000000d2', path, size, parent, calls);
    assert.deepEqual(calls.recorded.sort((a, b) => a - b), [2, 7]);
    assert.equal(stats.blocksSent, 1);
    const { amiId } = await f.images.finishImage('sms-run-000000d2');
    await f.images.collectGarbage();
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), readFileSync(path), 'every block the run inherited survived the collections');
  } finally {
    await f.close();
  }
});
