/**
 * Resume after kill -9: `ferry serve --datastore` (a child process with its embedded connector, data dir on disk)
 * is killed with SIGKILL while a run is uploading (≥ 20 % of Uploading, watched through
 * GetReplicationRuns); started again on the same data dir, the same run continues and COMPLETES without re-sending
 * the blocks it had committed (the restarted process's 'replication run completed' log line says so), and the
 * image exports identical to the source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMSClient } from '@aws-sdk/client-sms';
import { ferryCli, spawnFerry, type FerryProcess } from '../helpers/process.ts';
import { disposeTestServer } from '../helpers/ferry.ts';
import { assertSameDisk, BLOCK, createJob, fillRaw, importCatalog, logLines, waitForLogLine, watchRun } from '../helpers/replication.ts';
import { makeKvmVm, makeTempDatastore, MiB } from '../helpers/vmFactory.ts';
import { wantedBlocks } from '../helpers/testBlocks.ts';

const ROOT = { accessKeyId: 'AKIAFERRYRESUMETEST1', secretAccessKey: 'resume/test/secret/key/0123456789abcdefghij' };
/**
 * Uploading must last seconds (progress is reported about once a second) to be caught between 20 % and 100 %: 512 MiB
 * at 150 MB/s into local packs. Into S3 (FERRY_TEST_BLOCKS=s3) 32 MiB at 8 MB/s: exporting the image back from
 * moto_server to compare it costs seconds per 32 MiB (docs/blocks.md, "Limits today"), and 512 MiB ran minutes past
 * any sane timeout.
 */
const ON_S3 = wantedBlocks(undefined) === 's3';
const SIZE = ON_S3 ? 32 * MiB : 512 * MiB;
const BANDWIDTH = ON_S3 ? '8M' : '150M';

test('kill -9 of the service mid-upload: after a restart the same run completes without re-sending committed blocks', async () => {
  const ds = await makeTempDatastore('ferry-repl-resume-');
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-resume-data-'));
  // The blocks go where FERRY_TEST_BLOCKS says (spawnFerry gives the data dir a bucket, kept for the restart).
  const env = { FERRY_ROOT_ACCESS_KEY_ID: ROOT.accessKeyId, FERRY_ROOT_SECRET_ACCESS_KEY: ROOT.secretAccessKey, FERRY_LOG_LEVEL: 'info', FERRY_COMPRESSION: 'none', FERRY_MAX_BANDWIDTH: BANDWIDTH };
  let service: FerryProcess | undefined;
  const clients: SMSClient[] = [];
  const client = (url: string) => {
    const sms = new SMSClient({ region: 'us-east-1', endpoint: url, credentials: ROOT, maxAttempts: 1, requestHandler: { socketAcquisitionWarningTimeout: 100 } });
    clients.push(sms);
    return sms;
  };
  try {
    const vm = await makeKvmVm(ds.dir, 'big', { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'empty' } }] });
    const disk = vm.disks[0]!;
    await fillRaw(disk.path, 'big', SIZE);

    service = await spawnFerry({ dataDir, datastore: ds.dir, env });
    let sms = client(service.url);
    const servers = await importCatalog(sms, ['big']);
    const { jobId, seedRunId } = await createJob(sms, servers.get('big')!.serverId!);
    const caught = await watchRun(sms, jobId, seedRunId, {
      until: (run) => run.state !== 'ACTIVE' && run.state !== 'PENDING' ? true : run.stageDetails?.stage === 'Uploading' && Number.parseInt(run.stageDetails.stageProgress ?? '0', 10) >= 20,
      timeoutMs: 120_000,
    });
    await service.kill();
    assert.equal(caught.run.state, 'ACTIVE', `the run was still going when the service was killed: ${caught.run.state} ${caught.run.statusMessage}`);
    const killedAt = Number.parseInt(caught.run.stageDetails!.stageProgress!, 10);
    assert.ok(killedAt >= 20 && killedAt < 100, `killed at ${killedAt}% of Uploading`);

    // Start it again on the same data dir: the embedded connector picks the run up where it stopped. The restart
    // recovers the killed run's open packs before it listens; over S3 at load 15-20 that took 32 s (once), past
    // spawnFerry's default 30 s.
    service = await spawnFerry({ dataDir, datastore: ds.dir, env, timeoutMs: 120_000 });
    sms = client(service.url);
    const { run, seen } = await watchRun(sms, jobId, seedRunId, { timeoutMs: 120_000 });
    assert.equal(run.state, 'COMPLETED', `the resumed run ended ${run.state}: ${run.statusMessage}`);
    assert.match(run.amiId ?? '', /^ami-/);
    assert.ok(seen.every((s) => s.stage !== 'Validating' && s.stage !== 'Snapshotting'), `the stage shown never went back: ${JSON.stringify(seen)}`);

    const proc = service;
    const totals = (await waitForLogLine(() => proc.stdout(), 'replication run completed')) as Record<string, number> & { runId: string };
    assert.equal(logLines(service.stdout(), 'replication run completed').length, 1, 'the restarted service completed the run once');
    assert.equal(totals.runId, seedRunId, 'the same run, not a new one');
    const blocks = SIZE / BLOCK;
    assert.equal(totals.blocksConsidered, blocks);
    assert.ok(totals.blocksSkippedAsCommitted > 0, `committed blocks are skipped: ${JSON.stringify(totals)}`);
    assert.ok(totals.blocksSkippedAsCommitted >= Math.floor((blocks * killedAt) / 100) - 64, 'at least what the progress showed was kept (less what was in flight)');
    assert.ok(totals.blocksSent <= totals.blocksConsidered - totals.blocksSkippedAsCommitted, `committed blocks are not re-sent: ${JSON.stringify(totals)}`);
    assert.ok(totals.blocksRead <= totals.blocksConsidered - totals.blocksSkippedAsCommitted);

    // The image is the disk (exported by the CLI from the store beside the running service).
    const out = join(dataDir, 'export.raw');
    await ferryCli(['images', 'export', run.amiId!, '--output', out, '--data-dir', dataDir]);
    await assertSameDisk(out, 'raw', disk.path, 'raw', 'resumed image');
    rmSync(out);
  } finally {
    for (const c of clients) c.destroy();
    await service?.kill();
    rmSync(dataDir, { recursive: true, force: true });
    await disposeTestServer(dataDir);
    await ds.cleanup();
  }
});
