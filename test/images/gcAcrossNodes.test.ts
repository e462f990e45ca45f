/**
 * Image garbage collection with two nodes on one state store and one S3 prefix, each with its own data dir (its
 * staging area for open packs), on every store dialect. While node B writes a run — deduplicating against an image
 * node A wrote, its new blocks in a pack open on B's disk — node A deletes that image and collects: nothing B's run
 * references goes, and B's image, finished afterwards, exports bit-identical through A. Then B is killed mid-run and
 * A reopens (recovery): B's open pack is not A's to seal; B's restart publishes it and the image reads back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import { openImageStore, type ImageStore } from '../../src/images/imageStore.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { simulateCrashOfLocalOwners } from '../../src/images/packOwner.ts';
import type { Store } from '../../src/store/openStore.ts';
import { B, JOB, disk, exported, makeImage, tenant, writeDisk } from '../helpers/imageStoreFixture.ts';
import { startTestBucket, type TestBucket } from '../helpers/s3.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

let bucket: TestBucket | undefined;
after(async () => {
  await bucket?.stop();
});

for (const dialect of storeDialects) {
  describe(`image GC across two nodes (${dialect.name} + S3 blocks)`, { concurrency: false }, () => {
    let sut: StoreUnderTest;
    let stateB: Store;
    let prefix = '';
    const dirs = { a: '', b: '' };
    const open: ImageStore[] = [];

    async function node(which: 'a' | 'b'): Promise<ImageStore> {
      const blocks = new S3BlockStorage({ bucket: bucket!.bucket, prefix, endpoint: bucket!.endpoint, forcePathStyle: true, credentials: bucket!.credentials, partSizeBytes: MIN_PART_BYTES });
      const images = await openImageStore({ db: which === 'a' ? sut.store.db : stateB.db, dataDir: dirs[which], packSizeBytes: 16 * B, blocks });
      open.push(images);
      return images;
    }

    before(async () => {
      bucket ??= await startTestBucket();
      prefix = `nodes-${randomBytes(4).toString('hex')}`;
      sut = await dialect.open(Date.now());
      stateB = await sut.reopen();
      dirs.a = mkdtempSync(join(tmpdir(), 'ferry-node-a-'));
      dirs.b = mkdtempSync(join(tmpdir(), 'ferry-node-b-'));
    });
    after(async () => {
      for (const images of open) await images.close().catch(() => {});
      await stateB.close().catch(() => {});
      await sut.dispose();
      rmSync(dirs.a, { recursive: true, force: true });
      rmSync(dirs.b, { recursive: true, force: true });
    });

    it("keeps every block of a run writing on another node, and its manifest, through a collection", async () => {
      const a = await node('a');
      const b = await node('b');
      const first = disk(['s1', 's2', 's3', 's4', 'gone1', 'gone2']);
      const { amiId: oldAmi } = await makeImage(a, 'run-a1', [first]);
      await a.flush();
      // Node B's run: four blocks it finds already stored (dedup against node A's image), three of its own.
      const second = disk(['s1', 's2', 's3', 's4', 'b1', 'b2', 'b3']);
      await b.beginImage('run-b1', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: second.length }] });
      const sent = await writeDisk(b, 'run-b1', 0, second);
      assert.equal(sent, 3, 'node B stored only its new blocks');
      // Node A retires its image and collects while node B's run is open (B's new blocks sit in B's open pack).
      await a.deleteImage(tenant, JOB, oldAmi);
      const report = await a.collectGarbage();
      assert.equal(report.sweptBlocks, 2, 'only the two blocks nobody references went');
      // Finishing seals B's pack into the bucket: the image reads back from node A at once, with B's pack open no more.
      const { amiId } = await b.finishImage('run-b1');
      assert.ok((await exported(a, amiId, 0, dirs.a)).equals(second), 'node B’s image exports bit-identical through node A');
      const again = await a.collectGarbage();
      assert.equal(again.sweptBlocks, 0);
      assert.ok((await exported(b, amiId, 0, dirs.b)).equals(second));
    });

    it("leaves a killed node's open pack to that node's restart, which publishes it", async () => {
      const b = open[1]!;
      const third = disk(['k1', 'k2', 'k3']);
      await b.beginImage('run-b2', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: third.length }] });
      await writeDisk(b, 'run-b2', 0, third);
      // kill -9 of node B: nothing sealed or uploaded; its pack's blocks are indexed (committed) on B's disk only.
      simulateCrashOfLocalOwners();
      open.splice(1, 1);
      await stateB.close();
      // Node A opens again (its recovery looks at every dead writer's packs): B's pack is not in A's data dir.
      await open[0]!.close();
      open.splice(0, 1);
      const a = await node('a');
      stateB = await sut.reopen();
      // Node B comes back on its data dir: recovery seals and uploads its pack; the run goes on and finishes.
      const b2 = await node('b');
      await b2.beginImage('run-b2', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: third.length }] });
      assert.equal(await writeDisk(b2, 'run-b2', 0, third), 0, 'the committed blocks are not sent again');
      const { amiId } = await b2.finishImage('run-b2');
      rmSync(join(dirs.b, 'images', 'packs'), { recursive: true, force: true });
      assert.ok((await exported(a, amiId, 0, dirs.a)).equals(third), 'readable from node A: the pack is in the bucket');
    });
  });
}
