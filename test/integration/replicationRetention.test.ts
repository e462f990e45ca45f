/**
 * What replication runs leave in the image store: numberOfRecentAmisToKeep retires old images and garbage
 * collection gives their space back while the kept images still export whole; encrypted jobs store no plaintext
 * (a known pattern written into the source disk is in no pack file, whereas an unencrypted control job's pattern
 * is there as written, compression being off), and an unknown kmsKeyId is refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { CreateReplicationJobCommand, StartOnDemandReplicationRunCommand } from '@aws-sdk/client-sms';
import { RECORD_HEADER_SIZE } from '../../src/images/blockCodec.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ferryCli } from '../helpers/process.ts';
import {
  BLOCK,
  blockHashes,
  createJob,
  expectCompleted,
  exportImageDisk,
  importCatalog,
  packFiles,
  packsContaining,
  tempDir,
  waitFor,
} from '../helpers/replication.ts';
import { changeDiskBlocks, makeKvmVm, makeTempDatastore, MiB, patternBytes, type MadeVm } from '../helpers/vmFactory.ts';

/** Overwrites a raw disk with a new pattern: every block changes. */
async function rewriteRaw(path: string, seed: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(patternBytes(seed, 0, size), 0, size, 0);
  } finally {
    await handle.close();
  }
}

describe('retention and garbage collection', { concurrency: false }, () => {
  const SIZE = 4 * MiB;
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  let vm: MadeVm;

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-retention-');
    out = await tempDir();
    vm = await makeKvmVm(ds.dir, 'keep-two', { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'pattern', seed: 'keep-two:1' } }] });
    t = await startTestFerry({ datastore: ds.dir, compression: 'none', connectorPollMs: 100, policy: { onDemandRunsPerWindow: 10 } });
  });
  after(async () => {
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  test('numberOfRecentAmisToKeep = 2 over 4 runs keeps the 2 newest images; GC frees the rest', async () => {
    const images = t.ferry.plane.images;
    const disk = vm.disks[0]!;
    const servers = await importCatalog(t.sms, ['keep-two']);
    const { jobId, seedRunId } = await createJob(t.sms, servers.get('keep-two')!.serverId!, { numberOfRecentAmisToKeep: 2 });
    const amis: string[] = [];
    const contents: Buffer[] = [];
    for (let i = 1; i <= 4; i++) {
      if (i === 2 || i === 3) await rewriteRaw(disk.path, `keep-two:${i}`, SIZE);
      if (i === 4) await changeDiskBlocks(disk.path, 'raw', { fraction: 0.01, seed: 'keep-two:4' });
      contents.push(await readFile(disk.path));
      const runId = i === 1 ? seedRunId : (await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: jobId }))).replicationRunId!;
      amis.push((await expectCompleted(t.sms, jobId, runId)).amiId);
    }
    // Retention runs after each completion; the scheduler drains the deletions.
    const kept = await waitFor('retention to leave 2 images', async () => {
      const list = (await images.listImages()).filter((img) => img.replicationJobId === jobId);
      return list.length === 2 ? list : undefined;
    });
    assert.deepEqual(new Set(kept.map((img) => img.amiId)), new Set(amis.slice(2)), 'the two newest images are kept');

    // What collection must free: the blocks only the retired images held.
    const live = new Set([...blockHashes(contents[2]!), ...blockHashes(contents[3]!)].filter((h) => h !== null));
    const all = new Set(contents.flatMap((c) => blockHashes(c)).filter((h) => h !== null));
    assert.equal(all.size - live.size, 16, 'images 1 and 2 each had 8 blocks of their own');
    const stored = (blocks: number) => blocks * (BLOCK + RECORD_HEADER_SIZE);
    // The automatic collection (5 s after a deletion) may have run already, or may be running: collect now,
    // retrying while another collection holds the lease; the end state is what counts.
    const report = await waitFor('a garbage collection', () => images.collectGarbage());
    const collected = await images.stats();
    assert.equal(collected.blocks, live.size, `what is left is what the kept images use (swept now: ${report.sweptBlocks})`);
    assert.equal(collected.storedBytes, stored(live.size));
    assert.ok(collected.packBytes < stored(all.size) * 0.5, `pack space is given back: ${collected.packBytes} bytes of packs for ${live.size} live of ${all.size} blocks`);
    assert.ok(collected.packBytes <= stored(live.size + 2) + 64 * 1024, `pack bytes ${collected.packBytes} are about the live blocks`);

    // The kept images still export whole; the retired ones are gone.
    for (const [i, amiId] of amis.entries()) {
      if (i < 2) {
        await assert.rejects(exportImageDisk(images, amiId, 0, 'raw', out.dir), /does not exist/);
        continue;
      }
      const file = await exportImageDisk(images, amiId, 0, 'raw', out.dir);
      assert.ok((await readFile(file)).equals(contents[i]!), `image ${i + 1} exports its disk after collection`);
    }
  });
});

describe('encrypted jobs', { concurrency: false }, () => {
  const SIZE = 4 * MiB;
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  const canary = { secret: Buffer.alloc(0), control: Buffer.alloc(0) };
  const vms = new Map<string, MadeVm>();

  /** A raw disk of pattern data with `marker` repeated over 64 KiB at 1 MiB + 4 KiB. */
  async function vmWithMarker(folder: string, marker: Buffer): Promise<MadeVm> {
    const vm = await makeKvmVm(ds.dir, folder, { disks: [{ format: 'raw', sizeBytes: SIZE, content: { type: 'pattern', seed: folder } }] });
    const handle = await open(vm.disks[0]!.path, 'r+');
    try {
      const region = Buffer.alloc(65536);
      for (let o = 0; o < region.length; o += marker.length) marker.copy(region, o);
      await handle.write(region, 0, region.length, MiB + 4096);
    } finally {
      await handle.close();
    }
    return vm;
  }

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-kms-');
    out = await tempDir();
    canary.secret = Buffer.from(`FERRY-SECRET-CANARY-${randomBytes(8).toString('hex')}|`);
    canary.control = Buffer.from(`FERRY-CONTROL-CANARY-${randomBytes(8).toString('hex')}|`);
    vms.set('secret', await vmWithMarker('secret', canary.secret));
    vms.set('control', await vmWithMarker('control', canary.control));
    vms.set('unknown-key', await vmWithMarker('unknown-key', Buffer.from('unused|')));
    // Local blocks whatever FERRY_TEST_BLOCKS says: the test searches the pack files in the data dir for plaintext.
    t = await startTestFerry({ datastore: ds.dir, compression: 'none', connectorPollMs: 100, blocks: 'local' });
  });
  after(async () => {
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  test('a job encrypted with a `ferry kms` key stores no plaintext; an unencrypted control job does', async () => {
    // The key is made by the CLI in another process, on the running service's data dir.
    const created = JSON.parse(
      await ferryCli(['kms', 'create-key', '--alias', 'alias/migration', '--description', 'replication test', '--json', '--data-dir', t.dataDir]),
    ) as { keyId: string; arn: string };
    const servers = await importCatalog(t.sms, ['secret', 'control', 'unknown-key']);
    const secretJob = await createJob(t.sms, servers.get('secret')!.serverId!, { encrypted: true, kmsKeyId: 'alias/migration' });
    const controlJob = await createJob(t.sms, servers.get('control')!.serverId!);
    const secretRun = await expectCompleted(t.sms, secretJob.jobId, secretJob.seedRunId);
    const controlRun = await expectCompleted(t.sms, controlJob.jobId, controlJob.seedRunId);

    const list = await t.ferry.plane.images.listImages();
    const secretImage = list.find((i) => i.amiId === secretRun.amiId)!;
    assert.equal(secretImage.encrypted, true);
    assert.equal(secretImage.keyRef, created.arn, 'sealed under the job\'s key');
    assert.equal(list.find((i) => i.amiId === controlRun.amiId)!.encrypted, false);

    const packs = await packFiles(t.dataDir);
    assert.ok(packs.length > 0, 'the runs wrote pack files');
    assert.deepEqual(await packsContaining(t.dataDir, canary.secret), [], 'the encrypted job\'s marker is in no pack file');
    // Nor is any other stretch of its plaintext (the pattern data around the marker).
    const secretDisk = await readFile(vms.get('secret')!.disks[0]!.path);
    assert.deepEqual(await packsContaining(t.dataDir, secretDisk.subarray(3 * BLOCK + 1000, 3 * BLOCK + 1064)), []);
    assert.ok((await packsContaining(t.dataDir, canary.control)).length > 0, 'the control job\'s marker is stored as written');

    // The encrypted image still exports as the source (the service opens it with the key).
    const exported = await exportImageDisk(t.ferry.plane.images, secretRun.amiId, 0, 'raw', out.dir);
    assert.ok((await readFile(exported)).equals(secretDisk));
  });

  test('an unknown kmsKeyId → InvalidParameterException, and no job is made', async () => {
    const servers = await importCatalog(t.sms, ['unknown-key']);
    await assert.rejects(
      t.sms.send(
        new CreateReplicationJobCommand({
          serverId: servers.get('unknown-key')!.serverId!,
          seedReplicationTime: new Date(),
          frequency: 12,
          encrypted: true,
          kmsKeyId: 'alias/does-not-exist',
        }),
      ),
      (err: Error) => {
        assert.equal(err.name, 'InvalidParameterException');
        assert.match(err.message, /alias\/does-not-exist/);
        return true;
      },
    );
    await assert.rejects(
      t.sms.send(
        new CreateReplicationJobCommand({
          serverId: servers.get('unknown-key')!.serverId!,
          seedReplicationTime: new Date(),
          frequency: 12,
          encrypted: true,
          kmsKeyId: '0b5e6f4c-0000-4000-8000-000000000000',
        }),
      ),
      { name: 'InvalidParameterException' },
    );
    const again = await importCatalog(t.sms, ['unknown-key']);
    assert.equal(again.get('unknown-key')!.replicationJobId, undefined, 'the server has no job');
  });
});
