/**
 * A run that builds on a parent image is told "the store has it" for the parent's blocks from the parent's
 * manifests, without stamping them in the index (src/images/parentBlocks.ts): the collector must keep those blocks
 * while the run writes, even when the parent is deleted and collections run meanwhile, and the new image must read
 * back whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { B, tenant, JOB, openFixture, noise, disk, sha, makeImage, exported, blockIdOf } from '../helpers/imageStoreFixture.ts';

test("a parent's blocks answered without a stamp stay while the run writes, through a deleted parent and collections", async () => {
  const f = await openFixture();
  try {
    const db = f.state.db as unknown as Kysely<any>;
    const stampOf = async (blockId: number) => Number((await db.selectFrom('image_blocks').select('gen').where('block_id', '=', blockId).executeTakeFirstOrThrow()).gen);
    const parentDisk = disk(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', null]);
    const parent = await makeImage(f.images, 'sms-run-00000080', [parentDisk]);
    const run = 'sms-run-00000081';
    await f.images.beginImage(run, { tenant, replicationJobId: JOB, sealer: plainSealer, mode: 'incremental', parentAmiId: parent.amiId, disks: [{ index: 0, sizeBytes: 8 * B }] });

    // Asked of the index at first (stamped) until enough blocks were asked; then the parent's map answers.
    assert.deepEqual(await f.images.missingBlocks(run, Array.from({ length: 512 }, () => sha(noise('p0')))), Array(512).fill(false));
    let unstamped: number | undefined;
    for (let attempt = 0; attempt < 100 && unstamped === undefined; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const blockIndex = 1 + (attempt % 6);
      const blockId = await blockIdOf(f, parent.amiId, 0, blockIndex);
      const before = await stampOf(blockId);
      assert.deepEqual(await f.images.missingBlocks(run, [sha(noise(`p${blockIndex}`))]), [false]);
      if ((await stampOf(blockId)) === before) unstamped = blockIndex;
    }
    assert.ok(unstamped !== undefined, "the parent's map answered without a stamp");
    assert.deepEqual(await f.images.missingBlocks(run, [sha(noise('n0')), sha(noise('p5'))]), [true, false]);
    await f.images.putBlock(run, sha(noise('n0')), noise('n0'));

    await f.images.deleteImage(tenant, JOB, parent.amiId);
    await f.images.flush();
    const during = await f.images.collectGarbage({ compact: false });
    assert.equal(during.sweptBlocks, 0, "nothing of the writing run's parent is swept");
    assert.equal(during.imagesPurged, 0, 'a parent a run builds on stays');
    await f.images.recordBlocks(run, 0, [
      { blockIndex: 0, sha256: sha(noise(`p${unstamped}`)) },
      { blockIndex: 1, sha256: sha(noise('n0')) },
      { blockIndex: 2, sha256: sha(noise('p5')) },
    ]);
    await f.images.collectGarbage({ compact: false }); // recorded, not finished
    const { amiId } = await f.images.finishImage(run);
    const want = disk([`p${unstamped}`, 'n0', 'p5', 'p3', 'p4', 'p5', 'p6', null]);
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), want);

    const after = await f.images.collectGarbage({ compact: true });
    assert.equal(after.imagesPurged, 1, 'the deleted parent goes once the run is over');
    const dropped = new Set(['p0', 'p1', 'p2'].filter((p) => p !== `p${unstamped}`));
    assert.equal(after.sweptBlocks, dropped.size, 'only the blocks no image holds any more are swept');
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), want);
  } finally {
    await f.close();
  }
});
