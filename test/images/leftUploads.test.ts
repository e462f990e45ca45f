/**
 * Multipart uploads that a killed node left in the bucket are aborted (issue 11 item 4): a store writing into S3 on
 * moto_server streams an open pack (a multipart upload with parts), is killed, and reopens (recovery uploads the pack
 * afresh and seals it); the dead process's upload is still listed until the sweep aborts it. Uploads of packs the
 * index does not know wait an hour, and a live writer's streaming pack is never touched. Real moto, real SQLite.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { collect, packObjectName, type BlockStorage } from '../../src/images/blocks/blockStorage.ts';
import { abortLeftUploads, packIdOfObject } from '../../src/images/blocks/leftUploads.ts';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { packHeader } from '../../src/images/packFile.ts';
import type { ImageDb } from '../../src/images/db.ts';
import { B, JOB, crash, disk, openFixture, tenant, writeDisk } from '../helpers/imageStoreFixture.ts';
import { suiteBucket } from '../helpers/s3.ts';

const HOUR = 60 * 60_000;
const silent = { info() {}, warn() {} };

describe('unfinished pack uploads a killed writer left in S3', () => {
  const s3 = suiteBucket();

  const storageFor = (prefix: string) => () =>
    new S3BlockStorage({ bucket: s3.bucket.bucket, prefix, endpoint: s3.bucket.endpoint, forcePathStyle: true, credentials: s3.bucket.credentials, partSizeBytes: MIN_PART_BYTES });

  async function uploads(prefix: string): Promise<string[]> {
    const listed = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket.bucket, Prefix: `${prefix}/` }));
    return (listed.Uploads ?? []).map((u) => u.Key!.slice(prefix.length + 1));
  }

  async function waitForUpload(prefix: string): Promise<string[]> {
    for (let tries = 0; tries < 400; tries++) {
      const found = await uploads(prefix);
      if (found.length > 0) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return [];
  }

  it('names pack objects by their id, and nothing else', () => {
    assert.equal(packIdOfObject(packObjectName(0x1234)), 0x1234);
    assert.equal(packIdOfObject(packObjectName(7)), 7);
    assert.equal(packIdOfObject('manifests/snap-0123456789abcdef0.manifest'), undefined);
    assert.equal(packIdOfObject('packs/0000/00000001.pack.tmp'), undefined);
  });

  it('aborts the upload of a pack the dead writer had streaming once its recovery sealed it; the image still reads', async () => {
    const make = storageFor('killed');
    const f = await openFixture(undefined, { blocks: make(), packSizeBytes: 32 * B });
    const data = disk(Array.from({ length: 14 }, (_, i) => `left-${i}`));
    await f.images.beginImage('run-left', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
    // 7 MiB flushed into an open 16 MiB pack: its stream cuts a 5 MiB part, so a multipart upload is under way.
    await writeDisk(f.images, 'run-left', 0, data);
    const streaming = await waitForUpload('killed');
    assert.equal(streaming.length, 1, 'the open pack streams through a multipart upload');
    const leftName = streaming[0]!;
    await crash(f); // kill -9: the upload is neither completed nor aborted
    await f.images.placement.storage.close();

    const again = await f.reopen({ blocks: make() });
    try {
      // Recovery uploaded the pack afresh (a new upload, completed) and sealed it; the dead one is still there.
      assert.deepEqual(await uploads('killed'), [leftName]);
      assert.ok((await collect(again.images.placement.storage.list('packs/'))).some((o) => o.name === leftName), 'the recovered pack is in the bucket');
      const db = again.state.db as unknown as ImageDb;
      const report = await abortLeftUploads(db, again.images.placement.storage, Date.now(), silent);
      assert.deepEqual(report, { aborted: 1, kept: 0 });
      assert.deepEqual(await uploads('killed'), [], 'ListMultipartUploads is empty after the sweep');
      assert.deepEqual(await abortLeftUploads(db, again.images.placement.storage, Date.now(), silent), { aborted: 0, kept: 0 }, 'a second sweep finds nothing');
      // The run goes on on the recovered pack and its image reads back whole.
      await again.images.beginImage('run-left', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
      const committed = await again.images.committedBlocks('run-left', 0);
      await writeDisk(again.images, 'run-left', 0, data, (i) => !committed.has(i));
      const { amiId } = await again.images.finishImage('run-left');
      const blocks = [];
      for (let i = 0; i * B < data.length; i++) blocks.push(await again.images.readBlock(amiId, 0, i));
      assert.ok(Buffer.concat(blocks).equals(data));
    } finally {
      await again.close();
      rmSync(f.dir, { recursive: true, force: true });
    }
  });

  it('leaves a live writer’s streaming pack and packs newer than the index alone; aborts a deleted pack’s upload', async () => {
    const f = await openFixture(undefined, { blocks: storageFor('live')(), packSizeBytes: 32 * B });
    const stray: BlockStorage = storageFor('live')();
    try {
      const data = disk(Array.from({ length: 14 }, (_, i) => `live-${i}`));
      await f.images.beginImage('run-live', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] });
      await writeDisk(f.images, 'run-live', 0, data);
      const [liveName] = await waitForUpload('live');
      assert.ok(liveName !== undefined);
      // Uploads for a pack id below every indexed one that the index no longer has (pack 0: never a live id, as a
      // pack deleted by GC would be), and for one above them all (a writer that created it after the index was read).
      const goneName = packObjectName(0);
      const newerName = packObjectName(0xfff0);
      for (const [id, name] of [[0, goneName], [0xfff0, newerName]] as const) {
        const upload = await stray.createPack(name, packHeader(id, Date.now()));
        await upload.append([Buffer.alloc(MIN_PART_BYTES + 1)]);
      }
      for (let tries = 0; tries < 400 && (await uploads('live')).length < 3; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual((await uploads('live')).sort(), [liveName, goneName, newerName].sort());

      const db = f.state.db as unknown as ImageDb;
      const storage = f.images.placement.storage;
      // moto_server dates every upload in 2010, so the deleted pack's is old at once; the live pack's age counts from
      // its creation in the index, which is now.
      assert.deepEqual(await abortLeftUploads(db, storage, Date.now(), silent), { aborted: 1, kept: 2 });
      assert.deepEqual((await uploads('live')).sort(), [liveName, newerName].sort());
      assert.deepEqual(await abortLeftUploads(db, storage, Date.now() + 2 * HOUR, silent), { aborted: 0, kept: 2 }, 'a live writer keeps its upload for a day');
      // The live pack still seals whole: its upload was never touched.
      const { amiId } = await f.images.finishImage('run-live');
      assert.deepEqual(await uploads('live'), [newerName]);
      assert.ok((await f.images.readBlock(amiId, 0, 13)).equals(data.subarray(13 * B)));
    } finally {
      await stray.close();
      await f.close();
    }
  });
});
