/**
 * Where a test server keeps its image blocks: local pack files in its data dir (the default), or S3 when
 * FERRY_TEST_BLOCKS=s3 (or `blocks: 's3'`) — a bucket of its own on one moto_server shared by the whole test
 * process, started on first use and killed when the process exits. `npm run test:postgres` runs the integration
 * suite this way (PostgreSQL + S3), as a cluster of nodes would run.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMoto, type Moto } from './moto.ts';
import { S3_TEST_CREDENTIALS, testBucketClient } from './s3.ts';

export type TestBlocks = 'local' | 's3';

/** What a server (in process or `ferry serve`) and a CLI run beside it need to reach its blocks. */
export interface TestBlocksPlace {
  blocks: string;
  s3Endpoint: string;
  /**
   * FERRY_BLOCKS, FERRY_S3_ENDPOINT and the shared credentials file with moto's test keys, as a child process or the
   * CLI takes them (a CLI run with a bare environment needs credentials to read the bucket, as a real one would).
   */
  env: Record<string, string>;
}

export function wantedBlocks(choice: TestBlocks | undefined): TestBlocks {
  const wanted = choice ?? process.env.FERRY_TEST_BLOCKS ?? 'local';
  if (wanted !== 'local' && wanted !== 's3') throw new Error(`FERRY_TEST_BLOCKS must be local or s3; got ${JSON.stringify(wanted)}`);
  return wanted;
}

let shared: Promise<Moto> | undefined;

/**
 * moto's test keys as a shared credentials file (a [default] profile), the process's AWS_SHARED_CREDENTIALS_FILE.
 * Not AWS_ACCESS_KEY_ID: the `ferry` CLI signs its API calls with those variables before the data dir's
 * root-credentials.json (src/cli/apiClient.ts), so every CLI child that inherits this environment would call the
 * test server as moto's unknown key. A shared credentials file is what a host keeps its S3 keys in (or a role):
 * the S3 SDK reads it, the CLI does not.
 */
function motoCredentialsFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-test-s3-keys-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'credentials');
  writeFileSync(file, `[default]\naws_access_key_id = ${S3_TEST_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${S3_TEST_CREDENTIALS.secretAccessKey}\n`, { mode: 0o600 });
  return file;
}

let credentialsFile: string | undefined;

/** The process's moto_server; the S3 SDK in this process (the in-process server) signs with moto's test keys. */
function sharedMoto(): Promise<Moto> {
  shared ??= startMoto().then((moto) => {
    moto.unref();
    process.once('exit', () => moto.killNow());
    // The in-process server resolves S3 credentials as a real one does (the SDK's chain); children inherit them.
    credentialsFile = motoCredentialsFile();
    process.env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
    return moto;
  });
  return shared;
}

/** Bucket per data dir, so a server restarted on the same data dir finds its packs again. */
const placesByDataDir = new Map<string, Promise<TestBlocksPlace>>();

/** undefined: local packs. Otherwise a fresh bucket for `dataDir` (the same one again for a restart on it). */
export function blocksFor(choice: TestBlocks | undefined, dataDir: string): Promise<TestBlocksPlace | undefined> {
  if (wantedBlocks(choice) === 'local') return Promise.resolve(undefined);
  let place = placesByDataDir.get(dataDir);
  if (!place) {
    place = createBucket();
    placesByDataDir.set(dataDir, place);
  }
  return place;
}

/** Forgets `dataDir`'s bucket (its server is gone for good; moto drops the objects with the process). */
export function forgetBlocks(dataDir: string): void {
  placesByDataDir.delete(dataDir);
}

async function createBucket(): Promise<TestBlocksPlace> {
  const moto = await sharedMoto();
  const bucket = `ferry-test-${randomBytes(6).toString('hex')}`;
  const client = testBucketClient({ endpoint: moto.url, credentials: S3_TEST_CREDENTIALS });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  const blocks = `s3://${bucket}/blocks`;
  const env = { FERRY_BLOCKS: blocks, FERRY_S3_ENDPOINT: moto.url, AWS_SHARED_CREDENTIALS_FILE: credentialsFile! };
  return { blocks, s3Endpoint: moto.url, env };
}
