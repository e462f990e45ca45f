/**
 * An S3-compatible store for tests: moto_server (preinstalled in the machine's Python, see test/helpers/moto.ts;
 * PyPI is not reachable here, so nothing installs it) on a free port, with one fresh bucket. Suites that use it
 * fail, never skip, when moto_server is missing: an S3 implementation nobody tested is not done.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { MOTO_SERVER, motoAvailable, startMoto, type Moto } from './moto.ts';

export const S3_TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface TestBucket {
  endpoint: string;
  bucket: string;
  credentials: typeof S3_TEST_CREDENTIALS;
  /** Environment for a child `ferry serve` that should reach this bucket. */
  env: Record<string, string>;
  moto: Moto;
  stop(): Promise<void>;
}

export async function startTestBucket(): Promise<TestBucket> {
  assert.ok(motoAvailable(), `moto_server (${MOTO_SERVER}) and the AWS CLI are required for the S3 tests`);
  const moto = await startMoto();
  const bucket = `ferry-blocks-${randomBytes(4).toString('hex')}`;
  const client = testBucketClient({ endpoint: moto.url, credentials: S3_TEST_CREDENTIALS });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return {
    endpoint: moto.url,
    bucket,
    credentials: S3_TEST_CREDENTIALS,
    env: {
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      FERRY_S3_ENDPOINT: moto.url,
      FERRY_S3_PATH_STYLE: 'true',
    },
    moto,
    stop: () => moto.stop(),
  };
}

/** A client of the test store, for a test to look into the bucket behind the code it checks (destroy it after). */
export function testBucketClient(bucket: Pick<TestBucket, 'endpoint' | 'credentials'>): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: bucket.endpoint, forcePathStyle: true, credentials: bucket.credentials });
}

/** Called in a describe(): a fresh bucket and a client of it for the suite's tests, stopped after them. */
export function suiteBucket(): { readonly bucket: TestBucket; readonly client: S3Client } {
  const suite = {} as { bucket: TestBucket; client: S3Client };
  before(async () => {
    suite.bucket = await startTestBucket();
    suite.client = testBucketClient(suite.bucket);
  });
  after(async () => {
    suite.client?.destroy();
    await suite.bucket?.stop();
  });
  return suite;
}
