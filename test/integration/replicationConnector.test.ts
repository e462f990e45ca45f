/**
 * A standalone connector over HTTP: `ferry connectors register` issues a token, `ferry connector --server … --token …
 * --datastore …` runs as its own process against a Ferry with no embedded connector, and the whole migration works
 * through it (catalog, full and incremental runs, exports identical to the source). `--max-bandwidth` slows
 * uploads to the limit; and a connector killed with SIGKILL mid-upload and started again resumes the same run,
 * skipping the blocks it had committed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { GetConnectorsCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ferryCli } from '../helpers/process.ts';
import {
  assertSameDisk,
  BLOCK,
  createJob,
  expectCompleted,
  exportImageDisk,
  fillRaw,
  importCatalog,
  logLines,
  waitForLogLine,
  spawnConnector,
  tempDir,
  waitFor,
  watchRun,
  type ConnectorProcess,
} from '../helpers/replication.ts';
import { changeDiskBlocks, makeHypervVm, makeKvmVm, makeTempDatastore, makeVmwareVm, MiB, readDiskAsRaw, type MadeVm } from '../helpers/vmFactory.ts';

const SLOW_SIZE = 4 * MiB;
const RESUME_SIZE = 64 * MiB;

describe('a standalone `ferry connector` over HTTP', { concurrency: false }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  let token = '';
  let connectorId = '';
  let connector: ConnectorProcess | undefined;
  const vms = new Map<string, MadeVm>();

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-standalone-');
    out = await tempDir();
    vms.set('flow-vmdk', await makeVmwareVm(ds.dir, 'flow-vmdk', { disks: [{ sizeBytes: 4 * MiB }, { sizeBytes: 2 * MiB, vmdkSubformat: 'streamOptimized' }] }));
    vms.set('flow-qcow2', await makeKvmVm(ds.dir, 'flow-qcow2', { disks: [{ format: 'qcow2', sizeBytes: 8 * MiB, content: { type: 'pattern', seed: 'flow-qcow2' } }] }));
    vms.set('flow-vhdx', await makeHypervVm(ds.dir, 'flow-vhdx', { disks: [{ format: 'vhdx', sizeBytes: 4 * MiB }] }));
    vms.set('slow', await makeKvmVm(ds.dir, 'slow', { disks: [{ format: 'raw', sizeBytes: SLOW_SIZE, content: { type: 'pattern', seed: 'slow' } }] }));
    const resume = await makeKvmVm(ds.dir, 'resume', { disks: [{ format: 'raw', sizeBytes: RESUME_SIZE, content: { type: 'empty' } }] });
    await fillRaw(resume.disks[0]!.path, 'resume', RESUME_SIZE);
    vms.set('resume', resume);
    // No embedded connector: the service is only the control plane and the image store.
    t = await startTestFerry({ compression: 'none' });
    const issued = JSON.parse(await ferryCli(['connectors', 'register', '--label', 'standalone test', '--json', '--data-dir', t.dataDir])) as {
      connectorId: string;
      token: string;
    };
    token = issued.token;
    connectorId = issued.connectorId;
  });
  after(async () => {
    await connector?.kill();
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  const start = (maxBandwidth?: string) => {
    connector = spawnConnector({ server: t.ferry.url, token, datastore: ds.dir, ...(maxBandwidth ? { maxBandwidth } : {}) });
    return connector;
  };

  test('catalog, full and incremental runs, exports identical to the sources', async () => {
    start();
    const connected = await waitFor('the connector to register and be healthy', async () => {
      const list = (await t.sms.send(new GetConnectorsCommand({}))).connectorList ?? [];
      return list.find((c) => c.connectorId === connectorId && c.status === 'HEALTHY');
    });
    assert.equal(connected.vmManagerName, basename(ds.dir), 'it serves the datastore it was given');
    const servers = await importCatalog(t.sms, ['flow-vmdk', 'flow-qcow2', 'flow-vhdx', 'slow', 'resume']);
    for (const folder of ['flow-vmdk', 'flow-qcow2', 'flow-vhdx']) {
      const vm = vms.get(folder)!;
      const { jobId, seedRunId } = await createJob(t.sms, servers.get(folder)!.serverId!);
      const first = await expectCompleted(t.sms, jobId, seedRunId);
      for (const [index, disk] of vm.disks.entries()) {
        const exported = await exportImageDisk(t.ferry.plane.images, first.amiId, index, index === 0 ? 'qcow2' : 'raw', out.dir);
        await assertSameDisk(exported, index === 0 ? 'qcow2' : 'raw', disk.path, disk.format, `${folder} disk ${index}`);
      }
      if (folder === 'flow-vmdk') continue; // (streamOptimized cannot be changed in place)
      const disk = vm.disks[0]!;
      const before = await readDiskAsRaw(disk.path, disk.format);
      await changeDiskBlocks(disk.path, disk.format, { fraction: 0.01, seed: folder });
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
      const second = await expectCompleted(t.sms, jobId, replicationRunId!);
      const fresh = await exportImageDisk(t.ferry.plane.images, second.amiId, 0, 'raw', out.dir);
      assert.ok((await readFile(fresh)).equals(await readDiskAsRaw(disk.path, disk.format)), `${folder}: the new image is the changed disk`);
      const old = await exportImageDisk(t.ferry.plane.images, first.amiId, 0, 'raw', out.dir);
      assert.ok((await readFile(old)).equals(before), `${folder}: the old image is unchanged`);
      const done = await waitForLogLine(connector!.stdout, 'replication run completed', (l) => l.runId === replicationRunId);
      assert.equal(done.blocksSent, 1, `${folder}: one changed block is sent`);
      if (folder === 'flow-qcow2') assert.equal(done.incremental, true, 'qcow2: dirty-bitmap incremental over HTTP too');
      if (folder === 'flow-vhdx') assert.deepEqual([done.hashDiff, Number(done.blocksUnchanged) > 0], [true, true], 'VHDX: compared with the parent over HTTP, the unchanged blocks neither sent nor recorded');
    }
  });

  test('--max-bandwidth 2M holds the upload to about 2 MB/s', async () => {
    await connector!.kill();
    start('2M');
    const limit = 2_000_000;
    const servers = await importCatalog(t.sms, ['slow']);
    const startedAt = Date.now();
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('slow')!.serverId!);
    await expectCompleted(t.sms, jobId, seedRunId);
    const elapsed = (Date.now() - startedAt) / 1000;
    const done = await waitForLogLine(connector!.stdout, 'replication run completed', (l) => l.runId === seedRunId);
    assert.equal(done.blocksSent, SLOW_SIZE / BLOCK, 'every block of the random disk is sent');
    const minimum = (0.8 * SLOW_SIZE) / limit;
    assert.ok(elapsed >= minimum, `${SLOW_SIZE} bytes at ${limit} B/s took ${elapsed.toFixed(2)} s; at least ${minimum.toFixed(2)} s expected`);
  });

  test('kill -9 of the connector mid-upload: restarted, it resumes the same run and skips committed blocks', async () => {
    await connector!.kill();
    // 20 MB/s: the 64 MiB disk takes a few seconds, and its 16 MiB batches commit one by one.
    start('20M');
    const servers = await importCatalog(t.sms, ['resume']);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('resume')!.serverId!);
    const caught = await watchRun(t.sms, jobId, seedRunId, {
      until: (run) =>
        run.state !== 'ACTIVE' && run.state !== 'PENDING' ? true : run.stageDetails?.stage === 'Uploading' && Number.parseInt(run.stageDetails.stageProgress ?? '0', 10) >= 20,
    });
    await connector!.kill();
    assert.equal(caught.run.state, 'ACTIVE', `the run was still going when the connector was killed: ${caught.run.statusMessage}`);
    const killedAt = Number.parseInt(caught.run.stageDetails!.stageProgress!, 10);
    assert.ok(killedAt >= 20 && killedAt < 100, `killed at ${killedAt}%`);

    start();
    const { run, seen } = await watchRun(t.sms, jobId, seedRunId);
    assert.equal(run.state, 'COMPLETED', `the resumed run ended ${run.state}: ${run.statusMessage}`);
    assert.ok(seen.every((s) => s.stage !== 'Validating' && s.stage !== 'Snapshotting'), `progress never went back: ${JSON.stringify(seen)}`);
    const totals = (await waitForLogLine(connector!.stdout, 'replication run completed')) as Record<string, number>;
    assert.equal(logLines(connector!.stdout(), 'replication run completed').length, 1);
    assert.equal(totals.runId as unknown, seedRunId, 'the same run continued');
    assert.equal(totals.blocksConsidered, RESUME_SIZE / BLOCK);
    assert.ok(totals.blocksSkippedAsCommitted! > 0, `committed blocks are skipped: ${JSON.stringify(totals)}`);
    assert.ok(totals.blocksSent! <= totals.blocksConsidered! - totals.blocksSkippedAsCommitted!, `nothing committed is re-sent: ${JSON.stringify(totals)}`);
    const exported = await exportImageDisk(t.ferry.plane.images, run.amiId!, 0, 'raw', out.dir);
    await assertSameDisk(exported, 'raw', vms.get('resume')!.disks[0]!.path, 'raw', 'resumed image');
  });
});
