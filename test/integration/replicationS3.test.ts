/**
 * A real replication with the image blocks in S3: `ferry serve --blocks s3://bucket/prefix --s3-endpoint URL`
 * (a child process, its embedded connector serving a generated VM) against moto_server. The run completes, its
 * sealed packs and manifest are objects in the bucket, and `ferry images export` (reading through the same
 * FERRY_BLOCKS settings, with the local manifest copies gone) gives back the source disk bit-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMSClient } from '@aws-sdk/client-sms';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ferryCli, spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { disposeTestServer } from '../helpers/ferry.ts';
import { assertSameDisk, createJob, fillRaw, importCatalog, watchRun } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB } from '../helpers/vmFactory.ts';
import { startTestBucket, testBucketClient } from '../helpers/s3.ts';

const ROOT = { accessKeyId: 'AKIAFERRYS3BLOCKTEST', secretAccessKey: 's3/blocks/test/secret/key/0123456789abcdefgh' };
const SIZE = 64 * MiB;

test('ferry serve --blocks s3://…: a replication stores its image in the bucket and exports bit-identical', async () => {
  const bucket = await startTestBucket();
  const ds = await makeTempDatastore('ferry-repl-s3-');
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-s3-data-'));
  const blocksUrl = `s3://${bucket.bucket}/ferry/images`;
  const env = { ...bucket.env, FERRY_ROOT_ACCESS_KEY_ID: ROOT.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: ROOT.secretAccessKey, FERRY_BLOCKS: blocksUrl };
  let service: FerryProcess | undefined;
  const sms = { client: undefined as SMSClient | undefined };
  const s3 = testBucketClient(bucket);
  try {
    const vm = await makeKvmVm(ds.dir, 'bucketed', { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'empty' } }] });
    const disk = vm.disks[0]!;
    await fillRaw(disk.path, 'bucketed', SIZE);
    service = await spawnFerry({ dataDir, datastore: ds.dir, env });
    sms.client = new SMSClient({ region: 'us-east-1', endpoint: service.url, credentials: ROOT, maxAttempts: 1 });
    const servers = await importCatalog(sms.client, ['bucketed']);
    const { jobId, seedRunId } = await createJob(sms.client, servers.get('bucketed')!.serverId!);
    const { run } = await watchRun(sms.client, jobId, seedRunId, { timeoutMs: 180_000 });
    assert.equal(run.state, 'COMPLETED', `the run ended ${run.state}: ${run.statusMessage}`);

    // A graceful stop seals the pack still open and uploads it: then every pack is an object in the bucket.
    service.child.kill('SIGTERM');
    const stopped = await service.exited;
    service = undefined;
    assert.equal(stopped.code, 0, 'ferry serve stops cleanly on SIGTERM');
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket.bucket, Prefix: 'ferry/images/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    assert.ok(keys.some((k) => /^ferry\/images\/manifests\/snap-[0-9a-f]{17}\.manifest$/.test(k)), `the manifest is in the bucket: ${keys.join(', ')}`);
    assert.ok(keys.some((k) => /^ferry\/images\/packs\/0000\/[0-9a-f]{8}\.pack$/.test(k)), `packs are in the bucket: ${keys.join(', ')}`);
    const localPacks = readdirSync(join(dataDir, 'images', 'packs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(localPacks.map((e) => e.name), [], 'no pack is left only in the data dir');

    // The CLI reads the image from the bucket alone (the local manifest copies removed too).
    rmSync(join(dataDir, 'images', 'manifests'), { recursive: true, force: true });
    const out = join(dataDir, 'export.raw');
    await ferryCli(['images', 'export', run.amiId!, '--output', out, '--data-dir', dataDir], env);
    await assertSameDisk(out, 'raw', disk.path, 'raw', 'image kept in S3');
  } finally {
    sms.client?.destroy();
    s3.destroy();
    await service?.kill();
    rmSync(dataDir, { recursive: true, force: true });
    await disposeTestServer(dataDir);
    await ds.cleanup();
    await bucket.stop();
  }
});
