/**
 * Artifact buckets in a cluster: two `ferry serve` nodes on one PostgreSQL database and one S3 bucket (moto_server),
 * reached with the AWS SDK's S3 client as any S3 client reaches Ferry. What node 1 stores (a plain PUT, a multipart
 * upload) node 2 reads, whole and by range, byte for byte; what node 2 deletes leaves the bucket once the garbage
 * grace period has passed (FERRY_ARTIFACT_GRACE_SECONDS, lowered to 2 s here), not before.
 *
 * Skipped, with this reason, when FERRY_TEST_PG_URL is unset (CI sets it: `.ci/run`, `.ci/postgres`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { CLUSTER_ROOT, startCluster, type Cluster } from '../helpers/clusterHarness.ts';
import { testBucketClient } from '../helpers/s3.ts';
import { postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { waitFor } from '../helpers/replication.ts';

const MiB = 1024 * 1024;

describe('artifact buckets on two nodes sharing one database and one bucket', { skip: postgresSkipReason, concurrency: false, timeout: 3 * 60_000 }, () => {
  let cluster: Cluster;
  const clients: S3Client[] = [];
  const s3 = (port: number) => {
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: CLUSTER_ROOT,
      // Plain SigV4 bodies (Ferry checks x-amz-content-sha256 and Content-MD5, not the SDK's newer CRC trailers).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    clients.push(client);
    return client;
  };

  before(async () => {
    cluster = await startCluster({ nodes: 2, adminUrl: testPostgresUrl!, extraEnv: { FERRY_ARTIFACT_GRACE_SECONDS: '2' } });
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await cluster?.close();
  });

  test('what node 1 stores node 2 reads, whole and by range; what node 2 deletes leaves the bucket after the grace period', async () => {
    const [node1, node2] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]];
    const one = s3(node1.port);
    const two = s3(node2.port);
    const bucket = `artifacts-${randomBytes(3).toString('hex')}`;
    await one.send(new CreateBucketCommand({ Bucket: bucket }));
    const small = randomBytes(300 * 1024);
    await one.send(new PutObjectCommand({ Bucket: bucket, Key: 'userdata/web.sh', Body: small }));
    const parts = [randomBytes(5 * MiB), randomBytes(2 * MiB + 3)];
    const created = await one.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'templates/big.bin' }));
    const etags: string[] = [];
    for (const [index, body] of parts.entries()) {
      etags.push((await one.send(new UploadPartCommand({ Bucket: bucket, Key: 'templates/big.bin', UploadId: created.UploadId, PartNumber: index + 1, Body: body }))).ETag!);
    }
    await one.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'templates/big.bin',
        UploadId: created.UploadId,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
    const big = Buffer.concat(parts);

    const read = async (client: S3Client, key: string, range?: string) => {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    };
    assert.ok((await read(two, 'userdata/web.sh')).equals(small));
    assert.ok((await read(two, 'templates/big.bin')).equals(big));
    const from = 5 * MiB - 10;
    assert.ok((await read(two, 'templates/big.bin', `bytes=${from}-${from + 99}`)).equals(big.subarray(from, from + 100)), 'a range across the parts');
    assert.ok((await read(two, 'userdata/web.sh', 'bytes=-7')).equals(small.subarray(-7)));

    // The bytes are in the shared bucket, beside the image store's packs: three blobs (the object, two parts).
    const store = testBucketClient(cluster.bucket);
    try {
      const blobs = async () =>
        ((await store.send(new ListObjectsV2Command({ Bucket: cluster.bucket.bucket, Prefix: 'cluster/artifacts/blobs/' }))).Contents ?? []).map((o) => o.Key!);
      assert.equal((await blobs()).length, 3);
      await two.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'templates/big.bin' }));
      const deletedAt = Date.now();
      await assert.rejects(read(one, 'templates/big.bin'), (e: Error) => e.name === 'NoSuchKey');
      assert.equal((await blobs()).length, 3, 'a deleted object’s bytes stay for the grace period (a node may still be streaming them)');
      await waitFor('the deleted object’s blobs to leave the bucket', async () => ((await blobs()).length === 1 ? true : undefined), { timeoutMs: 30_000, intervalMs: 250 });
      const waited = Date.now() - deletedAt;
      assert.ok(waited >= 2000, `not before the grace period (${waited} ms)`);
      assert.ok((await read(one, 'userdata/web.sh')).equals(small), 'the other object is untouched');
    } finally {
      store.destroy();
    }
  });
});
