/**
 * The behaviour every ArtifactStore implementation must have, as one suite: the store with blob files
 * (test/integration/artifactStore.test.ts) and with its blobs in a bucket (artifactStoreBucket.test.ts) run it.
 * `open` gives a fresh, empty store whose limits are the ones passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ArtifactStore } from '../../src/artifacts/artifactStore.ts';
import type { ArtifactLimits } from '../../src/artifacts/limits.ts';

export const SUITE_LIMITS: Partial<ArtifactLimits> = { maxObjectBytes: 4 * 1024 * 1024, minPartBytes: 64 * 1024, maxParts: 50, maxBucketsPerAccount: 5, maxOpenUploadsPerAccount: 3 };

const ALICE = '111111111111';
const BOB = '222222222222';

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.isBuffer(part) ? part : Buffer.from(part);
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts).toString('utf8');
}

const code = (expected: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, expected, (e as Error).message);
  return true;
};

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest();
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export function artifactStoreSuite(name: string, open: () => Promise<{ store: ArtifactStore; close(): Promise<void> }>): void {
  const withStore = (title: string, body: (store: ArtifactStore) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const { store, close } = await open();
      try {
        await body(store);
      } finally {
        await close();
      }
    });

  withStore('the App calls: ensureBucket, put, get, head, list, delete; absent reads as undefined', async (store) => {
    await store.ensureBucket(ALICE, 'sms-artifacts', 'us-east-1');
    await store.ensureBucket(ALICE, 'sms-artifacts', 'us-east-1');
    const put = await store.putObject(ALICE, 'sms-artifacts', 'userdata/web01.sh', Buffer.from('#!/bin/sh\necho hi\n'), { contentType: 'text/x-shellscript' });
    assert.equal(put.size, 18);
    assert.equal(put.etag, `"${md5('#!/bin/sh\necho hi\n').toString('hex')}"`);
    assert.equal(put.contentType, 'text/x-shellscript');
    const streamed = await store.putObject(ALICE, 'sms-artifacts', 'templates/app.json', Readable.from([Buffer.from('{"Resources":'), Buffer.from('{}}')]));
    assert.equal(streamed.size, 16);
    const textStream = Readable.from([Buffer.from('ünï')]).setEncoding('utf8');
    assert.equal((await store.putObject(ALICE, 'sms-artifacts', 'text.txt', textStream)).size, 5, 'a stream of strings is stored as its UTF-8 bytes');
    const got = await store.getObject(ALICE, 'sms-artifacts', 'userdata/web01.sh');
    assert.equal(got?.body.toString(), '#!/bin/sh\necho hi\n');
    assert.deepEqual(got?.object, put);
    assert.deepEqual(await store.headObject(ALICE, 'sms-artifacts', 'userdata/web01.sh'), put);
    const listed = await store.listObjects(ALICE, 'sms-artifacts', {});
    assert.deepEqual(listed.objects.map((o) => o.key), ['templates/app.json', 'text.txt', 'userdata/web01.sh']);
    assert.equal(listed.truncated, false);
    assert.deepEqual((await store.listObjects(ALICE, 'sms-artifacts', { prefix: 'user' })).objects.map((o) => o.key), ['userdata/web01.sh']);
    assert.deepEqual((await store.listObjects(ALICE, 'sms-artifacts', { startAfter: 'text.txt', maxKeys: 1 })).objects.map((o) => o.key), ['userdata/web01.sh']);
    const firstOnly = await store.listObjects(ALICE, 'sms-artifacts', { maxKeys: 1 });
    assert.deepEqual([firstOnly.objects.length, firstOnly.truncated], [1, true]);
    await store.deleteObject(ALICE, 'sms-artifacts', 'userdata/web01.sh');
    await store.deleteObject(ALICE, 'sms-artifacts', 'userdata/web01.sh');
    assert.equal(await store.getObject(ALICE, 'sms-artifacts', 'userdata/web01.sh'), undefined);
    assert.equal(await store.headObject(ALICE, 'sms-artifacts', 'userdata/web01.sh'), undefined);
    assert.equal(await store.getObject(ALICE, 'no-such-bucket', 'x'), undefined);
  });

  withStore('accounts never see or reach each other’s buckets and objects', async (store) => {
    await store.ensureBucket(ALICE, 'alice-private', 'us-east-1');
    await store.putObject(ALICE, 'alice-private', 'secret.txt', Buffer.from('alice only'));
    await assert.rejects(store.ensureBucket(BOB, 'alice-private', 'us-east-1'), code('BucketAlreadyExists'));
    await assert.rejects(store.createBucket(BOB, 'alice-private', 'eu-west-1'), code('BucketAlreadyExists'));
    await assert.rejects(store.createBucket(ALICE, 'alice-private', 'us-east-1'), code('BucketAlreadyOwnedByYou'));
    assert.equal(await store.getObject(BOB, 'alice-private', 'secret.txt'), undefined);
    assert.equal(await store.headObject(BOB, 'alice-private', 'secret.txt'), undefined);
    await assert.rejects(store.putObject(BOB, 'alice-private', 'planted.txt', Buffer.from('x')), code('AccessDenied'));
    await assert.rejects(store.deleteObject(BOB, 'alice-private', 'secret.txt'), code('AccessDenied'));
    await assert.rejects(store.listObjects(BOB, 'alice-private', {}), code('AccessDenied'));
    await assert.rejects(store.openObject(BOB, 'alice-private', 'secret.txt'), code('AccessDenied'));
    await assert.rejects(store.getBucket(BOB, 'alice-private'), code('AccessDenied'));
    await assert.rejects(store.deleteBucket(BOB, 'alice-private'), code('AccessDenied'));
    await assert.rejects(store.createMultipartUpload(BOB, 'alice-private', 'k', {}), code('AccessDenied'));
    const upload = await store.createMultipartUpload(ALICE, 'alice-private', 'big', {});
    await assert.rejects(store.uploadPart(BOB, 'alice-private', 'big', upload.uploadId, 1, chunks('x'), {}), code('AccessDenied'));
    await store.ensureBucket(BOB, 'bob-bucket', 'us-east-1');
    await assert.rejects(store.uploadPart(BOB, 'bob-bucket', 'big', upload.uploadId, 1, chunks('x'), {}), code('NoSuchUpload'));
    assert.deepEqual((await store.listBuckets(BOB)).map((b) => b.name), ['bob-bucket']);
    assert.deepEqual((await store.listBuckets(ALICE)).map((b) => b.name), ['alice-private']);
    assert.equal((await store.getObject(ALICE, 'alice-private', 'secret.txt'))?.body.toString(), 'alice only');
  });

  withStore('bucket names are checked by every call that creates one', async (store) => {
    await assert.rejects(store.createBucket(ALICE, 'Bad_Name', 'us-east-1'), code('InvalidBucketName'));
    await assert.rejects(store.ensureBucket(ALICE, 'ab', 'us-east-1'), code('InvalidBucketName'));
    assert.deepEqual(await store.listBuckets(ALICE), []);
  });

  withStore('bucket lifecycle', async (store) => {
    const created = await store.createBucket(ALICE, 'bucket-one', 'eu-west-1');
    assert.equal(created.region, 'eu-west-1');
    assert.deepEqual(await store.getBucket(ALICE, 'bucket-one'), created);
    await store.putObject(ALICE, 'bucket-one', 'k', Buffer.from('v'));
    await store.createMultipartUpload(ALICE, 'bucket-one', 'open-upload', {});
    await assert.rejects(store.deleteBucket(ALICE, 'bucket-one'), code('BucketNotEmpty'));
    await store.deleteObject(ALICE, 'bucket-one', 'k');
    await store.deleteBucket(ALICE, 'bucket-one');
    await assert.rejects(store.getBucket(ALICE, 'bucket-one'), code('NoSuchBucket'));
    await assert.rejects(store.deleteBucket(ALICE, 'bucket-one'), code('NoSuchBucket'));
    await store.createBucket(BOB, 'bucket-one', 'us-east-1');
    assert.equal(await store.getObject(BOB, 'bucket-one', 'k'), undefined);
    for (let i = 0; i < 5; i++) await store.createBucket(ALICE, `quota-${i}`, 'us-east-1');
    await assert.rejects(store.createBucket(ALICE, 'quota-5', 'us-east-1'), code('TooManyBuckets'));
  });

  withStore('keys are arbitrary UTF-8: ../, //, a leading /, unicode, 1,024 bytes', async (store) => {
    await store.ensureBucket(ALICE, 'keys', 'us-east-1');
    const keys = ['../../etc/passwd', '..', '.', 'a//b', '/leading', '//', 'ключ/😀', `${'k'.repeat(1023)}é`.slice(0, 1023), 'sp ace%2F+'];
    for (const key of keys) await store.putObject(ALICE, 'keys', key, Buffer.from(`value of ${key}`));
    for (const key of keys) assert.equal((await store.getObject(ALICE, 'keys', key))?.body.toString(), `value of ${key}`, key);
    assert.equal((await store.listObjects(ALICE, 'keys', {})).objects.length, keys.length);
    await assert.rejects(store.putObject(ALICE, 'keys', 'k'.repeat(1025), Buffer.from('x')), code('KeyTooLongError'));
    await assert.rejects(store.putObject(ALICE, 'keys', '', Buffer.from('x')), code('InvalidArgument'));
  });

  withStore('removeObjects deletes many keys at once and reports the keys that cannot exist', async (store) => {
    await store.ensureBucket(ALICE, 'many', 'us-east-1');
    for (const key of ['a', 'b', 'c']) await store.putObject(ALICE, 'many', key, Buffer.from(key));
    const results = await store.removeObjects(ALICE, 'many', ['a', 'never-there', 'k'.repeat(1025), 'c']);
    assert.deepEqual(results.map((r) => [r.key.slice(0, 5), r.error?.code]), [['a', undefined], ['never', undefined], ['kkkkk', 'KeyTooLongError'], ['c', undefined]]);
    assert.deepEqual((await store.listObjects(ALICE, 'many', {})).objects.map((o) => o.key), ['b']);
    await assert.rejects(store.removeObjects(BOB, 'many', ['b']), code('AccessDenied'));
    assert.equal((await store.listObjects(ALICE, 'many', {})).objects.length, 1);
  });

  withStore('writes are checked against what was declared, and a refused write leaves nothing visible', async (store) => {
    await store.ensureBucket(ALICE, 'checks', 'us-east-1');
    const body = 'the body';
    const ok = await store.writeObject(ALICE, 'checks', 'k', chunks('the ', 'body'), { size: 8, sha256: sha256(body), md5: md5(body), metadata: { owner: 'ops' } });
    assert.deepEqual(ok.metadata, { owner: 'ops' });
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks('tampered'), { size: 8, sha256: sha256(body) }), code('XAmzContentSHA256Mismatch'));
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks('tampered'), { size: 8, md5: md5(body) }), code('BadDigest'));
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks('short'), { size: 8 }), code('IncompleteBody'));
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks('x'), { size: 5 * 1024 * 1024 }), code('EntityTooLarge'));
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks(randomBytes(3 * 1024 * 1024), randomBytes(2 * 1024 * 1024)), {}), code('EntityTooLarge'));
    await assert.rejects(store.writeObject(ALICE, 'checks', 'k', chunks('x'), { ifNoneMatch: true }), code('PreconditionFailed'));
    await assert.rejects(store.writeObject(ALICE, 'nowhere', 'k', chunks('x'), {}), code('NoSuchBucket'));
    assert.equal((await store.getObject(ALICE, 'checks', 'k'))?.body.toString(), body, 'the first version is still the one');
    await assert.rejects(store.getObject(ALICE, 'checks', 'k', { maxBytes: 4 }), code('EntityTooLarge'));
  });

  withStore('ranges, and a reader keeps its version while the key is overwritten and deleted', async (store) => {
    await store.ensureBucket(ALICE, 'ranges', 'us-east-1');
    await store.putObject(ALICE, 'ranges', 'k', Buffer.from('0123456789'));
    const part = await store.openObject(ALICE, 'ranges', 'k', { range: { start: 2, end: 4 } });
    assert.deepEqual(part.range, { start: 2, end: 4 });
    assert.equal(await text(part.body), '234');
    assert.equal(await text((await store.openObject(ALICE, 'ranges', 'k', { range: { suffix: 3 } })).body), '789');
    await assert.rejects(store.openObject(ALICE, 'ranges', 'k', { range: { start: 10 } }), code('InvalidRange'));
    await assert.rejects(
      store.openObject(ALICE, 'ranges', 'k', {
        precondition: () => {
          throw Object.assign(new Error('refused'), { code: 'PreconditionFailed' });
        },
      }),
      code('PreconditionFailed'),
    );
    const reader = await store.openObject(ALICE, 'ranges', 'k');
    await store.putObject(ALICE, 'ranges', 'k', Buffer.from('replaced'));
    await store.deleteObject(ALICE, 'ranges', 'k');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await text(reader.body), '0123456789');
    await assert.rejects(store.openObject(ALICE, 'ranges', 'k'), code('NoSuchKey'));
  });

  withStore('listing: prefixes, delimiters, markers and pages walk every key once, in byte order', async (store) => {
    await store.ensureBucket(ALICE, 'listing', 'us-east-1');
    const keys = ['a', 'a/1', 'a/2', 'a/b/1', 'a//x', 'b', 'b/1', 'c/d/e', 'é', '\uffff', '\u{10000}', 'z/'];
    for (const key of keys) await store.putObject(ALICE, 'listing', key, Buffer.from(key));
    const all = await store.listPage(ALICE, 'listing', {});
    assert.deepEqual(all.objects.map((o) => o.key), ['a', 'a//x', 'a/1', 'a/2', 'a/b/1', 'b', 'b/1', 'c/d/e', 'z/', 'é', '\uffff', '\u{10000}']);
    const top = await store.listPage(ALICE, 'listing', { delimiter: '/' });
    assert.deepEqual(top.objects.map((o) => o.key), ['a', 'b', 'é', '\uffff', '\u{10000}']);
    assert.deepEqual(top.commonPrefixes, ['a/', 'b/', 'c/', 'z/']);
    const under = await store.listPage(ALICE, 'listing', { prefix: 'a/', delimiter: '/' });
    assert.deepEqual([under.objects.map((o) => o.key), under.commonPrefixes], [['a/1', 'a/2'], ['a//', 'a/b/']]);
    // Page through with every page size: each key or common prefix exactly once, in order.
    for (const maxKeys of [1, 2, 3, 5]) {
      for (const delimiter of [undefined, '/']) {
        const seen: string[] = [];
        let marker: string | undefined;
        for (let pages = 0; pages < 50; pages++) {
          const page = await store.listPage(ALICE, 'listing', { maxKeys, ...(delimiter ? { delimiter } : {}), ...(marker ? { marker } : {}) });
          assert.ok(page.objects.length + page.commonPrefixes.length <= maxKeys);
          seen.push(...page.objects.map((o) => o.key), ...page.commonPrefixes);
          if (!page.truncated) break;
          marker = page.nextMarker;
          assert.ok(marker, 'a truncated page says where to go on');
        }
        const expected = delimiter ? [...top.objects.map((o) => o.key), ...top.commonPrefixes] : all.objects.map((o) => o.key);
        assert.deepEqual([...seen].sort(), [...expected].sort(), `maxKeys ${maxKeys} delimiter ${delimiter}`);
        assert.equal(new Set(seen).size, seen.length, 'nothing twice');
      }
    }
    // ListObjects v1: a marker that is a common prefix resumes after everything it rolled up.
    const afterA = await store.listPage(ALICE, 'listing', { delimiter: '/', startAfter: 'a/' });
    assert.deepEqual(afterA.commonPrefixes[0], 'b/');
    assert.deepEqual((await store.listPage(ALICE, 'listing', { maxKeys: 0 })).objects, []);
    await assert.rejects(store.listPage(ALICE, 'listing', { marker: 'xbogus' }), code('InvalidArgument'));
  });

  withStore('multipart uploads: parts in any order, re-uploaded parts, S3 ETag; the rules of CompleteMultipartUpload', async (store) => {
    await store.ensureBucket(ALICE, 'multipart', 'us-east-1');
    const part1 = randomBytes(64 * 1024);
    const part2 = randomBytes(64 * 1024);
    const part3 = Buffer.from('tail');
    const upload = await store.createMultipartUpload(ALICE, 'multipart', 'big.bin', { contentType: 'application/x-disk', metadata: { job: '7' } });
    const p3 = await store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 3, chunks(part3), { size: 4, sha256: sha256(part3) });
    await store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 1, chunks(randomBytes(64 * 1024)), {});
    const p1 = await store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 1, chunks(part1), { md5: md5(part1) });
    const p2 = await store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 2, chunks(part2), {});
    assert.deepEqual((await store.listParts(ALICE, 'multipart', 'big.bin', upload.uploadId)).map((p) => [p.partNumber, p.etag, p.size]), [
      [1, p1.etag, part1.length],
      [2, p2.etag, part2.length],
      [3, p3.etag, 4],
    ]);
    await assert.rejects(store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 0, chunks('x'), {}), code('InvalidArgument'));
    await assert.rejects(store.uploadPart(ALICE, 'multipart', 'big.bin', upload.uploadId, 51, chunks('x'), {}), code('InvalidArgument'));
    await assert.rejects(store.uploadPart(ALICE, 'multipart', 'other-key', upload.uploadId, 1, chunks('x'), {}), code('NoSuchUpload'));
    const complete = (parts: { partNumber: number; etag: string }[]) => store.completeMultipartUpload(ALICE, 'multipart', 'big.bin', upload.uploadId, parts);
    await assert.rejects(complete([]), code('InvalidArgument'));
    await assert.rejects(complete([{ partNumber: 2, etag: p2.etag }, { partNumber: 1, etag: p1.etag }]), code('InvalidPartOrder'));
    await assert.rejects(complete([{ partNumber: 1, etag: p2.etag }]), code('InvalidPart'));
    await assert.rejects(complete([{ partNumber: 4, etag: p1.etag }]), code('InvalidPart'));
    await assert.rejects(complete([{ partNumber: 1, etag: p1.etag }, { partNumber: 1, etag: p1.etag }]), code('InvalidPartOrder'));
    await assert.rejects(complete([{ partNumber: 3, etag: p3.etag }, { partNumber: 4, etag: p1.etag }]), code('EntityTooSmall'));
    const tooSmall = await store.createMultipartUpload(ALICE, 'multipart', 'small', {});
    const s1 = await store.uploadPart(ALICE, 'multipart', 'small', tooSmall.uploadId, 1, chunks('tiny'), {});
    const s2 = await store.uploadPart(ALICE, 'multipart', 'small', tooSmall.uploadId, 2, chunks('tiny'), {});
    await assert.rejects(store.completeMultipartUpload(ALICE, 'multipart', 'small', tooSmall.uploadId, [{ partNumber: 1, etag: s1.etag }, { partNumber: 2, etag: s2.etag }]), code('EntityTooSmall'));
    await store.abortMultipartUpload(ALICE, 'multipart', 'small', tooSmall.uploadId);
    await assert.rejects(store.abortMultipartUpload(ALICE, 'multipart', 'small', tooSmall.uploadId), code('NoSuchUpload'));

    const stored = await complete([{ partNumber: 1, etag: p1.etag }, { partNumber: 2, etag: p2.etag.replace(/"/g, '') }, { partNumber: 3, etag: p3.etag }]);
    const expectedEtag = createHash('md5').update(Buffer.concat([md5(part1), md5(part2), md5(part3)])).digest('hex');
    assert.equal(stored.etag, `"${expectedEtag}-3"`);
    assert.equal(stored.size, part1.length + part2.length + 4);
    assert.deepEqual([stored.contentType, stored.metadata, stored.partCount], ['application/x-disk', { job: '7' }, 3]);
    const whole = Buffer.concat([part1, part2, part3]);
    const read = await store.openObject(ALICE, 'multipart', 'big.bin');
    const bytes: Buffer[] = [];
    for await (const chunk of read.body) bytes.push(chunk as Buffer);
    assert.ok(Buffer.concat(bytes).equals(whole));
    const across = await store.openObject(ALICE, 'multipart', 'big.bin', { range: { start: part1.length - 2, end: part1.length + part2.length + 1 } });
    const acrossBytes: Buffer[] = [];
    for await (const chunk of across.body) acrossBytes.push(chunk as Buffer);
    assert.ok(Buffer.concat(acrossBytes).equals(whole.subarray(part1.length - 2, part1.length + part2.length + 2)), 'a range across three parts');
    await assert.rejects(complete([{ partNumber: 1, etag: p1.etag }]), code('NoSuchUpload'));
  });

  withStore('open multipart uploads per account are bounded', async (store) => {
    await store.ensureBucket(ALICE, 'uploads', 'us-east-1');
    for (let i = 0; i < 3; i++) await store.createMultipartUpload(ALICE, 'uploads', `k${i}`, {});
    await assert.rejects(store.createMultipartUpload(ALICE, 'uploads', 'k3', {}), code('TooManyUploads'));
    await store.ensureBucket(BOB, 'bob-uploads', 'us-east-1');
    await store.createMultipartUpload(BOB, 'bob-uploads', 'k', {});
  });
}
