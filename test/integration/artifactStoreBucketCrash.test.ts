/**
 * Artifact buckets in the real service process with block storage in a bucket (moto_server), where artifact bytes
 * go too: a SIGKILL while bodies are being received leaves no visible object, no temporary file and nothing in the
 * bucket that no row refers to once the service is back; a multipart upload carries on after the restart from the
 * acknowledged part; and a 256 MiB PUT streams through the data dir to the bucket in bounded memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { errorCode, s3Fetch, signS3, type S3Keys } from '../helpers/s3Signer.ts';
import { filesUnder, peakRss, putRepeated, startSlowPut } from '../helpers/s3Bodies.ts';
import { spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { startTestBucket, testBucketClient } from '../helpers/s3.ts';
import { waitFor } from '../helpers/replication.ts';

const KEYS: S3Keys = { accessKeyId: 'AKIAFERRYBUCKETCRASH', secretAccessKey: 'bucket/crash/test/secret/0123456789abcdef' };
const MiB = 1024 * 1024;

test('blocks in a bucket: a SIGKILL mid-receive leaves nothing behind in the bucket or the data dir; a multipart upload resumes; a large PUT streams', { timeout: 5 * 60_000 }, async (t) => {
  const bucket = await startTestBucket();
  const client = testBucketClient(bucket);
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-artifacts-bucket-crash-'));
  const incoming = join(dataDir, 'artifacts', 'incoming');
  const env = { ...bucket.env, FERRY_BLOCKS: `s3://${bucket.bucket}/crash`, FERRY_ROOT_ACCESS_KEY_ID: KEYS.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: KEYS.secretAccessKey };
  const blobs = async () => ((await client.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: 'crash/artifacts/' }))).Contents ?? []).map((o) => o.Key!);
  const unfinished = async () => (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket, Prefix: 'crash/artifacts/' }))).Uploads ?? [];
  let ferry: FerryProcess | undefined;
  try {
    ferry = await spawnFerry({ dataDir, env });
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable' })).status, 200);
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/kept', body: Buffer.from('acknowledged before the kill') })).status, 200);
    const part1 = randomBytes(5 * MiB);
    const upload = await s3Fetch(ferry.url, KEYS, { method: 'POST', path: '/durable/resumed', query: { uploads: '' } });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(upload.text)![1]!;
    const firstPart = await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/resumed', query: { partNumber: '1', uploadId }, body: part1 });
    assert.equal(firstPart.status, 200);
    assert.equal((await blobs()).length, 2);

    // Two bodies half received when the process dies: a plain PUT and the second part.
    await startSlowPut(ferry.url, KEYS, '/durable/half', 4 * MiB, randomBytes(MiB));
    await startSlowPut(ferry.url, KEYS, '/durable/resumed', 4 * MiB, randomBytes(MiB), { partNumber: '2', uploadId });
    await waitFor('both bodies to be received', () => (filesUnder(incoming).length === 2 ? true : undefined));
    await ferry.kill();

    ferry = await spawnFerry({ dataDir, env });
    assert.deepEqual(filesUnder(incoming), [], 'the temporary files are gone');
    assert.deepEqual(filesUnder(join(dataDir, 'artifacts')), [], 'no artifact bytes in the data dir');
    const half = await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/half' });
    assert.deepEqual([half.status, errorCode(half.text)], [404, 'NoSuchKey']);
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/kept' })).text, 'acknowledged before the kill');
    const parts = await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/resumed', query: { uploadId } });
    assert.deepEqual([...parts.text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1]), ['1'], 'the acknowledged part survived, the half one did not');
    assert.equal((await blobs()).length, 2, 'one blob for "kept", one for part 1: nothing unreferenced');
    assert.deepEqual(await unfinished(), []);

    const part2 = Buffer.from('the last part, sent again');
    const second = await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/resumed', query: { partNumber: '2', uploadId }, body: part2 });
    const complete = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${firstPart.headers.get('etag')}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>${second.headers.get('etag')}</ETag></Part></CompleteMultipartUpload>`;
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'POST', path: '/durable/resumed', query: { uploadId }, body: Buffer.from(complete) })).status, 200);
    const signedGet = await signS3(ferry.url, KEYS, { method: 'GET', path: '/durable/resumed' });
    const whole = Buffer.from(await (await fetch(signedGet.url, signedGet.init)).arrayBuffer());
    assert.equal(createHash('sha256').update(whole).digest('hex'), createHash('sha256').update(Buffer.concat([part1, part2])).digest('hex'));

    // 256 MiB through the data dir to the bucket: memory is the part buffers and the chunks, not the body.
    const size = 256 * MiB;
    const chunk = randomBytes(MiB);
    const before = peakRss(ferry.child.pid!);
    const status = await putRepeated(ferry.url, KEYS, '/durable/big.bin', chunk, 256);
    assert.equal(status, 200);
    const growth = peakRss(ferry.child.pid!) - before;
    t.diagnostic(`peak RSS grew by ${Math.round(growth / MiB)} MiB for a 256 MiB body`);
    assert.ok(growth < 160 * MiB, `peak RSS grew by ${Math.round(growth / MiB)} MiB for a 256 MiB body`);
    const head = await s3Fetch(ferry.url, KEYS, { method: 'HEAD', path: '/durable/big.bin' });
    assert.equal(head.headers.get('content-length'), String(size));
    assert.deepEqual(filesUnder(incoming), []);
  } finally {
    await ferry?.kill();
    client.destroy();
    await bucket.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
