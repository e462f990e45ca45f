/**
 * The local image store reclaiming space: garbage collection of deleted images (alone and concurrently with writers)
 * and compaction of mostly-dead packs; abandoned runs leave nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { PackReader } from '../../src/images/packReader.ts';
import { BlockFetcher } from '../../src/images/blockFetcher.ts';
import { locateBlocks } from '../../src/store/images/blockIndex.ts';
import type { ImageDb } from '../../src/images/db.ts';
import { B, tenant, JOB, openFixture, noise, disk, sha, writeDisk, makeImage, exported, blockIdOf } from '../helpers/imageStoreFixture.ts';

test('GC frees a deleted image’s blocks, keeps shared ones and every block a running writer depends on', async () => {
  const f = await openFixture();
  try {
    const shared = ['g0', 'g1', 'g2', 'g3'];
    const a = await makeImage(f.images, 'sms-run-00000060', [disk([...shared, 'a4', 'a5', 'a6', 't:a7'])]);
    const bData = disk([...shared, 'b4', 'b5']);
    const b = await makeImage(f.images, 'sms-run-00000061', [bData]);
    assert.equal((await f.images.collectGarbage()).sweptBlocks, 0, 'nothing is garbage yet');

    // A run in progress: block 'w0' is put but not recorded; 'a5' (only A has it) is a dedup hit.
    await f.images.beginImage('sms-run-00000062', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: 3 * B }] });
    const w0 = noise('w0');
    await f.images.putBlock('sms-run-00000062', sha(w0), w0);

    await f.images.deleteImage(tenant, JOB, a.amiId);
    await f.images.deleteImage(tenant, JOB, a.amiId); // retried deletions are harmless
    assert.deepEqual((await f.images.missingBlocks('sms-run-00000062', [sha(noise('a5'))])), [false]);
    await f.images.flush();
    const before = await f.images.stats();
    const report = await f.images.collectGarbage({ compact: false });
    assert.equal(report.imagesPurged, 1);
    assert.equal(report.sweptBlocks, 3, 'a4, a6, a7 are freed; a5 was just promised to the running run');
    const after = await f.images.stats();
    assert.equal(before.blocks - after.blocks, 3);

    await f.images.collectGarbage({ compact: false }); // a second pass while the run still writes
    await f.images.recordBlocks('sms-run-00000062', 0, [
      { blockIndex: 0, sha256: sha(w0) },
      { blockIndex: 1, sha256: sha(noise('a5')) },
    ]);
    const { amiId } = await f.images.finishImage('sms-run-00000062');
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), disk(['w0', 'a5', null]));
    assert.deepEqual(await exported(f.images, b.amiId, 0, f.dir), bData);
    await assert.rejects(f.images.exportDisk(a.amiId, 0, 'raw', join(f.dir, 'gone.raw')), /does not exist/);
    await assert.rejects(f.images.deleteImage({ accountId: '999999999999', region: 'us-east-1' }, JOB, b.amiId), /does not belong/);
  } finally {
    await f.close();
  }
});

test('GC running concurrently with writers never breaks an image', async () => {
  const f = await openFixture();
  try {
    const old = await makeImage(f.images, 'sms-run-00000070', [disk(Array.from({ length: 20 }, (_, i) => `o${i}`))]);
    await f.images.deleteImage(tenant, JOB, old.amiId);
    // The new image reuses half of the deleted one's blocks while collections run back to back; the other half
    // is garbage they may free at any moment.
    const specs = Array.from({ length: 24 }, (_, i) => (i % 2 ? `o${i}` : `n${i}`));
    let stop = false;
    const collector = (async () => {
      let runs = 0;
      while (!stop) {
        await f.images.collectGarbage();
        runs++;
        await new Promise((r) => setImmediate(r));
      }
      return runs;
    })();
    const made = await makeImage(f.images, 'sms-run-00000071', [disk(specs)]);
    stop = true;
    assert.ok((await collector) >= 1);
    await f.images.collectGarbage();
    assert.deepEqual(await exported(f.images, made.amiId, 0, f.dir), disk(specs));
    assert.equal((await f.images.stats()).blocks, 24, 'the unused half of the deleted image is gone');
  } finally {
    await f.close();
  }
});

test('compaction rewrites mostly-dead packs and gives the space back; abandoned runs leave nothing behind', async () => {
  const f = await openFixture(undefined, { packSizeBytes: 8 * B });
  try {
    const keep = await makeImage(f.images, 'sms-run-00000080', [disk(Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? `keep${i}` : `drop${i}`)))]);
    const keepData = disk(Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? `keep${i}` : null)));
    const survivor = await makeImage(f.images, 'sms-run-00000081', [keepData]);
    await f.images.beginImage('sms-run-00000082', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: 4 * B }] });
    await writeDisk(f.images, 'sms-run-00000082', 0, disk(['ab0', 'ab1', 'ab2', 'ab3']));
    await f.images.abandonImage('sms-run-00000082');
    assert.equal((await f.images.collectGarbage()).sweptBlocks, 4, 'an abandoned run’s blocks go at the next collection');
    await f.images.deleteImage(tenant, JOB, keep.amiId);
    // Another process locates a block just before compaction moves it.
    const reader = await f.reopen({ readOnly: true });
    const movedId = await blockIdOf(f, survivor.amiId, 0, 4);
    const stale = (await locateBlocks(reader.state.db as unknown as ImageDb, [movedId])).get(movedId)!;
    const before = await f.images.stats();
    const report = await f.images.collectGarbage();
    const after = await f.images.stats();
    assert.equal(report.sweptBlocks, 12);
    assert.ok(report.packsCompacted + report.packsDeleted >= 2, JSON.stringify(report));
    assert.ok(report.bytesFreed >= 12 * B, `freed ${report.bytesFreed}`);
    assert.equal(before.packBytes - after.packBytes, report.bytesFreed);
    assert.ok(after.packBytes < 5 * B, `${after.packBytes} bytes of packs left for 4 blocks`);
    assert.deepEqual(await exported(f.images, survivor.amiId, 0, f.dir), keepData);
    // The reader's location is stale (the pack is gone): it looks the block up again and still reads it right.
    const fresh = (await locateBlocks(reader.state.db as unknown as ImageDb, [movedId])).get(movedId)!;
    assert.notEqual(fresh.packId, stale.packId, 'the block moved');
    const fetcher = new BlockFetcher(reader.state.db as unknown as ImageDb, new PackReader(f.images.root), async () => plainSealer);
    assert.deepEqual(await fetcher.read(movedId, stale, { amiId: survivor.amiId, diskIndex: 0, blockIndex: 4 }), keepData.subarray(4 * B, 5 * B));
    await reader.close();
  } finally {
    await f.close();
  }
});
