/**
 * The image index repository's contract (src/store/images), held against every store dialect: the finished-image
 * lookups answer only available images, in their tenant and in order, with their snapshots in disk order; the
 * account's other images are the ones usage compares against; the totals and stored lengths add up the block rows,
 * also past one statement's batch of ids; a run's committed blocks are replaced per index, read back in pages in
 * block order, and deleted page by page.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import * as imageIndex from '../../src/store/images/index.ts';
import type { ImageTables } from '../../src/store/images/schema.ts';

const NOW = 1_800_000_000_000;
const A = { accountId: '111122223333', region: 'us-east-1' };
const A_WEST = { accountId: '111122223333', region: 'us-west-2' };
const B = { accountId: '444455556666', region: 'us-east-1' };

function imageRow(amiId: string, tenant: { accountId: string; region: string }, at: number, state: 'available' | 'deleted' = 'available') {
  return {
    ami_id: amiId,
    account_id: tenant.accountId,
    region: tenant.region,
    replication_job_id: `sms-job-${amiId.slice(4)}`,
    run_id: `sms-run-${amiId.slice(4)}`,
    parent_ami_id: null,
    key_id: 2,
    encrypted: 1,
    state,
    created_at: at,
    deleted_at: state === 'deleted' ? at + 1 : null,
    logical_bytes: 3 * 2 ** 40,
    data_blocks: 7,
    distinct_blocks: 6,
    new_blocks: 5,
    new_bytes: 2 ** 33 + 1,
  };
}

function snapshotRow(amiId: string, diskIndex: number) {
  return { snapshot_id: `snap-${amiId.slice(4)}-${diskIndex}`, ami_id: amiId, disk_index: diskIndex, size_bytes: 2 ** 41 + diskIndex, block_count: 10 + diskIndex, data_blocks: 4, manifest_sha256: `${diskIndex}`.repeat(64) };
}

for (const dialect of storeDialects) {
  describe(`image index repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    let db: Kysely<ImageTables>;
    before(async () => {
      sut = await dialect.open(NOW);
      db = sut.store.db as unknown as Kysely<ImageTables>;
      await db
        .insertInto('images')
        .values([
          imageRow('ami-0000000000000000b', A, NOW + 2),
          imageRow('ami-0000000000000000a', A, NOW + 2),
          imageRow('ami-0000000000000000c', A, NOW + 1),
          imageRow('ami-0000000000000000d', A, NOW, 'deleted'),
          imageRow('ami-0000000000000000e', A_WEST, NOW),
          imageRow('ami-0000000000000000f', B, NOW),
        ])
        .execute();
      // Inserted out of disk order: the lookups order them.
      await db
        .insertInto('image_snapshots')
        .values([snapshotRow('ami-0000000000000000a', 1), snapshotRow('ami-0000000000000000a', 0), snapshotRow('ami-0000000000000000b', 0), snapshotRow('ami-0000000000000000d', 0), snapshotRow('ami-0000000000000000e', 0), snapshotRow('ami-0000000000000000f', 0)])
        .execute();
    });
    after(async () => sut.dispose());

    test('availableImage answers an available image as a record, and nothing for a deleted or unknown one', async () => {
      const image = await imageIndex.availableImage(db, 'ami-0000000000000000a');
      assert.deepEqual(image, {
        amiId: 'ami-0000000000000000a',
        tenant: A,
        replicationJobId: 'sms-job-0000000000000000a',
        runId: 'sms-run-0000000000000000a',
        parentAmiId: null,
        keyId: 2,
        encrypted: true,
        createdAt: NOW + 2,
        logicalBytes: 3 * 2 ** 40,
        dataBlocks: 7,
        distinctBlocks: 6,
        newBlocks: 5,
        newBytes: 2 ** 33 + 1,
      });
      assert.equal(await imageIndex.availableImage(db, 'ami-0000000000000000d'), undefined, 'deleted');
      assert.equal(await imageIndex.availableImage(db, 'ami-00000000000000999'), undefined, 'unknown');
    });

    test('availableImages lists a tenant’s available images oldest first (ties by id), or every tenant’s', async () => {
      const ofA = await imageIndex.availableImages(db, A);
      assert.deepEqual(ofA.map((i) => i.amiId), ['ami-0000000000000000c', 'ami-0000000000000000a', 'ami-0000000000000000b']);
      const all = await imageIndex.availableImages(db);
      assert.deepEqual(all.map((i) => i.amiId).sort(), ['a', 'b', 'c', 'e', 'f'].map((x) => `ami-0000000000000000${x}`));
    });

    test('snapshotsOf groups snapshots by image in disk order; images without snapshots are absent', async () => {
      const byAmi = await imageIndex.snapshotsOf(db, ['ami-0000000000000000a', 'ami-0000000000000000b', 'ami-0000000000000000c']);
      assert.deepEqual(byAmi.get('ami-0000000000000000a')?.map((s) => [s.diskIndex, s.snapshotId]), [
        [0, 'snap-0000000000000000a-0'],
        [1, 'snap-0000000000000000a-1'],
      ]);
      assert.deepEqual(byAmi.get('ami-0000000000000000b')?.[0], {
        snapshotId: 'snap-0000000000000000b-0',
        amiId: 'ami-0000000000000000b',
        diskIndex: 0,
        sizeBytes: 2 ** 41,
        blockCount: 10,
        dataBlocks: 4,
        manifestSha256: '0'.repeat(64),
      });
      assert.equal(byAmi.has('ami-0000000000000000c'), false);
      assert.equal((await imageIndex.snapshotsOf(db, [])).size, 0);
    });

    test('snapshotsOfOtherImages: the same account’s other available images, every region, never another account’s', async () => {
      const others = await imageIndex.snapshotsOfOtherImages(db, { amiId: 'ami-0000000000000000a', accountId: A.accountId });
      assert.deepEqual(others.map((s) => s.snapshotId).sort(), ['snap-0000000000000000b-0', 'snap-0000000000000000e-0']);
      assert.equal(others[0]!.manifestSha256, '0'.repeat(64));
    });

    test('indexTotals and stored lengths add up the block rows, across batches of ids', async () => {
      const empty = await imageIndex.indexTotals(db);
      assert.deepEqual(empty, { blocks: 0, storedBytes: 0, rawBytes: 0, packIds: [] });
      const packs = await db
        .insertInto('image_packs')
        .values([0, 1].map(() => ({ state: 'sealed' as const, owner: null, end_offset: 4096, created_at: NOW, sealed_at: NOW })))
        .returning('pack_id')
        .execute();
      const count = imageIndex.IDS_PER_STATEMENT + 20;
      const rows = Array.from({ length: count }, (_, i) => ({
        storage_id: Buffer.from(`block-${i}`.padEnd(32, '.')),
        key_id: 2,
        pack_id: Number(packs[i % 2]!.pack_id),
        pack_offset: i * 100,
        stored_len: 100 + i,
        raw_len: 512 * 1024,
        flags: 0,
        gen: 1,
        created_at: NOW,
      }));
      const ids: number[] = [];
      for (let at = 0; at < rows.length; at += 100) {
        for (const r of await db.insertInto('image_blocks').values(rows.slice(at, at + 100)).returning('block_id').execute()) ids.push(Number(r.block_id));
      }
      const totals = await imageIndex.indexTotals(db);
      assert.equal(totals.blocks, count);
      assert.equal(totals.storedBytes, rows.reduce((sum, r) => sum + r.stored_len, 0));
      assert.equal(totals.rawBytes, count * 512 * 1024);
      assert.deepEqual(totals.packIds, packs.map((p) => Number(p.pack_id)).sort((x, y) => x - y));

      const lengthOf = new Map(ids.map((id, i) => [id, rows[i]!.stored_len]));
      const sorted = [...ids].sort((x, y) => x - y);
      const between = await imageIndex.storedLengthsBetween(db, sorted[10]!, sorted[19]!);
      assert.deepEqual(between.map((r) => r.blockId).sort((x, y) => x - y), sorted.slice(10, 20));
      for (const r of between) assert.equal(r.storedLen, lengthOf.get(r.blockId));
      // More ids than one statement takes, and one that is not indexed: found are exactly the indexed ones.
      const wanted = [...ids, Math.max(...ids) + 1000];
      const found = await imageIndex.storedLengthsOf(db, wanted);
      assert.deepEqual(found.map((r) => r.blockId).sort((x, y) => x - y), sorted);
      for (const r of found) assert.equal(r.storedLen, lengthOf.get(r.blockId));
    });

    test('run blocks: a later record of an index replaces the earlier; pages come in block order; deletion goes page by page', async () => {
      const runSeq = 41;
      const rows = Array.from({ length: imageIndex.IDS_PER_STATEMENT + 7 }, (_, i) => ({ blockIndex: 3 * i, blockId: i % 5 }));
      await imageIndex.upsertRunBlocks(db, runSeq, 0, [...rows].reverse());
      await imageIndex.upsertRunBlocks(db, runSeq, 1, [{ blockIndex: 0, blockId: 9 }]);
      await imageIndex.upsertRunBlocks(db, runSeq + 1, 0, [{ blockIndex: 0, blockId: 8 }]);
      await imageIndex.upsertRunBlocks(db, runSeq, 0, [{ blockIndex: 3, blockId: 77 }]);
      const pages: imageIndex.RunBlockRow[][] = [];
      for await (const page of imageIndex.runBlockPages(db, runSeq, 0, 100)) pages.push(page);
      assert.deepEqual(pages.map((p) => p.length), [100, 100, 100, 100, 100, 7]);
      const expected = rows.map((r) => (r.blockIndex === 3 ? { blockIndex: 3, blockId: 77 } : r));
      assert.deepEqual(pages.flat(), expected);

      let passes = 0;
      while (await imageIndex.deleteRunBlocksPage(db, runSeq, 200)) passes++;
      assert.equal(passes, 2, 'two full pages of 200, then the rest (both disks) in the last');
      for await (const page of imageIndex.runBlockPages(db, runSeq, 0)) assert.fail(`rows left on disk 0: ${page.length}`);
      for await (const page of imageIndex.runBlockPages(db, runSeq, 1)) assert.fail(`rows left on disk 1: ${page.length}`);
      const other: imageIndex.RunBlockRow[] = [];
      for await (const page of imageIndex.runBlockPages(db, runSeq + 1, 0)) other.push(...page);
      assert.deepEqual(other, [{ blockIndex: 0, blockId: 8 }], 'another run keeps its rows');
    });
  });
}
