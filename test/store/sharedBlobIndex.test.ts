/**
 * The garbage table as shared artifact blobs use it, on every store dialect: a pending blob is taken by its commit
 * once, or by a collector once its lease and grace have passed, never by both; claims return only the rows they
 * deleted; and every referenced blob is read in one statement (objects' blobs and segments, parts, garbage).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as shared from '../../src/store/artifacts/sharedBlobIndex.ts';
import * as index from '../../src/store/artifacts/artifactIndex.ts';
import * as uploads from '../../src/store/artifacts/uploadIndex.ts';
import type { ArtifactDb } from '../../src/store/artifacts/artifactTables.ts';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';

const T0 = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`shared artifact blob index (${dialect.name})`, () => {
    let under: StoreUnderTest;
    let db: ArtifactDb;
    before(async () => {
      under = await dialect.open();
      db = under.store.db as unknown as ArtifactDb;
    });
    after(() => under.dispose());

    test('pending rows: renewed, taken once by a commit or claimed once by a collector after their time', async () => {
      await shared.insertPending(db, 'pending-a', T0 + 600_000);
      await shared.insertPending(db, 'pending-b', T0 + 600_000);
      await shared.renewPending(db, 'pending-a', T0 + 900_000);
      assert.deepEqual(await shared.garbageBefore(db, T0 + 700_000, 10), ['pending-b']);
      // A collector claims b; its receiver's commit then finds no row and must fail.
      assert.deepEqual(await shared.claimGarbage(db, ['pending-a', 'pending-b'], T0 + 700_000), ['pending-b']);
      assert.deepEqual(await shared.claimGarbage(db, ['pending-b'], T0 + 700_000), [], 'a second collector gets nothing');
      assert.equal(await db.transaction().execute((trx) => shared.takePending(trx, 'pending-b')), false);
      assert.equal(await db.transaction().execute((trx) => shared.takePending(trx, 'pending-a')), true);
      assert.equal(await shared.takePending(db, 'pending-a'), false, 'taken once');
      assert.deepEqual(await shared.claimGarbage(db, [], T0), []);
      await db.transaction().execute((trx) => index.queueGarbage(trx, ['old-1', 'old-2'], T0));
      assert.deepEqual((await shared.garbageBefore(db, T0, 1)).length, 1, 'at most the limit');
      assert.deepEqual((await shared.claimGarbage(db, ['old-1', 'old-2'], T0 - 1)), [], 'nothing younger than the cutoff');
      assert.deepEqual((await shared.claimGarbage(db, ['old-1', 'old-2'], T0)).sort(), ['old-1', 'old-2']);
    });

    test('every referenced blob: plain objects, multipart objects’ segments, parts and garbage, in one read', async () => {
      await index.insertBucket(db, { name: 'refs', account_id: 'acct-1', region: 'us-east-1', created_at: T0 });
      const row = { bucket: 'refs', size: 10, etag: '"e"', content_type: null, metadata: '{}', part_count: null, last_modified: T0 };
      await db.transaction().execute(async (trx) => {
        await index.replaceObject(trx, { ...row, key: 'plain', blob_id: 'blob-plain', segments: null });
        await index.replaceObject(trx, { ...row, key: 'multi', blob_id: null, segments: JSON.stringify([['seg-1', 5], ['seg-2', 5]]), part_count: 2 });
        await uploads.insertUpload(trx, { upload_id: 'up-1', account_id: 'acct-1', bucket: 'refs', key: 'k', content_type: null, metadata: '{}', created_at: T0 });
        await uploads.replacePart(trx, { upload_id: 'up-1', part_number: 1, blob_id: 'part-1', size: 5, etag: '"p"', last_modified: T0 });
      });
      await shared.insertPending(db, 'pending-c', T0);
      const found = await shared.everyReferencedBlob(db);
      for (const id of ['blob-plain', 'seg-1', 'seg-2', 'part-1', 'pending-c']) assert.ok(found.has(id), id);
      assert.ok(!found.has('never-seen'));
    });
  });
}
