/**
 * The image data plane attacked from outside, as issue 8 describes: a scripted connector speaking the HTTP connector
 * protocol declares huge or out-of-catalog disks, writes a 64 TiB disk that holds three blocks, probes and records
 * another account's block digests, and completes its run with images that are not its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateReplicationJobCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ConnectorApiError, type TestConnector } from '../helpers/testConnector.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';
import { decodeBlockRangeSet } from '../../src/lib/blockRangeSet.ts';
import { plainSealer } from '../../src/images/blockSealer.ts';

const B = 512 * 1024;
const TIB = 2 ** 40;
const pexec = promisify(execFile);
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Tenant {
  sms: SMSClient;
  ferry: FerryClient;
  connector: TestConnector;
  jobId: string;
}

/** A fresh account with a connector, a catalog of one VM with these disk sizes (null: no disk layout), and a job. */
async function tenant(t: TestFerry, name: string, diskSizes: number[] | null): Promise<Tenant> {
  const keys = await t.createAccount(name);
  const sms = t.client(keys);
  const connector = await t.connector({ accountId: keys.accountId });
  await connector.register({ vmManagerId: `vcenter-${name}` });
  await sms.send(new ImportServerCatalogCommand({}));
  const details = diskSizes === null ? undefined : { kind: 'vmware', disks: diskSizes.map((virtualSize, i) => ({ path: `/ds/${name}/disk${i}.vmdk`, format: 'vmdk', virtualSize })) };
  await connector.call('/inventory', { vms: [{ vmId: `${name}-vm`, vmName: name, vmPath: `/ds/vm/${name}`, details }] });
  const serverId = (await sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
  const { replicationJobId } = await sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), frequency: 12 }));
  return { sms, ferry: new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: keys }), connector, jobId: replicationJobId! };
}

async function rejectsWith(promise: Promise<unknown>, status: number, message: RegExp): Promise<ConnectorApiError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    assert.ok(error instanceof ConnectorApiError, String(error));
    assert.equal(error.status, status, error.message);
    assert.match(error.message, message);
    return true;
  });
  return caught as ConnectorApiError;
}

async function putBlock(connector: TestConnector, runId: string, data: Buffer): Promise<void> {
  const response = await fetch(`${connector.url}/ferry/connector/v1/runs/${runId}/image/blocks/${sha(data)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${connector.token}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(data),
  });
  assert.equal(response.status, 200, await response.text());
}

const begin = (connector: TestConnector, runId: string, sizes: number[]) =>
  connector.call<{ amiId: string; committedRanges: Record<string, string> }>(`/runs/${runId}/image/begin`, {
    disks: sizes.map((sizeBytes, index) => ({ index, sizeBytes, mode: 'full' })),
  });

describe('the image data plane holds against a hostile connector', () => {
  let t: TestFerry;
  before(async () => {
    t = await startTestFerry();
  });
  after(async () => {
    await t?.close();
  });

  test('a huge sizeBytes is refused with a 400 at once, and the service stays responsive', async () => {
    // The catalog saw no disk layout for this VM: only the 64 TiB bound applies.
    const a = await tenant(t, 'huge', null);
    const run = await a.connector.claimWhenDue();
    const rssBefore = process.memoryUsage().rss;
    let healthChecks = 0;
    let probing = true;
    const health = (async () => {
      while (probing) {
        const started = Date.now();
        const response = await fetch(`${t.ferry.url}/health`);
        assert.equal(response.status, 200);
        assert.ok(Date.now() - started < 1000, `/health took ${Date.now() - started} ms`);
        healthChecks++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      for (const sizeBytes of [Number.MAX_SAFE_INTEGER, 64 * TIB + B, 2 ** 50]) {
        const started = Date.now();
        await rejectsWith(begin(a.connector, run.replicationRunId, [sizeBytes]), 400, /at most 70368744177664 bytes \(64 TiB\)/);
        assert.ok(Date.now() - started < 2000, `refusing ${sizeBytes} took ${Date.now() - started} ms`);
      }
    } finally {
      probing = false;
      await health;
    }
    assert.ok(healthChecks > 0);
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 2 ** 20, `RSS grew by ${(process.memoryUsage().rss - rssBefore) / 2 ** 20} MiB`);
    // Nothing was begun: a sane size still works for the same run.
    const begun = await begin(a.connector, run.replicationRunId, [4 * B]);
    assert.deepEqual(begun.committedRanges, { '0': '' });
  });

  test('a disk larger than the catalog saw, or one it never saw, is refused with a 400', async () => {
    const a = await tenant(t, 'catalog', [8 * B, 2 * B]);
    const run = await a.connector.claimWhenDue();
    await rejectsWith(begin(a.connector, run.replicationRunId, [8 * B + 1, 2 * B]), 400, /Disk 0 is declared as 4194305 bytes, more than the 4194304 bytes the server catalog saw/);
    await rejectsWith(begin(a.connector, run.replicationRunId, [8 * B, 2 * B, B]), 400, /Disk 2 is not a disk of server s-[0-9a-f]+: the server catalog saw 2 disk\(s\)/);
    const begun = await begin(a.connector, run.replicationRunId, [8 * B, 2 * B]);
    assert.deepEqual(begun.committedRanges, { '0': '', '1': '' });
  });

  test('a 64 TiB disk holding three blocks: compact resume state, a tiny manifest, fast listing and export', async () => {
    const SIZE = 64 * TIB;
    const a = await tenant(t, 'sparse', [SIZE]);
    const run = await a.connector.claimWhenDue();
    const R = run.replicationRunId;
    let started = Date.now();
    assert.deepEqual((await begin(a.connector, R, [SIZE])).committedRanges, { '0': '' });
    assert.ok(Date.now() - started < 2000, `begin took ${Date.now() - started} ms`);

    const at = [0, 2 ** 26, 2 ** 27 - 1]; // first, middle and last block of the disk
    const blocks = at.map((index) => Buffer.alloc(B, (index % 250) + 1));
    for (const block of blocks) await putBlock(a.connector, R, block);
    await a.connector.call(`/runs/${R}/image/disks/0/records`, { records: at.map((index, i) => [index, sha(blocks[i]!)]) });

    // Resume: the committed set comes back as three ranges, a few bytes, not a 16 MiB bitmap.
    started = Date.now();
    const resumed = await begin(a.connector, R, [SIZE]);
    assert.ok(Date.now() - started < 2000, `resumed begin took ${Date.now() - started} ms`);
    assert.ok(resumed.committedRanges['0']!.length < 64, `committedRanges ${resumed.committedRanges['0']}`);
    assert.deepEqual([...decodeBlockRangeSet(resumed.committedRanges['0']!, SIZE / B).ranges()], at.map((index) => ({ start: index, end: index + 1 })));

    started = Date.now();
    const finished = await a.connector.call<{ amiId: string; snapshotIds: string[] }>(`/runs/${R}/image/finish`, {});
    assert.ok(Date.now() - started < 5000, `finish took ${Date.now() - started} ms`);
    const manifest = join(t.dataDir, 'images', 'manifests', `${finished.snapshotIds[0]}.manifest`);
    assert.ok(statSync(manifest).size < 1024, `manifest of ${statSync(manifest).size} bytes`);
    await a.connector.complete(R, finished.amiId);

    started = Date.now();
    const { images } = await a.ferry.listImages();
    assert.ok(Date.now() - started < 2000, `ListImages took ${Date.now() - started} ms`);
    const image = images.find((i) => i.amiId === finished.amiId)!;
    assert.equal(image.sizeBytes, SIZE);
    assert.equal(image.dataBlocks, 3);

    const dir = mkdtempSync(join(tmpdir(), 'ferry-sparse-export-'));
    try {
      started = Date.now();
      const result = await t.ferry.plane.images.exportDisk(finished.amiId, 0, 'qcow2', join(dir, 'disk.qcow2'));
      assert.ok(Date.now() - started < 60_000, `qcow2 export took ${Date.now() - started} ms`);
      assert.deepEqual(result, { format: 'qcow2', sizeBytes: SIZE, dataBytes: 3 * B });
      const qcow2 = join(dir, 'disk.qcow2');
      assert.ok(statSync(qcow2).size < 64 * 2 ** 20, `qcow2 of ${statSync(qcow2).size} bytes`);
      const info = JSON.parse((await pexec('qemu-img', ['info', '--output=json', qcow2])).stdout) as { 'virtual-size': number };
      assert.equal(info['virtual-size'], SIZE);
      // Each data block reads back with its pattern; the blocks around it are zeros.
      for (const index of at) {
        const reads = ['-c', `read -P ${(index % 250) + 1} ${index * B} ${B}`];
        for (const neighbour of [index - 1, index + 1]) if (neighbour >= 0 && neighbour < SIZE / B) reads.push('-c', `read -P 0 ${neighbour * B} ${B}`);
        const { stdout } = await pexec('qemu-io', ['-r', '-f', 'qcow2', ...reads, qcow2]);
        assert.doesNotMatch(stdout, /fail/i, stdout);
      }
      // Raw needs a 64 TiB sparse file, more than ext4 holds: the store says so instead of failing obscurely.
      await assert.rejects(t.ferry.plane.images.exportDisk(finished.amiId, 0, 'raw', join(dir, 'disk.raw')), /cannot hold a 70368744177664-byte file.*export as qcow2 or vmdk/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("another account's digests name nothing it can probe, record or export, and leave the owner's figures alone", async () => {
    const alice = await tenant(t, 'alice', [4 * B]);
    const bob = await tenant(t, 'bob', [4 * B]);
    const secret = [randomBytes(B), randomBytes(B)];

    const aliceRun = (await alice.connector.claimWhenDue()).replicationRunId;
    await begin(alice.connector, aliceRun, [4 * B]);
    for (const block of secret) await putBlock(alice.connector, aliceRun, block);
    await alice.connector.call(`/runs/${aliceRun}/image/disks/0/records`, { records: secret.map((block, i) => [i, sha(block)]) });
    const aliceImage = (await alice.connector.call<{ amiId: string }>(`/runs/${aliceRun}/image/finish`, {})).amiId;
    await alice.connector.complete(aliceRun, aliceImage);
    const figures = async () => (await alice.ferry.listImages()).images.map((i) => ({ amiId: i.amiId, storedBytes: i.storedBytes, sharedBlocks: i.sharedBlocks, exclusiveBytes: i.exclusiveBytes }));
    const aliceBefore = await figures();
    assert.equal(aliceBefore[0]!.sharedBlocks, 0);

    const bobRun = (await bob.connector.claimWhenDue()).replicationRunId;
    await begin(bob.connector, bobRun, [4 * B]);
    // Probing: every one of alice's blocks is "missing" for bob.
    const { missing } = await bob.connector.call<{ missing: boolean[] }>(`/runs/${bobRun}/image/missing`, { sha256s: secret.map(sha) });
    assert.deepEqual(missing, [true, true]);
    // Recording them without the bytes: refused, nothing recorded.
    await rejectsWith(
      bob.connector.call(`/runs/${bobRun}/image/disks/0/records`, { records: secret.map((block, i) => [i, sha(block)]) }),
      400,
      /block is not in the store \(put it before recording it\)/,
    );
    assert.deepEqual((await begin(bob.connector, bobRun, [4 * B])).committedRanges, { '0': '' });

    // Bob uploads the same bytes himself: stored again as bob's own block; alice's figures do not move.
    await putBlock(bob.connector, bobRun, secret[0]!);
    await bob.connector.call(`/runs/${bobRun}/image/disks/0/records`, { records: [[2, sha(secret[0]!)]] });
    const bobImage = (await bob.connector.call<{ amiId: string }>(`/runs/${bobRun}/image/finish`, {})).amiId;
    await bob.connector.complete(bobRun, bobImage);
    assert.deepEqual(await figures(), aliceBefore, "alice's ListImages does not change");
    const [bobListed] = (await bob.ferry.listImages()).images;
    assert.equal(bobListed!.sharedBlocks, 0);
    assert.ok(bobListed!.storedBytes >= B, 'bob paid for his own copy');

    // Bob's image holds what bob uploaded and nothing of alice's.
    assert.deepEqual(await t.ferry.plane.images.readBlock(bobImage, 0, 0), Buffer.alloc(B));
    assert.deepEqual(await t.ferry.plane.images.readBlock(bobImage, 0, 1), Buffer.alloc(B));
    assert.deepEqual(await t.ferry.plane.images.readBlock(bobImage, 0, 2), secret[0]);
  });

  test('after the upgrade, an image stored under the legacy shared ids is no incremental parent; the next image is', async () => {
    const a = await tenant(t, 'upgraded', [2 * B]);
    const db = t.ferry.core.db;
    const job = await db.selectFrom('jobs').select(['account_id', 'region']).where('replication_job_id', '=', a.jobId).executeTakeFirstOrThrow();
    // An image as the service stored them before per-account ids (plain SHA-256 ids), the job's latest.
    const images = t.ferry.plane.images;
    await images.beginImage('sms-run-01d00001', { tenant: { accountId: job.account_id, region: job.region }, replicationJobId: a.jobId, sealer: plainSealer, disks: [{ index: 0, sizeBytes: 2 * B }] });
    const legacy = await images.finishImage('sms-run-01d00001');
    await db.updateTable('jobs').set({ latest_ami_id: legacy.amiId }).where('replication_job_id', '=', a.jobId).execute();

    const first = await a.connector.claimWhenDue();
    assert.equal(first.parentAmiId, legacy.amiId, 'still the lineage');
    assert.deepEqual(await a.connector.call(`/runs/${first.replicationRunId}/image/parent`, {}), { parent: null }, 'but not a base for an incremental read');
    await rejectsWith(
      a.connector.call(`/runs/${first.replicationRunId}/image/begin`, { disks: [{ index: 0, sizeBytes: 2 * B, mode: 'incremental' }] }),
      400,
      /sealed under another key/,
    );
    const image = await a.connector.completeWithImage(first.replicationRunId);

    await a.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: a.jobId }));
    const second = await a.connector.claimWhenDue();
    const { parent } = await a.connector.call<{ parent: { amiId: string } | null }>(`/runs/${second.replicationRunId}/image/parent`, {});
    assert.equal(parent?.amiId, image);
  });

  test('a run completes only with the image it finished itself', async () => {
    const alice = await tenant(t, 'alice2', [B]);
    const aliceRun = (await alice.connector.claimWhenDue()).replicationRunId;
    const aliceImage = await alice.connector.finishImage(aliceRun);
    const bob = await tenant(t, 'bob2', [B]);
    const bobRun = (await bob.connector.claimWhenDue()).replicationRunId;

    await rejectsWith(bob.connector.complete(bobRun, aliceImage), 400, new RegExp(`Run ${bobRun} has no finished image`));
    await begin(bob.connector, bobRun, [B]);
    await rejectsWith(bob.connector.complete(bobRun, aliceImage), 400, /has no finished image: finish its image/);
    const bobImage = await bob.connector.finishImage(bobRun);
    await rejectsWith(bob.connector.complete(bobRun, aliceImage), 400, new RegExp(`finished image ${bobImage}; it completes with that image only, not ${aliceImage}`));
    await rejectsWith(bob.connector.complete(bobRun, 'ami-0123456789abcdef0'), 400, /completes with that image only, not ami-0123456789abcdef0/);
    // Nothing moved: the run is still ACTIVE and the job has no image.
    const runs = (await bob.sms.send(new GetReplicationRunsCommand({ replicationJobId: bob.jobId }))).replicationRunList!;
    assert.equal(runs.find((r) => r.replicationRunId === bobRun)!.state, 'ACTIVE');
    assert.equal((await bob.sms.send(new GetReplicationJobsCommand({ replicationJobId: bob.jobId }))).replicationJobList![0]!.latestAmiId, undefined);

    await bob.connector.complete(bobRun, bobImage);
    assert.equal((await bob.sms.send(new GetReplicationJobsCommand({ replicationJobId: bob.jobId }))).replicationJobList![0]!.latestAmiId, bobImage);
    // Alice's run still completes with her own image, which no one else's job points at.
    await alice.connector.complete(aliceRun, aliceImage);
    assert.equal((await alice.sms.send(new GetReplicationJobsCommand({ replicationJobId: alice.jobId }))).replicationJobList![0]!.latestAmiId, aliceImage);
  });
});
