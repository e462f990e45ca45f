/**
 * The artifact index on every store dialect: buckets per account, objects replaced and deleted with the blobs they
 * leave behind, the garbage queue, which blobs are still referenced, keys listed in byte order within a range, and
 * multipart uploads with their parts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as index from '../../src/store/artifacts/artifactIndex.ts';
import * as uploads from '../../src/store/artifacts/uploadIndex.ts';
import type { ArtifactDb, ArtifactObjectsTable } from '../../src/store/artifacts/artifactTables.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const T0 = 1_800_000_000_000;
const object = (bucket: string, key: string, blob: string | null, segments: [string, number][] | null = null): ArtifactObjectsTable => ({
  bucket,
  key,
  size: 10,
  etag: `"${key}"`,
  content_type: null,
  metadata: '{}',
  blob_id: blob,
  segments: segments && JSON.stringify(segments),
  part_count: segments && segments.length,
  last_modified: T0,
});

for (const dialect of storeDialects) {
  describe(`artifact index (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: ArtifactDb;
    before(async () => {
      under = await dialect.open();
      db = under.store.db as unknown as ArtifactDb;
    });
    after(() => under.dispose());

    test('buckets per account; objects replaced and deleted return their blobs; garbage queued once and dropped', async () => {
      await index.probeArtifactTables(db);
      await index.insertBucket(db, { name: 'b-two', account_id: 'acct-1', region: 'us-east-1', created_at: T0 });
      await index.insertBucket(db, { name: 'b-one', account_id: 'acct-1', region: 'eu-west-1', created_at: T0 });
      await index.insertBucket(db, { name: 'b-far', account_id: 'acct-2', region: 'us-east-1', created_at: T0 });
      assert.equal(await index.countBuckets(db, 'acct-1'), 2);
      assert.deepEqual((await index.bucketRowsOf(db, 'acct-1')).map((b) => b.name), ['b-one', 'b-two']);
      assert.equal((await index.bucketRow(db, 'b-far'))?.account_id, 'acct-2');
      assert.equal(await index.bucketHasObjects(db, 'b-one'), false);

      assert.deepEqual(await db.transaction().execute((trx) => index.replaceObject(trx, object('b-one', 'k', 'blob-1'))), []);
      // An object's own blob counts as referenced (a multipart object's segments are its parts' blobs, counted as parts).
      assert.deepEqual([...(await index.referencedBlobs(db, ['blob-1', 'blob-9']))], ['blob-1']);
      const replaced = await db.transaction().execute((trx) => index.replaceObject(trx, object('b-one', 'k', null, [['blob-2', 5], ['blob-3', 5]])));
      assert.deepEqual(replaced, ['blob-1']);
      assert.equal(await index.bucketHasObjects(db, 'b-one'), true);
      assert.deepEqual(index.segmentsOf((await index.findObject(db, 'b-one', 'k'))!), [['blob-2', 5], ['blob-3', 5]]);
      assert.deepEqual([...(await index.referencedBlobs(db, ['blob-1']))], [], 'the replaced blob is no longer referenced');
      const deleted = await db.transaction().execute(async (trx) => {
        const blobs = await index.deleteObjectRow(trx, 'b-one', 'k');
        await index.queueGarbage(trx, [...blobs, 'blob-1'], T0);
        await index.queueGarbage(trx, ['blob-1'], T0 + 1);
        return blobs;
      });
      assert.deepEqual(deleted, ['blob-2', 'blob-3']);
      assert.equal(await index.findObject(db, 'b-one', 'k'), undefined);
      assert.deepEqual((await index.queuedGarbage(db)).sort(), ['blob-1', 'blob-2', 'blob-3']);
      await index.dropGarbage(db, ['blob-1', 'blob-3']);
      assert.deepEqual(await index.queuedGarbage(db), ['blob-2']);
      await index.deleteBucket(db, 'b-two');
      assert.deepEqual((await index.bucketRowsOf(db, 'acct-1')).map((b) => b.name), ['b-one']);
    });

    test('keys in byte order from a position and within a range', async () => {
      await db.transaction().execute(async (trx) => {
        for (const key of ['a/2', 'a/1', 'b', 'a/10', 'B']) await index.replaceObject(trx, object('b-far', key, `blob-${key}`));
      });
      const keys = async (...args: Parameters<typeof index.keysFrom> extends [unknown, unknown, ...infer R] ? R : never) => (await index.keysFrom(db, 'b-far', ...args)).map((r) => r.key);
      assert.deepEqual(await keys(undefined, { low: '', high: undefined }, 10), ['B', 'a/1', 'a/10', 'a/2', 'b']);
      assert.deepEqual(await keys(undefined, { low: 'a/', high: 'a0' }, 10), ['a/1', 'a/10', 'a/2']);
      assert.deepEqual(await keys({ key: 'a/10', inclusive: false }, { low: 'a/', high: 'a0' }, 10), ['a/2']);
      assert.deepEqual(await keys({ key: 'a/10', inclusive: true }, { low: '', high: undefined }, 2), ['a/10', 'a/2']);
    });

    test('uploads: counted per account, parts replaced by number, deleted with their parts', async () => {
      const upload = { upload_id: 'u-1', account_id: 'acct-1', bucket: 'b-one', key: 'big', content_type: null, metadata: '{}', created_at: T0 };
      await uploads.insertUpload(db, upload);
      await uploads.insertUpload(db, { ...upload, upload_id: 'u-2', account_id: 'acct-2', bucket: 'b-far' });
      assert.equal(await uploads.countOpenUploads(db, 'acct-1'), 1);
      assert.deepEqual({ ...(await uploads.uploadRow(db, 'u-1')) }, upload);
      const part = (n: number, blob: string) => ({ upload_id: 'u-1', part_number: n, blob_id: blob, size: 5, etag: `"${blob}"`, last_modified: T0 });
      const replacedParts = await db.transaction().execute(async (trx) => [
        await uploads.replacePart(trx, part(2, 'p-2')),
        await uploads.replacePart(trx, part(1, 'p-1')),
        await uploads.replacePart(trx, part(2, 'p-2b')),
      ]);
      assert.deepEqual(replacedParts, [[], [], ['p-2']]);
      assert.deepEqual((await uploads.partsOf(db, 'u-1')).map((p) => [p.part_number, p.blob_id]), [[1, 'p-1'], [2, 'p-2b']]);
      assert.deepEqual(await uploads.uploadIdsOfBucket(db, 'b-one'), ['u-1']);
      const freed = await db.transaction().execute((trx) => uploads.deleteUpload(trx, 'u-1'));
      assert.deepEqual(freed.sort(), ['p-1', 'p-2b']);
      assert.equal(await uploads.uploadRow(db, 'u-1'), undefined);
      assert.deepEqual(await uploads.partsOf(db, 'u-1'), []);
    });
  });
}
