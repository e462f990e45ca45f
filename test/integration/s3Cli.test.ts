/**
 * Artifact buckets driven by the real AWS CLI v2 (/usr/bin/aws s3 … and s3api …) against a real Ferry: buckets,
 * uploads and downloads in both directions (multipart above 8 MB), odd keys, listings, presigned URLs, and errors
 * with S3's codes. The API in detail is driven by boto3 (s3Boto3.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { AWS_CLI, awsCliAvailable, awsEnv, run, type RunResult } from '../helpers/process.ts';
import type { AccountKeys } from '../../src/core/accounts.ts';

const SKIP = awsCliAvailable() ? false : `skipped: ${AWS_CLI} (AWS CLI v2) is not installed; install Debian's awscli package (CI does, see .ci/run)`;

describe('AWS CLI v2 against the S3 endpoint', { skip: SKIP }, () => {
  let t: TestFerry;
  let home: string;
  let bob: AccountKeys;
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  async function aws(keys: { accessKeyId: string; secretAccessKey: string }, args: string[], region = 'us-east-1', input?: string): Promise<RunResult> {
    return run(AWS_CLI, ['--endpoint-url', t.ferry.url, '--region', region, '--output', 'json', ...args], { env: awsEnv(keys, home), ...(input !== undefined ? { input } : {}) });
  }
  const root = (...args: string[]) => aws(t.ferry.root, args);
  async function ok(...args: string[]): Promise<string> {
    const result = await root(...args);
    assert.equal(result.code, 0, `aws ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  }
  /** Asserts the command failed with the S3 error code `code`. */
  function failsWith(result: RunResult, code: string): void {
    assert.notEqual(result.code, 0, `expected ${code}, but it succeeded: ${result.stdout}`);
    assert.match(result.stderr, new RegExp(`\\(${code}\\)`), result.stderr);
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'ferry-s3cli-'));
    t = await startTestFerry();
    bob = await t.createAccount('bob');
  });

  after(async () => {
    await t?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  // Each CLI run costs 1–2 s of interpreter start-up on these machines, so the CLI covers what people type (aws s3
  // …) and a few s3api calls; the API in detail is driven by boto3 in one process (s3Boto3.test.ts).
  test('mb, cp up and down (multipart above 8 MB), odd keys, stdin and stdout, ls, presign, rm, rb', async () => {
    assert.match(await ok('s3', 'mb', 's3://artifacts'), /make_bucket: artifacts/);
    const big = randomBytes(20 * 1024 * 1024);
    const small = Buffer.from('#!/bin/sh\necho validated\n');
    writeFileSync(join(home, 'big.bin'), big);
    writeFileSync(join(home, 'validate.sh'), small);
    const piped = aws(t.ferry.root, ['s3', 'cp', '-', 's3://artifacts/from-stdin.txt'], 'us-east-1', 'streamed in\n');
    await Promise.all([
      ok('s3', 'cp', join(home, 'big.bin'), 's3://artifacts/disks/big.bin'),
      ok('s3', 'cp', join(home, 'validate.sh'), 's3://artifacts//scripts/../validate.sh'),
      piped.then((r) => assert.equal(r.code, 0, r.stderr)),
    ]);
    const head = await t.ferry.artifacts.describeObject(t.ferry.root.accountId, 'artifacts', 'disks/big.bin');
    assert.equal(head.size, big.length);
    assert.equal(head.partCount, 3, 'uploaded as 20 MiB in 8 MiB parts');
    assert.match(head.etag, /^"[0-9a-f]{32}-3"$/);

    const [, dotted, listing, presigned] = await Promise.all([
      ok('s3', 'cp', 's3://artifacts/disks/big.bin', join(home, 'big.out')),
      ok('s3', 'cp', 's3://artifacts//scripts/../validate.sh', '-'),
      ok('s3', 'ls', 's3://artifacts/', '--recursive'),
      ok('s3', 'presign', 's3://artifacts/from-stdin.txt', '--expires-in', '60'),
    ]);
    assert.equal(sha(readFileSync(join(home, 'big.out'))), sha(big), 'downloaded (in ranged parts) byte for byte');
    assert.equal(dotted, small.toString());
    for (const key of ['disks/big.bin', '/scripts/../validate.sh', 'from-stdin.txt']) assert.ok(listing.includes(key), `${key} in\n${listing}`);
    const download = await fetch(presigned.trim());
    assert.equal(download.status, 200);
    assert.equal(await download.text(), 'streamed in\n');
    const tampered = await fetch(presigned.trim().replace('from-stdin', 'from-stdout'));
    assert.equal(tampered.status, 403);

    failsWith(await root('s3', 'rb', 's3://artifacts'), 'BucketNotEmpty');
    await ok('s3', 'rb', 's3://artifacts', '--force');
    assert.deepEqual(await t.ferry.artifacts.listBuckets(t.ferry.root.accountId), []);
  });

  test('s3api errors reach the CLI with S3 codes; another account cannot take or read a bucket', async () => {
    await t.ferry.artifacts.ensureBucket(t.ferry.root.accountId, 'root-only', 'us-east-1');
    await t.ferry.artifacts.putObject(t.ferry.root.accountId, 'root-only', 'secret.txt', Buffer.from('secret'));
    const [taken, denied, missing, range] = await Promise.all([
      aws(bob, ['s3', 'mb', 's3://root-only']),
      aws(bob, ['s3', 'cp', 's3://root-only/secret.txt', '-']),
      root('s3api', 'get-object', '--bucket', 'root-only', '--key', 'missing', join(home, 'x1')),
      root('s3api', 'get-object', '--bucket', 'root-only', '--key', 'secret.txt', '--range', 'bytes=6-', join(home, 'x2')),
    ]);
    failsWith(taken, 'BucketAlreadyExists');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /403|Forbidden|AccessDenied/);
    failsWith(missing, 'NoSuchKey');
    failsWith(range, 'InvalidRange');
  });

  test('both directions: what the App layer stores, aws s3 cp downloads; what aws s3 cp uploads, the App layer reads', async () => {
    const store = t.ferry.artifacts;
    await store.ensureBucket(t.ferry.root.accountId, 'sms-templates', 'us-east-1');
    await store.putObject(t.ferry.root.accountId, 'sms-templates', 'app-1/template.json', Buffer.from('{"Resources":{}}'), { contentType: 'application/json' });
    writeFileSync(join(home, 'user-data.sh'), '#cloud-config\n');
    const [downloaded] = await Promise.all([
      ok('s3', 'cp', 's3://sms-templates/app-1/template.json', '-'),
      ok('s3', 'cp', join(home, 'user-data.sh'), 's3://sms-templates/user-data.sh'),
    ]);
    assert.equal(downloaded, '{"Resources":{}}');
    const read = await store.getObject(t.ferry.root.accountId, 'sms-templates', 'user-data.sh', { maxBytes: 16 * 1024 });
    assert.equal(read?.body.toString(), '#cloud-config\n');
    assert.equal(await store.getObject(bob.accountId, 'sms-templates', 'user-data.sh'), undefined);
  });
});
