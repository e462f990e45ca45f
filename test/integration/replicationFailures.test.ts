/**
 * Bad input never crashes the service nor corrupts the image store: a disk file gone missing, a truncated disk,
 * a garbage disk, a disk resized after the catalog import and a disk deleted while a run reads it each fail the
 * run with a statusMessage naming the problem; three failed runs pause the job (PAUSED_ON_FAILURE); GET /health
 * keeps answering; and once the disk is put back, an on-demand run completes and every image still exports
 * whole. A VM whose .vmx does not parse is listed but refused by CreateReplicationJob with the reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import {
  CreateReplicationJobCommand,
  GetConnectorsCommand,
  GetReplicationRunsCommand,
  StartOnDemandReplicationRunCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { Connector } from '../../src/agent/connector.ts';
import { HttpTransport } from '../../src/agent/httpTransport.ts';
import { issueConnector } from '../../src/core/connectors.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import {
  assertHealthy,
  createJob,
  expectCompleted,
  exportImageDisk,
  getJob,
  importCatalog,
  tempDir,
  waitFor,
  watchRun,
} from '../helpers/replication.ts';
import { makeHypervVm, makeKvmVm, makeTempDatastore, makeVmwareVm, MiB, readDiskAsRaw, type MadeVm } from '../helpers/vmFactory.ts';

/** Waits for the job to pause after 3 failed runs; returns the failed runs' messages (oldest first). */
async function expectPausedAfterFailures(sms: SMSClient, jobId: string, timeoutMs = 30_000): Promise<string[]> {
  const job = await waitFor(`job ${jobId} to pause`, async () => {
    const current = await getJob(sms, jobId);
    assert.ok(['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'].includes(current.state ?? ''), `job ${jobId} is ${current.state}: ${current.statusMessage}`);
    return current.state === 'PAUSED_ON_FAILURE' ? current : undefined;
  }, { timeoutMs });
  const runs = (await sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: 100 }))).replicationRunList ?? [];
  const failed = runs.filter((r) => r.state === 'FAILED').sort((a, b) => (a.completedTime?.getTime() ?? 0) - (b.completedTime?.getTime() ?? 0));
  assert.equal(failed.length, 3, `three failed runs pause the job: ${JSON.stringify(runs.map((r) => [r.state, r.statusMessage]))}`);
  assert.match(job.statusMessage ?? '', /paused after 3 consecutive failed runs/);
  assert.ok(job.statusMessage!.includes(failed[2]!.statusMessage!), 'the job names the last error');
  return failed.map((r) => r.statusMessage ?? '');
}

interface BadCase {
  folder: string;
  make: (ds: string) => Promise<MadeVm>;
  /** Damages the VM's disk after the catalog import. */
  damage: (vm: MadeVm) => Promise<void>;
  /** Every failed run's statusMessage matches. */
  message: RegExp;
}

const SIZE = 4 * MiB;
const pattern = (seed: string) => ({ type: 'pattern' as const, seed });

const BAD: BadCase[] = [
  {
    folder: 'missing-disk',
    make: (ds) => makeVmwareVm(ds, 'missing-disk', { disks: [{ sizeBytes: SIZE }] }),
    damage: (vm) => rename(vm.disks[0]!.path, `${vm.disks[0]!.path}.away`),
    message: /missing-disk\.vmdk.*(not found|no such file)|(not found|no such file).*missing-disk\.vmdk/i,
  },
  {
    folder: 'truncated-disk',
    make: (ds) => makeKvmVm(ds, 'truncated-disk', { disks: [{ format: 'qcow2', sizeBytes: SIZE, content: pattern('truncated') }] }),
    damage: async (vm) => truncate(vm.disks[0]!.path, Math.floor((await readFile(vm.disks[0]!.path)).length / 2)),
    message: /truncated-disk\.qcow2.*truncated/i,
  },
  {
    folder: 'garbage-disk',
    make: (ds) => makeHypervVm(ds, 'garbage-disk', { disks: [{ format: 'vhdx', sizeBytes: SIZE }] }),
    damage: async (vm) => writeFile(vm.disks[0]!.path, randomBytes((await readFile(vm.disks[0]!.path)).length)),
    message: /garbage-disk\.vhdx.*(no VHDX header|not a readable disk image|cannot be opened|corrupt)/i,
  },
  {
    folder: 'resized-disk',
    make: (ds) => makeKvmVm(ds, 'resized-disk', { disks: [{ format: 'raw', sizeBytes: SIZE, content: pattern('resized') }] }),
    damage: (vm) => truncate(vm.disks[0]!.path, SIZE + 2 * MiB),
    message: new RegExp(`resized from ${SIZE} to ${SIZE + 2 * MiB} bytes`),
  },
];

describe('bad disks fail runs without harming the service or the store', { concurrency: false }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  const vms = new Map<string, MadeVm>();
  const backups = new Map<string, string>();
  let goodAmi = '';
  let goodDisk: Buffer;

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-bad-');
    out = await tempDir();
    vms.set('good', await makeKvmVm(ds.dir, 'good', { disks: [{ format: 'raw', sizeBytes: SIZE, content: pattern('good') }] }));
    for (const c of BAD) vms.set(c.folder, await c.make(ds.dir));
    const badVmx = await makeVmwareVm(ds.dir, 'bad-vmx', { disks: [{ sizeBytes: SIZE }] });
    await writeFile(badVmx.definition!, 'config.version = "8"\nthis line is not key = value\n\u0000\u0001garbage\n');
    vms.set('bad-vmx', badVmx);
    t = await startTestFerry({
      datastore: ds.dir,
      compression: 'none',
      connectorPollMs: 100,
      policy: { retryDelayMs: 100, onDemandRunsPerWindow: 10 },
    });
  });
  after(async () => {
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  test('a good VM replicates first', async () => {
    const servers = await importCatalog(t.sms, ['good']);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('good')!.serverId!);
    goodAmi = (await expectCompleted(t.sms, jobId, seedRunId)).amiId;
    goodDisk = await readFile(vms.get('good')!.disks[0]!.path);
  });

  test('a VM whose .vmx does not parse is listed, and CreateReplicationJob says why it cannot be replicated', async () => {
    const servers = await importCatalog(t.sms, ['bad-vmx']);
    const server = servers.get('bad-vmx')!;
    await assert.rejects(
      t.sms.send(new CreateReplicationJobCommand({ serverId: server.serverId!, seedReplicationTime: new Date(), frequency: 12 })),
      (err: Error) => {
        assert.equal(err.name, 'ServerCannotBeReplicatedException');
        assert.match(err.message, /bad-vmx\.vmx does not parse/);
        return true;
      },
    );
  });

  test('missing, truncated, garbage and resized disks: 3 failed runs each pause the job, with the reason', async () => {
    const servers = await importCatalog(t.sms, BAD.map((c) => c.folder));
    for (const c of BAD) {
      const path = vms.get(c.folder)!.disks[0]!.path;
      const backup = join(out.dir, `${c.folder}.backup`);
      await copyFile(path, backup);
      backups.set(c.folder, backup);
      await c.damage(vms.get(c.folder)!);
    }
    const jobs = new Map<string, string>();
    for (const c of BAD) jobs.set(c.folder, (await createJob(t.sms, servers.get(c.folder)!.serverId!)).jobId);
    for (const c of BAD) {
      const messages = await expectPausedAfterFailures(t.sms, jobs.get(c.folder)!);
      for (const message of messages) assert.match(message, c.message, `${c.folder}: ${message}`);
      await assertHealthy(t.ferry.url);
    }
    const { connectorList } = await t.sms.send(new GetConnectorsCommand({}));
    assert.equal(connectorList?.[0]?.status, 'HEALTHY', 'the embedded connector keeps running');

    // Put the disks back: an on-demand run resumes each paused job and completes; every image exports whole.
    for (const c of BAD) {
      const path = vms.get(c.folder)!.disks[0]!.path;
      if (c.folder === 'missing-disk') await rm(`${path}.away`);
      await copyFile(backups.get(c.folder)!, path);
    }
    for (const c of BAD) {
      const jobId = jobs.get(c.folder)!;
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
      const run = await expectCompleted(t.sms, jobId, replicationRunId!);
      assert.equal((await getJob(t.sms, jobId)).state, 'ACTIVE');
      const disk = vms.get(c.folder)!.disks[0]!;
      const exported = await exportImageDisk(t.ferry.plane.images, run.amiId, 0, 'raw', out.dir);
      assert.ok((await readFile(exported)).equals(await readDiskAsRaw(disk.path, disk.format)), `${c.folder}: the image is the restored disk`);
    }
    const good = await exportImageDisk(t.ferry.plane.images, goodAmi, 0, 'raw', out.dir);
    assert.ok((await readFile(good)).equals(goodDisk), 'the image made before the failures is intact');
    await assertHealthy(t.ferry.url);
  });
});

describe('a disk deleted while a run reads it', { concurrency: false }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  let connector: Connector;
  let vm: MadeVm;

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-deleted-');
    out = await tempDir();
    vm = await makeKvmVm(ds.dir, 'vanishing', { disks: [{ format: 'raw', sizeBytes: SIZE, content: pattern('vanishing') }] });
    t = await startTestFerry({ compression: 'none', policy: { retryDelayMs: 100, onDemandRunsPerWindow: 10 } });
    // The connector `ferry connector` runs, in process and over HTTP, slowed to 2 MB/s so the run is caught mid-upload.
    const issued = await issueConnector(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, 'deleted-disk test');
    connector = new Connector({
      transport: new HttpTransport(t.ferry.url, issued.token),
      datastore: ds.dir,
      log: createLogger(process.env.FERRY_TEST_LOG_LEVEL ?? 'silent'),
      version: 'test',
      pollIntervalMs: 100,
      maxBandwidth: 2_000_000,
    });
    await connector.start();
  });
  after(async () => {
    await connector?.stop();
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  test('fails the run naming the deleted disk; the job pauses after 3 failures and resumes once it is back', async () => {
    const path = vm.disks[0]!.path;
    const content = await readFile(path);
    const servers = await importCatalog(t.sms, ['vanishing']);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('vanishing')!.serverId!);
    // Delete the disk once the run is uploading.
    await watchRun(t.sms, jobId, seedRunId, { until: (run) => run.stageDetails?.stage === 'Uploading' || run.state !== 'ACTIVE' && run.state !== 'PENDING' });
    await rm(path);
    const { run } = await watchRun(t.sms, jobId, seedRunId);
    assert.equal(run.state, 'FAILED', `the run ended ${run.state}: ${run.statusMessage}`);
    const file = basename(path).replace(/\./g, '\\.');
    assert.match(run.statusMessage ?? '', new RegExp(`^Uploading: Disk 0 \\(.*${file}\\) was deleted while the run was reading it`));
    const messages = await expectPausedAfterFailures(t.sms, jobId);
    // The retries find it gone at once.
    for (const message of messages.slice(1)) assert.match(message, new RegExp(`^Validating: .*${file}.*(not found|no such file)`, 'i'));
    await assertHealthy(t.ferry.url);

    await writeFile(path, content);
    const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }));
    const done = await expectCompleted(t.sms, jobId, replicationRunId!);
    const exported = await exportImageDisk(t.ferry.plane.images, done.amiId, 0, 'raw', out.dir);
    assert.ok((await readFile(exported)).equals(content));
  });
});
