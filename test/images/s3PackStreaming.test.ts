/**
 * S3 packs upload during the transfer, not after it (issue 11 item 4): full parts go up while the pack is still open
 * (seen in ListParts before the seal, with no object visible yet), an open local pack streams its synced bytes
 * through BlockPlacement before it is sealed, and a part that fails fails the pack instead of being dropped.
 * Real moto_server and AWS SDK clients throughout.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { collect, packObjectName } from '../../src/images/blocks/blockStorage.ts';
import { BlockPlacement } from '../../src/images/blocks/blockPlacement.ts';
import { MIN_PART_BYTES, S3BlockStorage } from '../../src/images/blocks/s3BlockStorage.ts';
import { packHeader, packPath } from '../../src/images/packFile.ts';
import { suiteBucket } from '../helpers/s3.ts';

describe('S3 packs upload while they fill', () => {
  const s3 = suiteBucket();

  function open(prefix: string, partsInFlight: number): S3BlockStorage {
    return new S3BlockStorage({ bucket: s3.bucket.bucket, prefix, endpoint: s3.bucket.endpoint, forcePathStyle: true, credentials: s3.bucket.credentials, partSizeBytes: MIN_PART_BYTES, partsInFlight });
  }

  /** The open multipart upload under `key` and the part numbers uploaded to it so far. */
  async function uploadedParts(key: string): Promise<{ uploadId: string; parts: number[] } | undefined> {
    const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket.bucket, Prefix: key }));
    const upload = (uploads.Uploads ?? []).find((u) => u.Key === key);
    if (upload === undefined) return undefined;
    const listed = await s3.client.send(new ListPartsCommand({ Bucket: s3.bucket.bucket, Key: key, UploadId: upload.UploadId }));
    return { uploadId: upload.UploadId!, parts: (listed.Parts ?? []).map((p) => p.PartNumber!) };
  }

  it('uploads full parts before the seal, shows nothing until it, and completes them in order', async () => {
    const storage = open('open-parts', 1);
    try {
      const name = packObjectName(1);
      const header = packHeader(1, 1_700_000_000_000);
      const pack = await storage.createPack(name, header);
      const records = [randomBytes(MIN_PART_BYTES), randomBytes(MIN_PART_BYTES), randomBytes(MIN_PART_BYTES), randomBytes(1234)];
      for (const record of records) await pack.append([record]);
      // One part in flight at most once append returns: of the three full parts, at least two are uploaded.
      const open = await uploadedParts(`open-parts/${name}`);
      assert.ok(open !== undefined, 'the multipart upload started before the seal');
      assert.ok(open.parts.length >= 2, `parts uploaded before the seal: ${open.parts.join(',')}`);
      assert.equal(await storage.sizeOf(name), undefined, 'an open pack is not visible');
      assert.deepEqual(await collect(storage.list('packs/')), []);
      await pack.seal();
      assert.equal(await uploadedParts(`open-parts/${name}`), undefined, 'the upload is completed, not left open');
      assert.deepEqual(await storage.readObject(name), Buffer.concat([header, ...records]));
    } finally {
      await storage.close();
    }
  });

  it('fails the seal when a part fails, and leaves no object', async () => {
    const storage = open('failed-part', 1);
    try {
      const name = packObjectName(2);
      const key = `failed-part/${name}`;
      const pack = await storage.createPack(name, packHeader(2, 1_700_000_000_000));
      await pack.append([randomBytes(MIN_PART_BYTES)]);
      await pack.append([randomBytes(MIN_PART_BYTES)]);
      const open = await uploadedParts(key);
      assert.ok(open !== undefined);
      // The upload vanishes under the pack (an operator's lifecycle rule, a restarted gateway): later parts fail.
      await s3.client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket.bucket, Key: key, UploadId: open.uploadId }));
      const failed = await (async () => {
        try {
          await pack.append([randomBytes(MIN_PART_BYTES)]);
          await pack.seal();
          return undefined;
        } catch (thrown) {
          return thrown;
        }
      })();
      assert.ok(failed instanceof Error, 'a failed part fails the pack');
      assert.equal(await storage.sizeOf(name), undefined, 'no object for a failed pack');
      assert.deepEqual(await collect(storage.list('packs/')), []);
    } finally {
      await storage.close();
    }
  });

  it('streams an open local pack through BlockPlacement before it is sealed, then publishes it whole', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ferry-stream-'));
    const storage = open('streamed', 2);
    try {
      const placement = new BlockPlacement(root, storage);
      const packId = 3;
      const path = packPath(root, packId);
      mkdirSync(dirname(path), { recursive: true });
      const synced = Buffer.concat([packHeader(packId, 1_700_000_000_000), randomBytes(3 * MIN_PART_BYTES)]);
      writeFileSync(path, synced);
      placement.packSynced(packId, synced.length);
      const key = `streamed/${packObjectName(packId)}`;
      let parts: number[] = [];
      for (let tries = 0; tries < 200 && parts.length < 2; tries++) {
        parts = (await uploadedParts(key))?.parts ?? [];
        if (parts.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(parts.length >= 2, `parts uploaded while the pack is open: ${parts.join(',')}`);
      assert.equal(await storage.sizeOf(packObjectName(packId)), undefined, 'not visible before the seal');
      const tail = randomBytes(777);
      appendFileSync(path, tail); // appended, as the writer does: the synced bytes never change
      await placement.publishPack(packId);
      assert.deepEqual(await storage.readObject(packObjectName(packId)), readFileSync(path));
    } finally {
      await storage.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
