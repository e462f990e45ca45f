/**
 * S3 reads of adjacent blocks of one pack are merged into few ranged GETs (src/images/blocks/rangeCoalescer.ts), on
 * moto_server: every read still gets exactly its bytes, reads past the end get what there is, a missing pack still
 * answers "gone", and with coalescing off each read is one GET (and no HEAD before it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BlockObjectGoneError, packObjectName } from '../../src/images/blocks/blockStorage.ts';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import { startTestBucket, type TestBucket } from '../helpers/s3.ts';

const KiB = 1024;

describe('coalesced S3 reads', () => {
  let bucket: TestBucket;
  let bytes: Buffer;
  const name = packObjectName(1);
  before(async () => {
    bucket = await startTestBucket();
    const storage = open(false);
    bytes = randomBytes(2 * MIN_PART_BYTES + 12_345); // a multipart pack
    const pack = await storage.createPack(name, bytes.subarray(0, 100));
    await pack.append([bytes.subarray(100)]);
    await pack.seal();
    await storage.close();
  });
  after(async () => {
    await bucket?.stop();
  });

  function open(coalesce: boolean): S3BlockStorage {
    return new S3BlockStorage({
      bucket: bucket.bucket, prefix: 'reads', endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials,
      partSizeBytes: MIN_PART_BYTES, ...(coalesce ? {} : { coalesceReads: false as const }),
    });
  }

  for (const coalesce of [true, false]) {
    it(`reads 40 adjacent records exactly, ${coalesce ? 'in a few GETs' : 'one GET each'}`, async () => {
      const storage = open(coalesce);
      try {
        // Records as a pack holds them: back to back, of uneven length, read by several readers at once.
        const records: { offset: number; length: number }[] = [];
        for (let offset = 0, i = 0; i < 40; i++) {
          const length = 200 * KiB + ((i * 7919) % 100) * KiB;
          records.push({ offset, length });
          offset += length;
        }
        const got = await Promise.all(records.map((r) => storage.readRange(name, r.offset, r.length)));
        records.forEach((r, i) => assert.ok(got[i]!.equals(bytes.subarray(r.offset, r.offset + r.length)), `record ${i}`));
        if (coalesce) assert.ok(storage.getRequests <= 8, `40 reads took ${storage.getRequests} GETs`);
        else assert.equal(storage.getRequests, 40);
        const [tail, past] = await Promise.all([storage.readRange(name, bytes.length - 10, 100), storage.readRange(name, bytes.length + 5, 100)]);
        assert.ok(tail.equals(bytes.subarray(bytes.length - 10)));
        assert.equal(past.length, 0);
        await assert.rejects(storage.readRange(packObjectName(99), 0, 10), BlockObjectGoneError);
      } finally {
        await storage.close();
      }
    });
  }
});
