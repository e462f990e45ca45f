/**
 * The image store at the size limit, on real files and SQLite: a 64 TiB disk that holds a few blocks costs what
 * its data costs in every step (resume state, finish, incremental merge, reads, collection), disks over 64 TiB are
 * refused, and images whose manifests are still in format 1 keep working as parents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createCipheriv } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { imageStoreMigration } from '../../src/store/migrations/002_image_store.ts';
import { openImageStore, type ImageStore } from '../../src/images/imageStore.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { ImageStoreError } from '../../src/images/errors.ts';
import { openManifest } from '../../src/images/manifest.ts';
import { committedBlocks, deleteRunBlocks } from '../../src/images/runBlocks.ts';
import { upsertRunBlocks } from '../../src/store/images/index.ts';
import type { ImageDb } from '../../src/images/db.ts';

const B = 512 * 1024;
const TIB = 2 ** 40;
const tenant = { accountId: '111122223333', region: 'us-east-1' };
const JOB = 'sms-job-5ca1e000';

async function withStore(work: (images: ImageStore, db: Kysely<any>, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-images-scale-'));
  const state: Store = await openSqliteStore(dir, Date.now());
  const db = state.db as unknown as Kysely<any>;
  if (!(await db.selectFrom('ferry_migrations').select('version').where('version', '=', 2).executeTakeFirst())) {
    await db.transaction().execute(async (trx) => {
      await imageStoreMigration.up(trx);
      await trx.insertInto('ferry_migrations').values({ version: 2, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
    });
  }
  const images = await openImageStore({ db: state.db, dataDir: dir });
  try {
    await work(images, db, dir);
  } finally {
    await images.close();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function noise(seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(B));
}

const sha = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** Puts and records these blocks (index → data; null = a recorded zero). */
async function write(images: ImageStore, runId: string, blocks: Map<number, Buffer | null>): Promise<void> {
  for (const data of blocks.values()) if (data) await images.putBlock(runId, sha(data), data);
  await images.recordBlocks(runId, 0, [...blocks].map(([blockIndex, data]) => ({ blockIndex, sha256: data ? sha(data) : null })));
}

const elapsed = async <T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
};

test('a 64 TiB disk holding a few blocks costs what its data costs, through an incremental child and a collection', () =>
  withStore(async (images, db, dir) => {
    const SIZE = 64 * TIB;
    const last = SIZE / B - 1;
    const parentBlocks = new Map<number, Buffer | null>([
      [0, noise('a')],
      [2 ** 26, noise('b')],
      [last, noise('c')],
    ]);
    await images.beginImage('sms-run-5ca1e001', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: SIZE }] });
    await write(images, 'sms-run-5ca1e001', parentBlocks);
    const committed = await elapsed(() => images.committedBlocks('sms-run-5ca1e001', 0));
    assert.deepEqual([...committed.value.ranges()], [0, 2 ** 26, last].map((i) => ({ start: i, end: i + 1 })));
    assert.ok(committed.ms < 500, `committedBlocks took ${committed.ms} ms`);
    const finished = await elapsed(() => images.finishImage('sms-run-5ca1e001'));
    assert.ok(finished.ms < 2000, `finishImage took ${finished.ms} ms`);
    const parent = finished.value.amiId;
    const manifest = join(dir, 'images', 'manifests', `${finished.value.snapshotIds[0]}.manifest`);
    assert.ok(statSync(manifest).size < 200, `a manifest of ${statSync(manifest).size} bytes`);

    // The child replaces one block, zeroes another and adds one; the rest comes from the parent.
    await images.beginImage('sms-run-5ca1e002', { tenant, replicationJobId: JOB, sealer: plainSealer, parentAmiId: parent, mode: 'incremental', disks: [{ index: 0, sizeBytes: SIZE }] });
    await write(images, 'sms-run-5ca1e002', new Map([[0, noise('a2')], [2 ** 26, null], [2 ** 20, noise('d')]]));
    const child = await elapsed(() => images.finishImage('sms-run-5ca1e002'));
    assert.ok(child.ms < 2000, `the incremental merge took ${child.ms} ms`);
    const expected = new Map<number, Buffer>([[0, noise('a2')], [2 ** 20, noise('d')], [last, noise('c')]]);
    for (const index of [0, 1, 2 ** 20, 2 ** 26, last - 1, last]) {
      assert.deepEqual(await images.readBlock(child.value.amiId, 0, index), expected.get(index) ?? Buffer.alloc(B), `block ${index}`);
    }
    const [summary] = (await images.listImages(tenant)).filter((i) => i.amiId === child.value.amiId);
    assert.equal(summary!.dataBlocks, 3);

    // Nothing of either run is left in the run tables, and a collection visits data entries only.
    assert.equal(Number((await db.selectFrom('image_run_blocks').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 0);
    await images.deleteImage(tenant, JOB, parent);
    const gc = await elapsed(() => images.collectGarbage());
    assert.ok(gc.ms < 5000, `collection took ${gc.ms} ms`);
    assert.equal(gc.value.sweptBlocks, 2, "the parent's replaced blocks a and b");
    assert.deepEqual(await images.readBlock(child.value.amiId, 0, last), noise('c'), 'the inherited block survives');
  }));

test('a disk over 64 TiB is refused before anything is written', () =>
  withStore(async (images) => {
    for (const sizeBytes of [64 * TIB + 1, Number.MAX_SAFE_INTEGER]) {
      await assert.rejects(
        images.beginImage('sms-run-5ca1e010', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes }] }),
        (e: unknown) => e instanceof ImageStoreError && e.code === 'InvalidArgument' && /at most 70368744177664 bytes \(64 TiB\)/.test(e.message),
      );
    }
    await assert.rejects(images.committedBlocks('sms-run-5ca1e010', 0), /has no image in progress/);
  }));

test('an image whose manifest is still format 1 reads, exports, parents an incremental image and is marked by collection', () =>
  withStore(async (images, db, dir) => {
    const blocks = [noise('p0'), null, noise('p2'), noise('p3')];
    await images.beginImage('sms-run-5ca1e020', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: 4 * B }] });
    await write(images, 'sms-run-5ca1e020', new Map(blocks.map((b, i) => [i, b])));
    const { amiId: parent, snapshotIds } = await images.finishImage('sms-run-5ca1e020');

    // Rewrite the parent's manifest as an image made before format 2 has it.
    const path = join(dir, 'images', 'manifests', `${snapshotIds[0]}.manifest`);
    const v2 = await openManifest(path);
    const ids = await Promise.all([0, 1, 2, 3].map((i) => v2.entry(i)));
    await v2.close();
    const entries = Buffer.alloc(4 * 8);
    ids.forEach((id, i) => entries.writeBigUInt64LE(BigInt(id), i * 8));
    const header = Buffer.alloc(64);
    header.write('FRYMNF01', 0, 'latin1');
    header.writeUInt32LE(1, 8);
    header.writeUInt32LE(B, 12);
    header.writeUIntLE(4 * B, 16, 6);
    header.writeUIntLE(4, 24, 6);
    header.writeUIntLE(3, 32, 6);
    const digest = createHash('sha256').update(entries).digest();
    writeFileSync(path, Buffer.concat([header, entries, digest]));
    await db.updateTable('image_snapshots').set({ manifest_sha256: digest.toString('hex') }).where('snapshot_id', '=', snapshotIds[0]!).execute();
    const reopened = await openManifest(path);
    assert.equal(reopened.version, 1);
    await reopened.close();

    await images.beginImage('sms-run-5ca1e021', { tenant, replicationJobId: JOB, sealer: plainSealer, parentAmiId: parent, mode: 'incremental', disks: [{ index: 0, sizeBytes: 4 * B }] });
    await write(images, 'sms-run-5ca1e021', new Map([[3, noise('c3')]]));
    const { amiId: child } = await images.finishImage('sms-run-5ca1e021');
    const out = join(dir, 'child.raw');
    await images.exportDisk(child, 0, 'raw', out);
    const expected = Buffer.concat([noise('p0'), Buffer.alloc(B), noise('p2'), noise('c3')]);
    assert.deepEqual(readFileSync(out), expected);
    assert.deepEqual(await images.readBlock(parent, 0, 3), noise('p3'), 'the format 1 parent reads');
    const gc = await images.collectGarbage();
    assert.equal(gc.sweptBlocks, 0, "the format 1 manifest's blocks are marked");
    assert.deepEqual(await images.readBlock(parent, 0, 2), noise('p2'));
  }));

test("usage figures from the image's own index rows, whether its block ids are dense or spread out", () =>
  withStore(async (images) => {
    const make = async (runId: string, blocks: Buffer[]) => {
      await images.beginImage(runId, { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: blocks.length * B }] });
      await write(images, runId, new Map(blocks.map((b, i) => [i, b])));
      return (await images.finishImage(runId)).amiId;
    };
    const first = await make('sms-run-5ca1e030', [noise('u0')]);
    await make('sms-run-5ca1e031', Array.from({ length: 40 }, (_, i) => noise(`filler${i}`)));
    // Block ids 1 and 42: far apart for two blocks, so the rows are looked up by id.
    const spread = await make('sms-run-5ca1e032', [noise('u0'), noise('u1')]);
    const details = await images.getImage(spread);
    const stats = await images.stats();
    assert.equal(stats.blocks, 42);
    assert.equal(details!.usage.sharedBlocks, 1, 'u0 is also in the first image');
    assert.equal(details!.usage.exclusiveBlocks, 1);
    assert.equal(details!.usage.storedBytes, 2 * (B + 64), 'noise does not compress: two blocks, each with its record header');
    assert.equal(details!.usage.exclusiveBytes, B + 64);
    const dense = await images.getImage(first);
    assert.equal(dense!.usage.storedBytes, B + 64);
  }));

test("a run's rows are read and dropped page by page, across disks, leaving other runs' rows alone", () =>
  withStore(async (_images, db) => {
    const imageDb = db as unknown as ImageDb;
    for (const disk of [0, 1]) await upsertRunBlocks(imageDb, 7, disk, Array.from({ length: 20_000 }, (_, i) => ({ blockIndex: 3 * i, blockId: i })));
    await upsertRunBlocks(imageDb, 8, 0, [{ blockIndex: 5, blockId: 1 }]);
    const committed = await committedBlocks(imageDb, 7, 1);
    assert.equal(committed.count, 20_000);
    assert.ok(committed.has(3 * 19_999) && !committed.has(1));
    await deleteRunBlocks(imageDb, 7);
    const left = await db.selectFrom('image_run_blocks').select(['run_seq', 'block_index']).execute();
    assert.deepEqual(left.map((r) => [Number(r.run_seq), Number(r.block_index)]), [[8, 5]]);
  }));
