/**
 * The BlockStorage contract (src/images/blocks/blockStorage.ts), run against every implementation: local files and
 * S3 on moto_server. Packs appear only once sealed, reads return the exact bytes, multipart packs read back whole,
 * aborted packs leave nothing, deletes are idempotent and listings see complete objects only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlockObjectGoneError, collect, manifestObjectName, packObjectName, type BlockStorage, type UnfinishedUpload } from '../../src/images/blocks/blockStorage.ts';
import { LocalBlockStorage } from '../../src/images/blocks/localBlockStorage.ts';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import { PackFile, packHeader, packPath } from '../../src/images/packFile.ts';
import { startTestBucket, type TestBucket } from '../helpers/s3.ts';

interface Implementation {
  name: string;
  open(): Promise<{ storage: BlockStorage; cleanup(): Promise<void> }>;
}

let bucket: TestBucket | undefined;

const implementations: Implementation[] = [
  {
    name: 'local',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-blocks-'));
      const storage = new LocalBlockStorage(dir);
      return { storage, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    async open() {
      bucket ??= await startTestBucket();
      const prefix = `suite-${randomBytes(4).toString('hex')}/blocks`;
      const storage = new S3BlockStorage({ bucket: bucket.bucket, prefix, endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials, partSizeBytes: MIN_PART_BYTES });
      return { storage, cleanup: () => storage.close() };
    },
  },
];

after(async () => {
  await bucket?.stop();
});

async function collectUploads(uploads: AsyncIterable<UnfinishedUpload>): Promise<UnfinishedUpload[]> {
  const all: UnfinishedUpload[] = [];
  for await (const upload of uploads) all.push(upload);
  return all;
}

for (const implementation of implementations) {
  describe(`BlockStorage: ${implementation.name}`, () => {
    let storage: BlockStorage;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ storage, cleanup } = await implementation.open());
    });
    after(async () => {
      await cleanup();
    });

    it('keeps a sealed pack whole, at the offsets append returned, and lists it only once sealed', async () => {
      const name = packObjectName(1);
      const header = packHeader(1, 1_700_000_000_000);
      const pack = await storage.createPack(name, header);
      const records = [randomBytes(1000), randomBytes(70_000), randomBytes(3)];
      const offsets = [];
      for (const record of records) offsets.push(await pack.append([record.subarray(0, 10), record.subarray(10)]));
      assert.deepEqual(offsets, [64, 1064, 71_064]);
      assert.equal(pack.size, 71_067);
      const listedBefore = await collect(storage.list('packs/'));
      if (storage.kind === 's3') assert.deepEqual(listedBefore, [], 'an open S3 pack is invisible');
      await pack.seal();
      assert.deepEqual(await collect(storage.list('packs/')), [{ name, sizeBytes: 71_067 }]);
      assert.deepEqual(await storage.readRange(name, 0, 64), header);
      for (const [i, record] of records.entries()) assert.deepEqual(await storage.readRange(name, offsets[i]!, record.length), record);
      assert.deepEqual((await storage.readRange(name, 71_060, 100)).length, 7, 'a read past the end comes back short');
      assert.equal(await storage.sizeOf(name), 71_067);
      assert.deepEqual(await storage.readObject(name), Buffer.concat([header, ...records]));
    });

    it('reads back a pack larger than several parts (multipart on S3) bit-identical', async () => {
      const name = packObjectName(4097);
      const pack = await storage.createPack(name, packHeader(4097, 1));
      const chunks = Array.from({ length: 24 }, () => randomBytes(512 * 1024 + 17));
      await Promise.all(chunks.map((chunk) => pack.append([chunk])));
      await pack.seal();
      const whole = Buffer.concat([packHeader(4097, 1), ...chunks]);
      assert.ok(whole.length > 2 * MIN_PART_BYTES);
      assert.equal(await storage.sizeOf(name), whole.length);
      assert.ok((await storage.readObject(name)).equals(whole));
      const at = MIN_PART_BYTES - 100; // a range across a part boundary
      assert.ok((await storage.readRange(name, at, 300)).equals(whole.subarray(at, at + 300)));
      assert.equal(name, 'packs/0001/00001001.pack');
    });

    it('leaves nothing of an aborted pack', async () => {
      const name = packObjectName(7);
      const pack = await storage.createPack(name, packHeader(7, 1));
      await pack.append([randomBytes(MIN_PART_BYTES + 1)]);
      await pack.abort();
      assert.equal(await storage.sizeOf(name), undefined);
      assert.deepEqual((await collect(storage.list('packs/'))).map((o) => o.name).includes(name), false);
    });

    it('lists a pack a killed writer left unsealed as an unfinished upload (S3; none locally) and aborts it idempotently', async () => {
      const name = packObjectName(9);
      const pack = await storage.createPack(name, packHeader(9, 1));
      await pack.append([randomBytes(MIN_PART_BYTES + 1)]); // a part cut: on S3 a multipart upload now exists
      // The writer dies here: neither seal nor abort.
      let unfinished: UnfinishedUpload[] = [];
      for (let tries = 0; tries < 200; tries++) {
        unfinished = await collectUploads(storage.unfinishedUploads('packs/'));
        if (storage.kind === 'local' || unfinished.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (storage.kind === 'local') {
        assert.deepEqual(unfinished, [], 'a local pack is its file: nothing to abort');
        await pack.abort();
        return;
      }
      assert.deepEqual(unfinished.map((u) => u.name), [name]);
      assert.ok(unfinished[0]!.uploadId !== '' && Number.isFinite(unfinished[0]!.startedAt));
      await storage.abortUnfinished(unfinished[0]!);
      assert.deepEqual(await collectUploads(storage.unfinishedUploads('packs/')), []);
      await storage.abortUnfinished(unfinished[0]!); // already gone: not an error
      assert.equal(await storage.sizeOf(name), undefined);
    });

    it('refuses to create a pack over an existing one', async () => {
      await assert.rejects(storage.createPack(packObjectName(1), packHeader(1, 1)));
    });

    it('puts manifests whole, replaces them, and deletes idempotently', async () => {
      const name = manifestObjectName('snap-0123456789abcdef0');
      const first = randomBytes(4096);
      await storage.putObject(name, first);
      assert.deepEqual(await storage.readObject(name), first);
      const second = randomBytes(100);
      await storage.putObject(name, second);
      assert.deepEqual(await storage.readObject(name), second);
      assert.deepEqual(await collect(storage.list('manifests/')), [{ name, sizeBytes: 100 }]);
      await storage.delete(name);
      await storage.delete(name);
      assert.equal(await storage.sizeOf(name), undefined);
      await assert.rejects(storage.readRange(name, 0, 10), BlockObjectGoneError);
      await assert.rejects(storage.readObject(name), BlockObjectGoneError);
    });

    it('lists in name order under a prefix only', async () => {
      for (const id of [3, 2]) {
        const pack = await storage.createPack(packObjectName(id), packHeader(id, 1));
        await pack.seal();
      }
      const names = (await collect(storage.list('packs/0000/'))).map((o) => o.name);
      assert.deepEqual(names, [packObjectName(1), packObjectName(2), packObjectName(3)]);
      assert.deepEqual(await collect(storage.list('nothing/')), []);
    });

    it('refuses names that would escape the store', async () => {
      for (const bad of ['../x', '/abs', 'a//b', 'a/./b', '']) await assert.rejects(storage.putObject(bad, Buffer.alloc(1)));
    });
  });
}

describe('LocalBlockStorage layout', () => {
  it('writes pack files byte-identical to PackFile at the paths the image store has always used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-blocks-layout-'));
    const other = mkdtempSync(join(tmpdir(), 'ferry-blocks-packfile-'));
    try {
      const records = [randomBytes(333), randomBytes(90_000)];
      const storage = new LocalBlockStorage(join(dir, 'images'));
      const pack = await storage.createPack(packObjectName(5000), packHeader(5000, 42));
      for (const record of records) await pack.append([record]);
      await pack.seal();
      const legacy = PackFile.create(join(other, 'images'), 5000, 42);
      for (const record of records) legacy.append([record]);
      await legacy.sync();
      legacy.close();
      const written = readFileSync(packPath(join(dir, 'images'), 5000));
      assert.ok(written.equals(readFileSync(packPath(join(other, 'images'), 5000))));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(other, { recursive: true, force: true });
    }
  });
});
