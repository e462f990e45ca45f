/**
 * The image index repository's contract (src/store/images), held against every store dialect: the finished-image
 * lookups answer only available images, in their tenant and in order, with their snapshots in disk order; the
 * account's other images are the ones usage compares against; the totals and stored lengths add up the block rows,
 * also past one statement's batch of ids; a run's committed blocks are replaced per index, read back in pages in
 * block order, and deleted page by page; a run is begun once, moves from writing to finished or abandoned only, and its
 * finished image is found through it; packs go open → sealed, and a pack row is deleted only while no block points
 * into it; block rows are indexed once per storage id, and every lookup that hands a block out stamps it with the
 * collector's current generation; the collector's lease is held by one owner at a time, and its sweep deletes only
 * blocks stamped before the generation it started from.
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

    test('runs: begun once per run id, writing → finished (with its image) or abandoned, never back', async () => {
      const disks = [{ index: 0, sizeBytes: 2 ** 41, blockCount: 2 ** 22, snapshotId: 'snap-0000000000000run0' }];
      const begin = (runId: string, amiId: string, watermark: number) =>
        imageIndex.insertRunUnlessExists(db, {
          runId,
          tenant: B,
          replicationJobId: 'sms-job-run',
          parentAmiId: null,
          mode: 'full',
          keyId: 3,
          compression: 'zstd',
          amiId,
          disks,
          blockWatermark: watermark,
          beginGeneration: 7,
          now: NOW,
        });
      await begin('sms-run-r1', 'ami-000000000000000r1', await imageIndex.highestBlockId(db));
      await begin('sms-run-r1', 'ami-0000000000000other', 0);
      const run = await imageIndex.runById(db, 'sms-run-r1');
      assert.ok(run);
      assert.deepEqual({ ...run, runSeq: 0 }, {
        runSeq: 0,
        runId: 'sms-run-r1',
        tenant: B,
        replicationJobId: 'sms-job-run',
        parentAmiId: null,
        mode: 'full',
        keyId: 3,
        compression: 'zstd',
        state: 'writing',
        amiId: 'ami-000000000000000r1',
        disks,
      }, 'the second begin of the same run id changed nothing');
      assert.equal(await imageIndex.runById(db, 'sms-run-none'), undefined);
      assert.equal(await imageIndex.touchWritingRun(db, run.runSeq, NOW + 1), true);
      assert.equal(await imageIndex.finishedImageOfRun(sut.store.db, 'sms-run-r1'), undefined, 'not finished yet');

      const finished = await imageIndex.finishWritingRun(db, run.runSeq, NOW + 2);
      assert.deepEqual(finished, { newBlocks: 0, newBytes: 0 });
      assert.equal(await imageIndex.finishWritingRun(db, run.runSeq, NOW + 3), undefined, 'finishes once');
      assert.equal(await imageIndex.touchWritingRun(db, run.runSeq, NOW + 3), false);
      await imageIndex.abandonWritingRun(db, run.runSeq, NOW + 3);
      assert.equal((await imageIndex.runById(db, 'sms-run-r1'))?.state, 'finished', 'a finished run is not abandoned');
      await imageIndex.insertImage(db, { ...(await imageIndex.availableImage(db, 'ami-0000000000000000f'))!, amiId: 'ami-000000000000000r1', runId: 'sms-run-r1' }, [
        { snapshotId: 'snap-0000000000000run0', amiId: 'ami-000000000000000r1', diskIndex: 0, sizeBytes: 2 ** 41, blockCount: 2 ** 22, dataBlocks: 1, manifestSha256: 'a'.repeat(64) },
      ]);
      assert.deepEqual(await imageIndex.finishedImageOfRun(sut.store.db, 'sms-run-r1'), { amiId: 'ami-000000000000000r1', accountId: B.accountId, region: B.region });
      assert.equal((await imageIndex.snapshotsOf(db, ['ami-000000000000000r1'])).get('ami-000000000000000r1')?.[0]?.manifestSha256, 'a'.repeat(64));

      await begin('sms-run-r2', 'ami-000000000000000r2', 0);
      const second = (await imageIndex.runById(db, 'sms-run-r2'))!;
      await imageIndex.abandonWritingRun(db, second.runSeq, NOW + 4);
      assert.equal((await imageIndex.runById(db, 'sms-run-r2'))?.state, 'abandoned');
      assert.equal(await imageIndex.finishWritingRun(db, second.runSeq, NOW + 5), undefined, 'an abandoned run never finishes');
    });

    test('packs: created open, ends moved, sealed once; blocks moved between packs; deleted only when empty', async () => {
      const a = await imageIndex.createOpenPack(db, 'host:1:a', 64, NOW);
      const b = await imageIndex.createOpenPack(db, 'host:1:b', 64, NOW);
      assert.ok(b > a, 'pack ids grow');
      await imageIndex.setPackEnd(db, a, 4096);
      assert.deepEqual((await imageIndex.openPacks(db)).filter((p) => p.packId >= a), [
        { packId: a, owner: 'host:1:a', endOffset: 4096, createdAt: NOW },
        { packId: b, owner: 'host:1:b', endOffset: 64, createdAt: NOW },
      ]);
      const [block] = await db
        .insertInto('image_blocks')
        .values({ storage_id: Buffer.alloc(32, 7), key_id: 2, pack_id: a, pack_offset: 64, stored_len: 10, raw_len: 10, flags: 0, gen: 1, created_at: NOW })
        .returning('block_id')
        .execute();
      const blockId = Number(block!.block_id);
      assert.equal(await imageIndex.packHasBlocks(db, a), true);
      assert.equal(await imageIndex.packHasBlocks(db, b), false);
      assert.deepEqual(await imageIndex.blocksInPack(db, a), [{ blockId, storageId: Buffer.alloc(32, 7), packOffset: 64, storedLen: 10 }]);

      await imageIndex.sealPack(db, a, NOW + 1, 8192);
      await imageIndex.sealPack(db, a, NOW + 2, 1);
      assert.ok(!(await imageIndex.openPacks(db)).some((p) => p.packId === a), 'sealed');
      assert.ok((await imageIndex.sealedPackIds(db)).includes(a));
      assert.equal(await imageIndex.deleteSealedPackIfEmpty(db, a), false, 'a block points into it');
      assert.deepEqual((await imageIndex.liveBlocksByPack(db)).get(a), { blocks: 1, storedBytes: 10 });

      assert.equal(await imageIndex.moveBlock(db, { blockId, fromPack: a, fromOffset: 999, toPack: b, toOffset: 64 }), false, 'not from where it is');
      assert.equal(await imageIndex.moveBlock(db, { blockId, fromPack: a, fromOffset: 64, toPack: b, toOffset: 64 }), true);
      assert.equal(await imageIndex.packHasBlocks(db, a), false);
      assert.equal(await imageIndex.deleteSealedPackIfEmpty(db, a), true);
      assert.equal(await imageIndex.packExists(db, a), false);
      assert.equal(await imageIndex.deleteSealedPackIfEmpty(db, b), false, 'an open pack is not deleted as a sealed one');

      const c = await imageIndex.createOpenPack(db, 'host:1:c', 64, NOW);
      await imageIndex.deleteOpenPack(db, c);
      assert.equal(await imageIndex.packExists(db, c), false);
    });

    test('deleting an image hides it once; its owner is still known', async () => {
      assert.deepEqual(await imageIndex.imageOwner(db, 'ami-0000000000000000c'), { state: 'available', tenant: A, replicationJobId: 'sms-job-0000000000000000c' });
      await imageIndex.markImageDeleted(db, 'ami-0000000000000000c', NOW + 10);
      await imageIndex.markImageDeleted(db, 'ami-0000000000000000c', NOW + 20);
      assert.equal((await imageIndex.imageOwner(db, 'ami-0000000000000000c'))?.state, 'deleted');
      const [row] = await db.selectFrom('images').select('deleted_at').where('ami_id', '=', 'ami-0000000000000000c').execute();
      assert.equal(Number(row!.deleted_at), NOW + 10, 'the second deletion changed nothing');
      assert.equal(await imageIndex.availableImage(db, 'ami-0000000000000000c'), undefined);
      assert.equal(await imageIndex.imageOwner(db, 'ami-00000000000000999'), undefined);
    });

    test('block index: keys numbered once, blocks indexed once per storage id, lookups stamp the current generation', async () => {
      const k1 = await imageIndex.keyIdFor(db, 'ferry:account:111122223333');
      assert.equal(await imageIndex.keyIdFor(db, 'ferry:account:111122223333'), k1);
      const k2 = await imageIndex.keyIdFor(db, 'kms:alias/x');
      assert.notEqual(k1, k2);
      const refs = await imageIndex.keyRefsById(db);
      assert.equal(refs.get(k1), 'ferry:account:111122223333');
      assert.equal(refs.get(k2), 'kms:alias/x');

      const generation = await imageIndex.gcGeneration(db);
      assert.equal(await imageIndex.advanceGeneration(db), generation + 1);
      const pack = await imageIndex.createOpenPack(db, 'host:2:x', 64, NOW);
      const sid = (n: number) => Buffer.alloc(32, 0x40 + n);
      const row = (n: number, offset: number) => ({ storageId: sid(n), keyId: k1, packId: pack, packOffset: offset, storedLen: 100 + n, rawLen: 512 * 1024, flags: 1 });
      const ours = await imageIndex.insertBlocks(db, [row(1, 64), row(2, 300)], NOW);
      assert.deepEqual([...ours.keys()].sort(), [sid(1).toString('hex'), sid(2).toString('hex')]);
      const ids = await db.selectFrom('image_blocks').select(['block_id', 'storage_id']).where('pack_id', '=', pack).execute();
      for (const r of ids) assert.equal(ours.get(Buffer.from(r.storage_id).toString('hex')), Number(r.block_id), 'each of ours with its block id');
      // The same block written again elsewhere (a concurrent run): the first row stays, the new copy is not ours.
      const again = await imageIndex.insertBlocks(db, [row(2, 900), row(3, 1200)], NOW);
      assert.deepEqual([...again.keys()], [sid(3).toString('hex')]);

      assert.deepEqual([...(await imageIndex.indexedStorageIds(db, [sid(1), sid(3), sid(9)]))].sort(), [sid(1).toString('hex'), sid(3).toString('hex')]);
      const next = await imageIndex.advanceGeneration(db);
      const touched = await imageIndex.touchBlocks(db, [sid(2), sid(9)]);
      assert.deepEqual([...touched.keys()], [sid(2).toString('hex')]);
      const blockId = touched.get(sid(2).toString('hex'))!.blockId;
      assert.equal(touched.get(sid(2).toString('hex'))!.keyId, k1);
      const [stamped] = await db.selectFrom('image_blocks').select('gen').where('block_id', '=', blockId).execute();
      assert.equal(Number(stamped!.gen), next, 'touched: stamped with the current generation');

      const located = await imageIndex.locateBlocks(db, [blockId, 987654321]);
      assert.equal(located.size, 1);
      assert.deepEqual(located.get(blockId), { blockId, storageId: sid(2), keyId: k1, packId: pack, packOffset: 300, storedLen: 102, rawLen: 512 * 1024, flags: 1 });
      assert.ok(Buffer.isBuffer(located.get(blockId)!.storageId), 'storage ids come back as Buffers on every dialect');
    });

    test('collector: one lease holder at a time; references to mark; the sweep spares blocks stamped since; purging deleted images', async () => {
      const generation = await imageIndex.acquireCollectorLease(db, 'gc-1', NOW, 60_000);
      assert.ok(generation !== undefined);
      assert.equal(await imageIndex.acquireCollectorLease(db, 'gc-2', NOW + 1, 60_000), undefined, 'held');
      assert.equal(await imageIndex.renewCollectorLease(db, 'gc-2', NOW + 2), false, 'not the holder');
      assert.equal(await imageIndex.renewCollectorLease(db, 'gc-1', NOW + 2), true);
      const taken = await imageIndex.acquireCollectorLease(db, 'gc-2', NOW + 60_003, 60_000);
      assert.equal(taken, generation + 1, 'an expired lease is taken over, with the next generation');
      await imageIndex.releaseCollectorLease(db, 'gc-1');
      assert.equal(await imageIndex.renewCollectorLease(db, 'gc-2', NOW + 60_004), true, 'releasing someone else’s lease does nothing');
      await imageIndex.releaseCollectorLease(db, 'gc-2');
      assert.ok((await imageIndex.acquireCollectorLease(db, 'gc-3', NOW, 60_000)) !== undefined, 'free again');
      await imageIndex.releaseCollectorLease(db, 'gc-3');

      // Writing runs (r1 finished, r2 abandoned earlier; none writing yet): add one building on image b.
      await imageIndex.insertRunUnlessExists(db, {
        runId: 'sms-run-r3', tenant: A, replicationJobId: 'sms-job-r3', parentAmiId: 'ami-0000000000000000d', mode: 'incremental', keyId: 2, compression: 'none',
        amiId: 'ami-000000000000000r3', disks: [{ index: 0, sizeBytes: 1, blockCount: 1, snapshotId: 'snap-00000000000000r30' }], blockWatermark: 5, beginGeneration: 6, now: NOW,
      });
      const writing = await imageIndex.writingRuns(db);
      assert.deepEqual(writing.map((r) => [r.disks[0]!.snapshotId, r.blockWatermark, r.beginGeneration]), [['snap-00000000000000r30', 5, 6]]);
      // Referenced: every available image's snapshots, and the deleted image d that the writing run builds on.
      const referenced = (await imageIndex.referencedSnapshots(db)).map((s) => s.snapshotId);
      assert.ok(referenced.includes('snap-0000000000000000d-0'), 'the parent of a writing run');
      assert.ok(referenced.includes('snap-0000000000000000a-1'));
      assert.ok(!referenced.includes('snap-0000000000000000c-0'));
      // Purging: c is deleted and nothing builds on it; d is deleted but a writing run builds on it.
      const purged = await imageIndex.purgeDeletedImages(db);
      assert.deepEqual(purged.amiIds, ['ami-0000000000000000c']);
      assert.deepEqual(purged.snapshotIds, []);
      assert.equal(await imageIndex.imageOwner(db, 'ami-0000000000000000c'), undefined);
      assert.equal((await imageIndex.imageOwner(db, 'ami-0000000000000000d'))?.state, 'deleted');
      assert.ok((await imageIndex.allSnapshotIds(db)).includes('snap-0000000000000000d-0'));

      // The sweep: a page of stamps; a block stamped at or after the generation is spared by the delete itself.
      const page = await imageIndex.blockStampsAfter(db, 0, 3);
      assert.equal(page.length, 3);
      assert.ok(page[0]!.blockId < page[1]!.blockId && page[1]!.blockId < page[2]!.blockId);
      const stampBelow = Math.max(page[0]!.gen, page[1]!.gen) + 1;
      await db.updateTable('image_blocks').set({ gen: stampBelow }).where('block_id', '=', page[1]!.blockId).execute();
      const freed = await imageIndex.deleteUnstampedBlocks(db, [page[0]!.blockId, page[1]!.blockId], stampBelow);
      assert.equal(freed.length, 1, 'only the block stamped before the generation');
      assert.deepEqual((await imageIndex.locateBlocks(db, [page[0]!.blockId, page[1]!.blockId])).size, 1);
      assert.deepEqual(await imageIndex.deleteUnstampedBlocks(db, [], stampBelow), []);

      // Over runs that still hold committed-block rows (the finished r1 had none; give the abandoned r2 one).
      const r2 = (await imageIndex.runById(db, 'sms-run-r2'))!;
      await imageIndex.upsertRunBlocks(db, r2.runSeq, 0, [{ blockIndex: 0, blockId: 1 }]);
      assert.deepEqual(await imageIndex.overRunsWithBlocks(db), [r2.runSeq]);
    });
  });
}
