/**
 * The local image store when things go wrong, and under encryption: resuming a run after a simulated crash,
 * detecting a corrupted byte in a pack or a manifest, and sealed blocks never shared across keys.
 */
import { DIRECT_ALIGN } from '../../src/images/directIo.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { plainSealer } from '../../src/images/blockSealer.ts';
import { CorruptBlockError } from '../../src/images/errors.ts';
import { packPath } from '../../src/images/packFile.ts';
import {
  B,
  tenant,
  JOB,
  openFixture,
  crash,
  disk,
  sha,
  isZero,
  writeDisk,
  makeImage,
  exported,
  testSealer,
  blockIdOf,
  flipByte,
} from '../helpers/imageStoreFixture.ts';

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
