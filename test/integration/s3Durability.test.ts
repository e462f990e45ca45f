/**
 * Artifact buckets in the real service process: a SIGKILL in the middle of an upload leaves no visible object and
 * no stray file once the service is back; a multipart upload interrupted by a SIGKILL carries on after the restart
 * from the parts that were acknowledged; and a large body streams to disk without being held in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCode, s3Fetch, signS3, type S3Keys } from '../helpers/s3Signer.ts';
import { filesUnder, peakRss, putRepeated, startSlowPut } from '../helpers/s3Bodies.ts';
import { spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { disposeTestServer } from '../helpers/ferry.ts';

const KEYS: S3Keys = { accessKeyId: 'AKIAFERRYS3CRASHTEST', secretAccessKey: 's3/crash/test/secret/0123456789abcdefghij' };
// Local blocks whatever FERRY_TEST_BLOCKS says: these tests look at the blob files in the data dir, where artifacts
// live only then (with blocks in a bucket, so do artifacts: artifactStoreBucket*.test.ts).
const ENV = { FERRY_ROOT_ACCESS_KEY_ID: KEYS.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: KEYS.secretAccessKey, FERRY_BLOCKS: '' };

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a SIGKILL mid-upload leaves nothing visible and no stray file; a multipart upload resumes after the restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-s3crash-'));
  const incoming = join(dataDir, 'artifacts', 'incoming');
  const blobs = join(dataDir, 'artifacts', 'blobs');
  let ferry: FerryProcess | undefined;
  try {
    ferry = await spawnFerry({ dataDir, env: ENV });
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable' })).status, 200);
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/kept', body: Buffer.from('acknowledged before the kill') })).status, 200);
    const part1 = randomBytes(5 * 1024 * 1024);
    const upload = await s3Fetch(ferry.url, KEYS, { method: 'POST', path: '/durable/resumed', query: { uploads: '' } });
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(upload.text)![1]!;
    const firstPart = await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/resumed', query: { partNumber: '1', uploadId }, body: part1 });
    assert.equal(firstPart.status, 200);

    // Two bodies half sent when the process dies: a plain PUT and the second part.
    await startSlowPut(ferry.url, KEYS, '/durable/half', 4 * 1024 * 1024, randomBytes(1024 * 1024));
    await startSlowPut(ferry.url, KEYS, '/durable/resumed', 4 * 1024 * 1024, randomBytes(1024 * 1024), { partNumber: '2', uploadId });
    await waitFor('both bodies to be on their way to disk', () => filesUnder(incoming).length === 2);
    await ferry.kill();

    ferry = await spawnFerry({ dataDir, env: ENV });
    assert.deepEqual(filesUnder(incoming), [], 'the half-received bodies are gone');
    const half = await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/half' });
    assert.deepEqual([half.status, errorCode(half.text)], [404, 'NoSuchKey']);
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/kept' })).text, 'acknowledged before the kill');
    const parts = await s3Fetch(ferry.url, KEYS, { method: 'GET', path: '/durable/resumed', query: { uploadId } });
    assert.deepEqual([...parts.text.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1]), ['1'], 'the acknowledged part survived, the half one did not');
    assert.equal(filesUnder(blobs).length, 2, 'one blob for "kept", one for part 1: nothing unreferenced');

    const part2 = Buffer.from('the last part, sent again');
    const second = await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/durable/resumed', query: { partNumber: '2', uploadId }, body: part2 });
    const complete = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${firstPart.headers.get('etag')}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>${second.headers.get('etag')}</ETag></Part></CompleteMultipartUpload>`;
    assert.equal((await s3Fetch(ferry.url, KEYS, { method: 'POST', path: '/durable/resumed', query: { uploadId }, body: Buffer.from(complete) })).status, 200);
    const whole = await fetch((await signS3(ferry.url, KEYS, { method: 'GET', path: '/durable/resumed' })).url, (await signS3(ferry.url, KEYS, { method: 'GET', path: '/durable/resumed' })).init);
    const bytes = Buffer.from(await whole.arrayBuffer());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(Buffer.concat([part1, part2])).digest('hex'));
  } finally {
    await ferry?.kill();
    rmSync(dataDir, { recursive: true, force: true });
    await disposeTestServer(dataDir);
  }
});

test('a 256 MiB PUT streams to disk: the service’s peak memory grows by far less than the body', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-s3stream-'));
  let ferry: FerryProcess | undefined;
  try {
    ferry = await spawnFerry({ dataDir, env: ENV });
    await s3Fetch(ferry.url, KEYS, { method: 'PUT', path: '/streamed' });
    const size = 256 * 1024 * 1024;
    const chunk = randomBytes(1024 * 1024);
    const before = peakRss(ferry.child.pid!);
    const status = await putRepeated(ferry.url, KEYS, '/streamed/big.bin', chunk, 256);
    assert.equal(status, 200);
    const growth = peakRss(ferry.child.pid!) - before;
    assert.ok(growth < 96 * 1024 * 1024, `peak RSS grew by ${Math.round(growth / 1024 / 1024)} MiB for a 256 MiB body`);
    const head = await s3Fetch(ferry.url, KEYS, { method: 'HEAD', path: '/streamed/big.bin' });
    assert.equal(head.headers.get('content-length'), String(size));
  } finally {
    await ferry?.kill();
    rmSync(dataDir, { recursive: true, force: true });
    await disposeTestServer(dataDir);
  }
});
