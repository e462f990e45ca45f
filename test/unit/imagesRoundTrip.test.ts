/**
 * The local image store on real files and a real SQLite database: multi-disk round trips with zero blocks never
 * stored, packs with and without O_DIRECT, dedup across images and VMs, and incremental images inheriting blocks.
 */
import { DIRECT_ALIGN } from '../../src/images/directIo.ts';
import { RECORD_HEADER_SIZE } from '../../src/images/blockCodec.ts';
import { pageAlignedShared } from '../../src/lib/alignedMemory.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { ImageStoreError } from '../../src/images/errors.ts';
import { B, tenant, JOB, openFixture, noise, disk, sha, writeDisk, makeImage, exported, flipByte } from '../helpers/imageStoreFixture.ts';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

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

test('blocks in page-aligned memory go to an O_DIRECT pack from where they are, and read back byte for byte', async () => {
  const f = await openFixture(undefined, { directIo: true });
  try {
    // As the connector's read batches hold them (lib/alignedMemory.ts): noise stays raw and is written in place;
    // text is compressed and the short last block is not whole pages, so those are staged.
    const bytes = disk(['a', 't:b', null, 'c', 'd', 't:e', 'f'], 777);
    const disk0 = Buffer.from(pageAlignedShared(bytes.length), 0, bytes.length);
    bytes.copy(disk0);
    const { amiId } = await makeImage(f.images, 'sms-run-00000006', [disk0]);
    assert.deepEqual(await exported(f.images, amiId, 0, f.dir), bytes);
    const rows = await (f.state.db as unknown as Kysely<any>).selectFrom('image_blocks').select(['pack_offset', 'stored_len', 'raw_len']).execute();
    assert.equal(rows.length, 6);
    const inPlace = rows.filter((r) => (Number(r.pack_offset) + RECORD_HEADER_SIZE) % DIRECT_ALIGN === 0);
    const staged = rows.filter((r) => Number(r.pack_offset) % DIRECT_ALIGN === 0);
    assert.equal(inPlace.length, 3, 'a, c, d: their payload starts on a page, right after the header');
    assert.ok(inPlace.every((r) => Number(r.stored_len) === B));
    assert.equal(staged.length, 3, 'b and e (compressed) and f (the short last block) start on a page');
    const reopened = await f.reopen();
    try {
      assert.deepEqual(await exported(reopened.images, amiId, 0, f.dir), bytes, 'and after a reopen');
    } finally {
      await reopened.close();
    }
  } finally {
    await f.close();
  }
});

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

test("an incremental whose parent manifest is damaged fails at finish, leaves no manifest of its own, and finishes once the parent is whole", async () => {
  const f = await openFixture();
  try {
    const base = ['p0', 'p1', null, 'p3'];
    const parent = await makeImage(f.images, 'sms-run-00000030', [disk(base)]);
    const manifests = join(f.images.root, 'manifests');
    const parentPath = join(manifests, `${(await f.images.listImages()).find((i) => i.amiId === parent.amiId)!.disks[0]!.snapshotId}.manifest`);
    const begin = { tenant, replicationJobId: JOB, sealer: plainSealer, parentAmiId: parent.amiId, mode: 'incremental' as const };
    await f.images.beginImage('sms-run-00000031', { ...begin, disks: [{ index: 0, sizeBytes: 4 * B }] });
    await writeDisk(f.images, 'sms-run-00000031', 0, disk(['p0', 'n1', null, 'p3']), (i) => i === 1);
    const before = readFileSync(parentPath);
    // The last id of the parent: its structure still parses, only the checksum at the end tells.
    flipByte(parentPath, 64 + 2 * 8);
    await assert.rejects(f.images.finishImage('sms-run-00000031'), /checksum mismatch/);
    assert.deepEqual(readdirSync(manifests).sort(), [basename(parentPath)], 'no manifest, and no temporary file, of the failed finish');
    writeFileSync(parentPath, before);
    const child = await f.images.finishImage('sms-run-00000031');
    assert.equal(readdirSync(manifests).length, 2);
    assert.deepEqual(await exported(f.images, child.amiId, 0, f.dir), disk(['p0', 'n1', null, 'p3']));
  } finally {
    await f.close();
  }
});
