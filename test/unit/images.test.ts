/**
 * The local image store on real files and a real SQLite database: round trips, dedup, zero blocks, incremental
 * images, resume after a simulated crash, corruption detection, garbage collection while a run writes, compaction.
 */
import { DIRECT_ALIGN } from '../../src/images/directIo.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import { imageStoreMigration } from '../../src/store/migrations/002_image_store.ts';
import { openImageStore, type ImageStore, type OpenImageStoreOptions } from '../../src/images/imageStore.ts';
import { plainSealer, type BlockSealer } from '../../src/images/blockSealer.ts';
import { CorruptBlockError, ImageStoreError } from '../../src/images/errors.ts';
import { packPath } from '../../src/images/packFile.ts';
import { PackReader } from '../../src/images/packReader.ts';
import { BlockFetcher } from '../../src/images/blockFetcher.ts';
import { locateBlocks } from '../../src/images/blockIndex.ts';
import type { ImageDb } from '../../src/images/db.ts';
import { simulateCrashOfLocalOwners } from '../../src/images/packOwner.ts';
import type { RecordedBlock } from '../../src/images/types.ts';
import { openManifest } from '../../src/images/manifest.ts';

const B = 512 * 1024;
const tenant = { accountId: '111122223333', region: 'us-east-1' };
const JOB = 'sms-job-0123abcd';

interface Fixture {
  dir: string;
  state: Store;
  images: ImageStore;
  reopen(options?: Partial<OpenImageStoreOptions>): Promise<Fixture>;
  close(): Promise<void>;
}

/** Applies migration 002 unless the store's migration list already did. */
async function ensureImageTables(state: Store): Promise<void> {
  const db = state.db as unknown as Kysely<any>;
  const applied = await db.selectFrom('ferry_migrations').select('version').where('version', '=', imageStoreMigration.version).executeTakeFirst();
  if (applied) return;
  await db.transaction().execute(async (trx) => {
    await imageStoreMigration.up(trx);
    await trx.insertInto('ferry_migrations').values({ version: imageStoreMigration.version, name: imageStoreMigration.name, applied_at: Date.now() }).execute();
  });
}

/** A store in a fresh temporary directory (removed on close), or reopened on `dir` (left in place). */
async function openFixture(existing?: string, options: Partial<OpenImageStoreOptions> = {}): Promise<Fixture> {
  const dir = existing ?? mkdtempSync(join(tmpdir(), 'ferry-images-'));
  const state = await openSqliteStore(dir, Date.now());
  await ensureImageTables(state);
  const images = await openImageStore({ db: state.db, dataDir: dir, packSizeBytes: 4 * B, ...options });
  const fixture: Fixture = {
    dir,
    state,
    images,
    reopen: (more = {}) => openFixture(dir, { ...options, ...more }),
    async close() {
      await images.close();
      await state.close();
      if (!existing) rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** What kill -9 leaves behind: nothing flushed, nothing sealed, the database connection simply gone. */
async function crash(fixture: Fixture): Promise<void> {
  simulateCrashOfLocalOwners();
  await fixture.state.close();
}

/** A deterministic pseudo-random block (AES-CTR keystream): incompressible, unique per seed. */
function noise(seed: string, length = B): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** A compressible block: text with a seed in it. */
function text(seed: string, length = B): Buffer {
  const line = Buffer.from(`${seed}: the quick brown fox jumps over the lazy dog ${seed.length}\n`);
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += line.length) line.copy(out, at);
  return out;
}

/** A disk from block specs: a seed (noise), 't:seed' (text) or null (zeros). `tail` shortens the last block. */
function disk(specs: (string | null)[], tail = 0): Buffer {
  const out = Buffer.alloc(specs.length * B - tail);
  specs.forEach((spec, i) => {
    if (spec === null) return;
    const block = spec.startsWith('t:') ? text(spec) : noise(spec);
    block.copy(out, i * B, 0, Math.min(B, out.length - i * B));
  });
  return out;
}

const sha = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
const isZero = (data: Buffer): boolean => data.equals(Buffer.alloc(data.length));

/** What the run executor does: ask first, put what is missing, record, in batches. Returns how many blocks were sent. */
async function writeDisk(images: ImageStore, runId: string, diskIndex: number, data: Buffer, only?: (blockIndex: number) => boolean): Promise<number> {
  let sent = 0;
  const count = Math.ceil(data.length / B);
  for (let start = 0; start < count; start += 8) {
    const entries: RecordedBlock[] = [];
    const blocks: Buffer[] = [];
    for (let i = start; i < Math.min(count, start + 8); i++) {
      if (only && !only(i)) continue;
      const block = data.subarray(i * B, Math.min(data.length, (i + 1) * B));
      entries.push({ blockIndex: i, sha256: isZero(block) ? null : sha(block) });
      blocks.push(block);
    }
    const asked = entries.map((e, k) => ({ e, block: blocks[k]! })).filter((x) => x.e.sha256 !== null);
    const missing = await images.missingBlocks(runId, asked.map((x) => x.e.sha256!));
    for (let k = 0; k < asked.length; k++) {
      if (!missing[k]) continue;
      const result = await images.putBlock(runId, asked[k]!.e.sha256!, asked[k]!.block);
      if (result.stored) sent++;
    }
    if (entries.length > 0) await images.recordBlocks(runId, diskIndex, entries);
  }
  return sent;
}

async function makeImage(
  images: ImageStore,
  runId: string,
  disks: Buffer[],
  extra: { parentAmiId?: string; mode?: 'full' | 'incremental'; sealer?: BlockSealer; only?: (d: number, i: number) => boolean } = {},
): Promise<{ amiId: string; sent: number }> {
  await images.beginImage(runId, {
    tenant,
    replicationJobId: JOB,
    sealer: extra.sealer ?? plainSealer,
    parentAmiId: extra.parentAmiId,
    mode: extra.mode,
    disks: disks.map((d, index) => ({ index, sizeBytes: d.length })),
  });
  let sent = 0;
  for (const [index, data] of disks.entries()) sent += await writeDisk(images, runId, index, data, extra.only ? (i) => extra.only!(index, i) : undefined);
  const { amiId } = await images.finishImage(runId);
  return { amiId, sent };
}

async function exported(images: ImageStore, amiId: string, diskIndex: number, dir: string): Promise<Buffer> {
  const out = join(dir, `${amiId}-${diskIndex}-${randomBytes(3).toString('hex')}.raw`);
  await images.exportDisk(amiId, diskIndex, 'raw', out);
  const data = readFileSync(out);
  rmSync(out);
  return data;
}

/** A stand-in for the KMS sealer: HMAC ids, AES-256-GCM seals (the real one lives in src/kms). */
function testSealer(keyRef: string): BlockSealer {
  const key = createHash('sha256').update(keyRef).digest();
  return {
    keyRef,
    storageId: (s) => createHmac('sha256', key).update(s).digest(),
    seal(id, data) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce).setAAD(id);
      const body = Buffer.concat([cipher.update(data), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), body]);
    },
    open(id, sealed) {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12)).setAAD(id);
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
    },
  };
}

test('a multi-disk image round-trips byte for byte; zero blocks are never stored', async () => {
  const f = await openFixture();
  try {
    const disk0 = disk(['a', null, 't:b', 'c', null, null, 'a', 't:d'], 1000); // repeats 'a', short last block
    const disk1 = disk([null, 'e', 'f', null]);
    const { amiId } = await makeImage(f.images, 'sms-run-00000001', [disk0, disk1]);
    assert.match(amiId, /^ami-[0-9a-f]{17}$/);

    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), disk0);
    assert.deepEqual(await exported(f.images, amiId, 1, f.dir), disk1);
    assert.deepEqual(await f.images.readBlock(amiId, 0, 2), disk0.subarray(2 * B, 3 * B));
    assert.deepEqual(await f.images.readBlock(amiId, 0, 1), Buffer.alloc(B));
    assert.deepEqual(await f.images.readBlock(amiId, 0, 7), disk0.subarray(7 * B));

    const stats = await f.images.stats();
    assert.equal(stats.blocks, 6, 'a, b, c, d, e, f: zeros and the repeated block are not stored');
    assert.ok(stats.storedBytes < 6 * B, 'text blocks are compressed');

    const [image] = await f.images.listImages(tenant);
    assert.equal(image!.amiId, amiId);
    assert.equal(image!.disks.length, 2);
    assert.match(image!.disks[0]!.snapshotId, /^snap-[0-9a-f]{17}$/);
    assert.equal(image!.logicalBytes, disk0.length + disk1.length);
    assert.equal(image!.dataBlocks, 7);
    assert.equal(image!.distinctBlocks, 6);
    assert.equal(image!.encrypted, false);
    const details = await f.images.getImage(amiId);
    assert.equal(details!.usage.storedBytes, stats.storedBytes);
    assert.deepEqual(await f.images.findImage(amiId), image);
    assert.equal(await f.images.findImage('ami-00000000000000000'), undefined);
    assert.equal(details!.usage.sharedBlocks, 0);
    assert.deepEqual(await f.images.listImages({ accountId: '999999999999', region: 'us-east-1' }), []);

    // The store refuses what it must never hold.
    await f.images.beginImage('sms-run-00000002', { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: B }] });
    await assert.rejects(f.images.putBlock('sms-run-00000002', sha(Buffer.alloc(B)), Buffer.alloc(B)), /Zero blocks are never stored/);
    await assert.rejects(f.images.putBlock('sms-run-00000002', sha(noise('x')), noise('y')), /does not match/);
    await assert.rejects(f.images.recordBlocks('sms-run-00000002', 0, [{ blockIndex: 0, sha256: sha(noise('never put')) }]), (e: unknown) => e instanceof ImageStoreError && e.code === 'MissingBlock');
    await assert.rejects(f.images.recordBlocks('sms-run-00000002', 0, [{ blockIndex: 1, sha256: null }]), /outside disk 0/);
  } finally {
    await f.close();
  }
});

for (const directIo of [true, false]) {
  test(`packs written ${directIo ? 'with O_DIRECT (aligned, padded records)' : 'through the page cache'} read back byte for byte`, async () => {
    const f = await openFixture(undefined, { directIo });
    try {
      const disk0 = disk(['a', 't:b', null, 'c', 't:d', 'e', 'f', 'g', 'h'], 777);
      const { amiId } = await makeImage(f.images, 'sms-run-00000005', [disk0]);
      assert.deepEqual(await exported(f.images, amiId, 0, f.dir), disk0);
      const rows = await (f.state.db as unknown as Kysely<any>).selectFrom('image_blocks').select(['pack_offset']).execute();
      assert.equal(rows.length, 8);
      const aligned = rows.every((r) => Number(r.pack_offset) % DIRECT_ALIGN === 0);
      // This suite runs on a filesystem with O_DIRECT (ext4 under /tmp); page-cache packs pack records tightly.
      if (directIo) assert.ok(aligned, 'every record starts at an aligned offset');
      else assert.ok(!aligned, 'records follow each other without padding');
      const reopened = await f.reopen();
      try {
        assert.deepEqual(await exported(reopened.images, amiId, 0, f.dir), disk0, 'and after a reopen');
      } finally {
        await reopened.close();
      }
    } finally {
      await f.close();
    }
  });
}

test('blocks are deduplicated across images and VMs: the store grows by the changed blocks only', async () => {
  const f = await openFixture();
  try {
    const specs = Array.from({ length: 12 }, (_, i) => `vm1-${i}`);
    const first = await makeImage(f.images, 'sms-run-00000010', [disk(specs)]);
    assert.equal(first.sent, 12);
    const before = await f.images.stats();

    const changed = [...specs];
    changed[3] = 'vm1-3-changed';
    changed[9] = 't:vm1-9-changed';
    const second = await makeImage(f.images, 'sms-run-00000011', [disk(changed)]);
    assert.equal(second.sent, 2, 'only the two changed blocks were sent');
    const after = await f.images.stats();
    assert.equal(after.blocks - before.blocks, 2);

    // Another VM with half the same content.
    const other = await makeImage(f.images, 'sms-run-00000012', [disk([...specs.slice(0, 6), 'vm2-a', 'vm2-b'])]);
    assert.equal(other.sent, 2);

    const img2 = (await f.images.listImages()).find((i) => i.amiId === second.amiId)!;
    assert.equal(img2.newBlocks, 2);
    assert.equal(img2.distinctBlocks, 12);
    const details = await f.images.getImage(first.amiId);
    assert.equal(details!.usage.sharedBlocks, 11, 'all but block 9 (replaced by the second image, not in the other VM)');
    assert.deepEqual(await exported(f.images, second.amiId, 0, f.dir), disk(changed));
  } finally {
    await f.close();
  }
});

test('an incremental image inherits every block it does not record from its parent', async () => {
  const f = await openFixture();
  try {
    const base = ['p0', 'p1', 'p2', null, 'p4', 'p5'];
    const parent = await makeImage(f.images, 'sms-run-00000020', [disk(base)]);
    // A dirty-bitmap run: blocks 1 and 3 changed, block 4 became zero; the disk also grew by one block.
    const next = ['p0', 'n1', 'p2', 'n3', null, 'p5', 'n6'];
    const changed = new Set([1, 3, 4, 6]);
    const child = await makeImage(f.images, 'sms-run-00000021', [disk(next)], {
      parentAmiId: parent.amiId,
      mode: 'incremental',
      only: (_d, i) => changed.has(i),
    });
    assert.equal(child.sent, 3);
    assert.deepEqual(await exported(f.images, child.amiId, 0, f.dir), disk(next));
    assert.deepEqual(await exported(f.images, parent.amiId, 0, f.dir), disk(base));
    assert.equal((await f.images.listImages()).find((i) => i.amiId === child.amiId)!.parentAmiId, parent.amiId);

    // Full mode with the same partial recording: what was not recorded is zero.
    const full = await makeImage(f.images, 'sms-run-00000022', [disk(next)], { parentAmiId: parent.amiId, only: (_d, i) => changed.has(i) });
    assert.deepEqual(await exported(f.images, full.amiId, 0, f.dir), disk([null, 'n1', null, 'n3', null, null, 'n6']));

    // Retention deletes a parent while a run builds on it: the parent's blocks and manifest stay until the run ends.
    const begin = { tenant, replicationJobId: JOB, sealer: plainSealer, parentAmiId: child.amiId, mode: 'incremental' as const };
    await f.images.beginImage('sms-run-00000023', { ...begin, disks: [{ index: 0, sizeBytes: 7 * B }] });
    await f.images.deleteImage(tenant, JOB, child.amiId);
    assert.equal((await f.images.collectGarbage()).imagesPurged, 0, 'a deleted parent of a running run is kept');
    await writeDisk(f.images, 'sms-run-00000023', 0, disk(['g0']).subarray(0, B), () => true);
    const grandchild = await f.images.finishImage('sms-run-00000023');
    assert.deepEqual(await exported(f.images, grandchild.amiId, 0, f.dir), disk(['g0', ...next.slice(1)]));
    assert.equal((await f.images.collectGarbage()).imagesPurged, 1, 'once the run is done the deleted parent goes');
    assert.deepEqual(await exported(f.images, grandchild.amiId, 0, f.dir), disk(['g0', ...next.slice(1)]));
    await assert.rejects(f.images.beginImage('sms-run-00000024', { ...begin, disks: [{ index: 0, sizeBytes: B }] }), /does not exist/);
  } finally {
    await f.close();
  }
});

test('after a crash the run resumes: committed blocks are kept and not sent again, and no half image is visible', async () => {
  let f = await openFixture();
  const data = disk(Array.from({ length: 24 }, (_, i) => (i % 5 === 4 ? null : i % 3 === 0 ? `t:r${i}` : `r${i}`)));
  const begin = { tenant, replicationJobId: JOB, sealer: plainSealer, disks: [{ index: 0, sizeBytes: data.length }] };
  const first = await f.images.beginImage('sms-run-00000030', begin);
  assert.equal(first.resumed, false);
  await writeDisk(f.images, 'sms-run-00000030', 0, data, (i) => i < 10);
  // Blocks 10..13 are put and flushed, but never recorded; 14..15 are put and still pending when the crash comes.
  for (let i = 10; i < 16; i++) {
    const block = data.subarray(i * B, (i + 1) * B);
    if (!isZero(block)) await f.images.putBlock('sms-run-00000030', sha(block), block);
    if (i === 13) await f.images.flush();
  }
  await crash(f);

  f = await openFixture(f.dir);
  try {
    assert.deepEqual(await f.images.listImages(), [], 'no half-written image is visible');
    const again = await f.images.beginImage('sms-run-00000030', begin);
    assert.equal(again.resumed, true);
    assert.equal(again.amiId, first.amiId);
    const committed = await f.images.committedBlocks('sms-run-00000030', 0);
    assert.equal(committed.count, 10);
    assert.ok(committed.has(0) && committed.has(9) && !committed.has(10));
    const sent = await writeDisk(f.images, 'sms-run-00000030', 0, data, (i) => !committed.has(i));
    const unsent = [...Array(24).keys()].filter((i) => i >= 14 && !isZero(data.subarray(i * B, (i + 1) * B))).length;
    assert.equal(sent, unsent, 'blocks committed or indexed before the crash are not sent again');
    const { amiId } = await f.images.finishImage('sms-run-00000030');
    assert.equal(amiId, first.amiId);
    assert.deepEqual((await f.images.finishImage('sms-run-00000030')).amiId, amiId, 'finishing twice is harmless');
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), data);
    // The crashed writer's pack was cut back to its indexed end: beyond the blocks only pack headers and (with
    // O_DIRECT writes) each record's padding to the alignment remain.
    const stats = await f.images.stats();
    const overhead = stats.packs * DIRECT_ALIGN + stats.blocks * DIRECT_ALIGN;
    assert.ok(stats.packBytes <= stats.storedBytes + overhead, `${stats.packBytes} bytes of packs hold ${stats.storedBytes} bytes of blocks`);
  } finally {
    await f.close();
    rmSync(f.dir, { recursive: true, force: true });
  }
});

test('a corrupted byte in a pack or a manifest fails reads and exports with the image and offset named', async () => {
  const f = await openFixture();
  try {
    const data = disk(['k0', 't:k1', 'k2', null, 'k4']);
    const { amiId } = await makeImage(f.images, 'sms-run-00000040', [data]);
    const blockId = await blockIdOf(f, amiId, 0, 2);
    const loc = (await f.state.db.selectFrom('image_blocks' as any).selectAll().where('block_id', '=', blockId).executeTakeFirstOrThrow()) as {
      pack_id: number;
      pack_offset: number;
    };
    flipByte(packPath(f.images.root, loc.pack_id), loc.pack_offset + 64 + 1000);

    await assert.rejects(f.images.readBlock(amiId, 0, 2), (e: unknown) => {
      assert.ok(e instanceof CorruptBlockError);
      assert.match(e.message, new RegExp(`${amiId} disk 0 is corrupt at byte offset ${2 * B}`));
      return true;
    });
    assert.deepEqual(await f.images.readBlock(amiId, 0, 1), data.subarray(B, 2 * B), 'other blocks still read');
    await assert.rejects(f.images.exportDisk(amiId, 0, 'raw', join(f.dir, 'bad.raw')), new RegExp(`${amiId} disk 0 is corrupt at byte offset ${2 * B}`));

    const snapshotId = (await f.images.listImages())[0]!.disks[0]!.snapshotId;
    flipByte(join(f.images.root, 'manifests', `${snapshotId}.manifest`), 64 + 8 * 4);
    await assert.rejects(f.images.readBlock(amiId, 0, 0), /Manifest .* checksum mismatch/);
  } finally {
    await f.close();
  }
});

test('encrypted images: blocks are sealed under the key and never shared with other keys', async () => {
  const f = await openFixture();
  try {
    const data = disk(['s0', 't:s1', null, 's3']);
    const keyA = testSealer('arn:aws:kms:us-east-1:111122223333:key/a');
    const plain = await makeImage(f.images, 'sms-run-00000050', [data]);
    const sealed = await makeImage(f.images, 'sms-run-00000051', [data], { sealer: keyA });
    assert.equal(sealed.sent, 3, 'same content under another key is stored again');
    const other = await makeImage(f.images, 'sms-run-00000052', [data], { sealer: keyA });
    assert.equal(other.sent, 0, 'same content under the same key is shared');
    assert.deepEqual(await exported(f.images, sealed.amiId, 0, f.dir), data);
    const image = (await f.images.listImages()).find((i) => i.amiId === sealed.amiId)!;
    assert.equal(image.encrypted, true);
    assert.equal(image.keyRef, keyA.keyRef);
    // The plaintext is nowhere in the packs of the sealed image.
    const packs = await f.state.db.selectFrom('image_packs' as any).select('pack_id').execute();
    const all = Buffer.concat(packs.map((p) => readFileSync(packPath(f.images.root, Number((p as { pack_id: number }).pack_id)))));
    assert.equal(all.indexOf(data.subarray(3 * B, 3 * B + 64)), all.lastIndexOf(data.subarray(3 * B, 3 * B + 64)), 'only the plain copy');

    // A reader without the key gets a clear error; with a resolver it reads.
    const reader = await f.reopen({ readOnly: true });
    await assert.rejects(reader.images.readBlock(sealed.amiId, 0, 0), /no sealer for that key/);
    await reader.close();
    const resolving = await f.reopen({ readOnly: true, resolveSealer: (ref) => testSealer(ref) });
    assert.deepEqual(await resolving.images.readBlock(sealed.amiId, 0, 3), data.subarray(3 * B));
    await resolving.close();
    assert.ok(plain.amiId);
  } finally {
    await f.close();
  }
});

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

async function blockIdOf(f: Fixture, amiId: string, diskIndex: number, blockIndex: number): Promise<number> {
  const snapshotId = (await f.images.listImages()).find((i) => i.amiId === amiId)!.disks[diskIndex]!.snapshotId;
  const manifest = await openManifest(join(f.images.root, 'manifests', `${snapshotId}.manifest`));
  try {
    return await manifest.entry(blockIndex);
  } finally {
    await manifest.close();
  }
}

function flipByte(path: string, offset: number): void {
  const size = statSync(path).size;
  assert.ok(offset < size);
  const fd = openSync(path, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] = byte[0]! ^ 0xff;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}
