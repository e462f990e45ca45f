/**
 * End to end over every disk format: VMs generated with the Debian tools in a datastore, served by the embedded
 * connector of a real Ferry, driven through the real AWS SDK (ImportServerCatalog → CreateReplicationJob →
 * GetReplicationRuns until COMPLETED with an amiId, stages never going back). Each image exports identical to its
 * source. Then ~1 % of each source's blocks change and StartOnDemandReplicationRun makes a second image that
 * exports identical to the changed disk, while the first still exports the old content, and the store grows by
 * about the changed blocks. qcow2 sources read only the changed extents (dirty bitmaps); raw and VHDX sources are
 * read whole and compared by hash, sending only the changed blocks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StartOnDemandReplicationRunCommand, type Server } from '@aws-sdk/client-sms';
import type { DiskFormat } from '../../src/agent/disks/diskSource.ts';
import { requireTools } from '../../src/lib/tools.ts';
import { runTool } from '../../src/agent/sample/diskBuilder.ts';
import { RECORD_HEADER_SIZE } from '../../src/images/blockCodec.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ferryCli } from '../helpers/process.ts';
import {
  assertSameDisk,
  BLOCK,
  createJob,
  expectCompleted,
  exportImageDisk,
  importCatalog,
  newBlocks,
  tempDir,
  waitFor,
} from '../helpers/replication.ts';
import {
  changeDiskBlocks,
  makeHypervVm,
  makeKvmVm,
  makeTempDatastore,
  makeVmwareVm,
  MiB,
  readDiskAsRaw,
  type MadeVm,
} from '../helpers/vmFactory.ts';

interface Case {
  folder: string;
  make: (ds: string) => Promise<MadeVm>;
  /** How the disk is changed between runs (default changeDiskBlocks). */
  rewrite?: 'reconvert-stream';
  /** The second run's expectation about reads. */
  expect?: 'dirty-bitmap' | 'hash-diff';
}

const full = (seed: string) => ({ type: 'pattern' as const, seed });

const CASES: Case[] = [
  { folder: 'vmw-sparse', make: (ds) => makeVmwareVm(ds, 'vmw-sparse', { disks: [{ sizeBytes: 4 * MiB, vmdkSubformat: 'monolithicSparse' }] }) },
  { folder: 'vmw-flat', make: (ds) => makeVmwareVm(ds, 'vmw-flat', { disks: [{ sizeBytes: 6 * MiB, vmdkSubformat: 'monolithicFlat' }] }) },
  {
    folder: 'vmw-stream',
    make: (ds) => makeVmwareVm(ds, 'vmw-stream', { disks: [{ sizeBytes: 4 * MiB, vmdkSubformat: 'streamOptimized' }] }),
    rewrite: 'reconvert-stream',
  },
  {
    folder: 'hv-vhdx',
    make: (ds) => makeHypervVm(ds, 'hv-vhdx', { disks: [{ format: 'vhdx', sizeBytes: 8 * MiB, content: full('hv-vhdx') }] }),
    expect: 'hash-diff',
  },
  { folder: 'hv-vhd', make: (ds) => makeHypervVm(ds, 'hv-vhd', { layout: 'flat', guid: null, disks: [{ format: 'vpc', sizeBytes: 4 * MiB }] }) },
  {
    folder: 'kvm-qcow2',
    make: (ds) => makeKvmVm(ds, 'kvm-qcow2', { disks: [{ format: 'qcow2', sizeBytes: 16 * MiB, content: full('kvm-qcow2') }] }),
    expect: 'dirty-bitmap',
  },
  {
    folder: 'kvm-raw',
    make: (ds) => makeKvmVm(ds, 'kvm-raw', { disks: [{ format: 'raw', sizeBytes: 8 * MiB, content: full('kvm-raw') }] }),
    expect: 'hash-diff',
  },
  {
    folder: 'vmw-two-disks',
    make: (ds) =>
      makeVmwareVm(ds, 'vmw-two-disks', { disks: [{ sizeBytes: 4 * MiB }, { sizeBytes: 6 * MiB, vmdkSubformat: 'monolithicFlat' }] }),
  },
];

interface Replicated {
  vm: MadeVm;
  server: Server;
  jobId: string;
  firstAmi: string;
  /** Raw content of each disk at the first run. */
  before: Buffer[];
}

describe('replication of every disk format, full then incremental', { concurrency: false }, () => {
  let ds: { dir: string; cleanup: () => Promise<void> };
  let out: { dir: string; cleanup: () => Promise<void> };
  let t: TestFerry;
  const made = new Map<string, MadeVm>();
  const replicated = new Map<string, Replicated>();

  before(async () => {
    ds = await makeTempDatastore('ferry-repl-formats-');
    out = await tempDir();
    const vms = await Promise.all(CASES.map((c) => c.make(ds.dir)));
    CASES.forEach((c, i) => made.set(c.folder, vms[i]!));
    t = await startTestFerry({ datastore: ds.dir, compression: 'none', connectorPollMs: 100 });
  });
  after(async () => {
    await t?.close();
    await out?.cleanup();
    await ds?.cleanup();
  });

  test('import → job → COMPLETED with an amiId; every export matches its source', async () => {
    const servers = await importCatalog(t.sms, [...made.keys()]);
    // Create every job at once: the connector works through them one by one.
    const jobs = await Promise.all(
      CASES.map(async (c) => {
        const vm = made.get(c.folder)!;
        const server = servers.get(c.folder)!;
        assert.ok(server?.serverId, `${c.folder} is in the catalog`);
        return { c, vm, server, ...(await createJob(t.sms, server.serverId!)) };
      }),
    );
    for (const { c, vm, server, jobId, seedRunId } of jobs) {
      const run = await expectCompleted(t.sms, jobId, seedRunId);
      const outcome = await waitFor('the run outcome', () => t.ferry.connector!.outcomes.get(seedRunId));
      assert.equal(outcome?.kind, 'completed', c.folder);
      assert.equal(outcome.kind === 'completed' && outcome.amiId, run.amiId);
      assert.equal(outcome.kind === 'completed' && outcome.totals.incremental, false, `${c.folder}: the seed run is full`);
      assert.equal(outcome.kind === 'completed' && outcome.totals.hashDiff, false, `${c.folder}: with nothing to compare with`);
      const before: Buffer[] = [];
      for (const [index, disk] of vm.disks.entries()) {
        const raw = await readDiskAsRaw(disk.path, disk.format);
        before.push(raw);
        const exported = await exportImageDisk(t.ferry.plane.images, run.amiId, index, 'raw', out.dir);
        assert.ok((await readFile(exported)).equals(raw), `${c.folder} disk ${index}: the raw export is byte-identical to the source`);
        if (disk.format === 'raw') assert.ok((await readFile(disk.path)).equals(raw), 'a raw source is its own content');
        else await assertSameDisk(exported, 'raw', disk.path, disk.format, `${c.folder} disk ${index}`);
      }
      replicated.set(c.folder, { vm, server, jobId, firstAmi: run.amiId, before });
    }
    const images = await t.ferry.plane.images.listImages();
    assert.equal(images.length, CASES.length, 'one image per job');
    const two = replicated.get('vmw-two-disks')!;
    assert.equal(images.find((i) => i.amiId === two.firstAmi)?.disks.length, 2, 'the two-disk VM makes a two-disk image');
  });

  test('qcow2 and VMDK exports (store API and `ferry images export`) compare identical to the sources', async () => {
    const qcow = replicated.get('kvm-qcow2')!;
    const stream = replicated.get('vmw-stream')!;
    const vhdx = replicated.get('hv-vhdx')!;
    const two = replicated.get('vmw-two-disks')!;
    // Through the store API.
    const asQcow2 = await exportImageDisk(t.ferry.plane.images, vhdx.firstAmi, 0, 'qcow2', out.dir);
    await assertSameDisk(asQcow2, 'qcow2', vhdx.vm.disks[0]!.path, 'vhdx', 'vhdx → qcow2');
    const asVmdk = await exportImageDisk(t.ferry.plane.images, qcow.firstAmi, 0, 'vmdk', out.dir);
    await assertSameDisk(asVmdk, 'vmdk', qcow.vm.disks[0]!.path, 'qcow2', 'qcow2 → vmdk');
    // Through the CLI, in another process reading the store beside the running service.
    const cliQcow2 = join(out.dir, 'cli-stream.qcow2');
    const printed = await ferryCli(['images', 'export', stream.firstAmi, '--format', 'qcow2', '--output', cliQcow2, '--data-dir', t.dataDir]);
    assert.match(printed, new RegExp(`Exported ${stream.firstAmi} disk 0 as qcow2`));
    await assertSameDisk(cliQcow2, 'qcow2', stream.vm.disks[0]!.path, 'vmdk', 'streamOptimized → qcow2 (CLI)');
    const cliVmdk = join(out.dir, 'cli-two-d1.vmdk');
    await ferryCli(['images', 'export', two.firstAmi, '--disk', '1', '--format', 'vmdk', '--output', cliVmdk, '--data-dir', t.dataDir]);
    await assertSameDisk(cliVmdk, 'vmdk', two.vm.disks[1]!.path, 'vmdk', 'second disk → vmdk (CLI)');
    const listed = JSON.parse(await ferryCli(['images', 'list', '--json', '--data-dir', t.dataDir])) as { amiId: string; tenant: { accountId: string } }[];
    assert.deepEqual(new Set(listed.map((i) => i.amiId)), new Set([...replicated.values()].map((r) => r.firstAmi)));
    // --account keeps one account's images: the owner's are all of them, another account has none.
    const owner = listed[0]!.tenant.accountId;
    const ownersImages = JSON.parse(await ferryCli(['images', 'list', '--json', '--account', owner, '--data-dir', t.dataDir])) as { amiId: string }[];
    assert.deepEqual(new Set(ownersImages.map((i) => i.amiId)), new Set(listed.map((i) => i.amiId)));
    const other = await t.createAccount('formats-other');
    assert.deepEqual(JSON.parse(await ferryCli(['images', 'list', '--json', '--account', other.accountId, '--data-dir', t.dataDir])), []);
    assert.match(await ferryCli(['images', 'list', '--data-dir', t.dataDir]), new RegExp(`${listed[0]!.amiId}  ${owner}/us-east-1  `));
  });

  test('after ~1 % of blocks change, an on-demand run makes a new image of the changed disk; the old one is kept', async () => {
    const qemuImg = requireTools(['qemu-img'], 'tests')['qemu-img'];
    for (const c of CASES) {
      const r = replicated.get(c.folder)!;
      // Change the source.
      for (const disk of r.vm.disks) {
        if (c.rewrite === 'reconvert-stream') {
          // A streamOptimized VMDK cannot be written in place: change a raw copy and re-export it, as a
          // hypervisor export would.
          const raw = Buffer.from(r.before[0]!);
          raw.fill(0xa5, BLOCK + 4096, BLOCK + 4096 + 65536);
          const rawPath = join(out.dir, `${c.folder}-changed.raw`);
          await writeFile(rawPath, raw);
          await runTool(qemuImg, ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawPath, disk.path]);
        } else {
          const ranges = await changeDiskBlocks(disk.path, disk.format as DiskFormat, { fraction: 0.01, seed: c.folder });
          assert.ok(ranges.length >= 1);
        }
      }
      const after: Buffer[] = [];
      for (const disk of r.vm.disks) after.push(await readDiskAsRaw(disk.path, disk.format));
      let changedBlocks = 0;
      const fresh = new Set<string>();
      after.forEach((raw, i) => {
        const diff = newBlocks(r.before[i]!, raw);
        changedBlocks += diff.changedIndexes.length;
        for (const h of diff.fresh) fresh.add(h);
      });
      // (Identical new blocks, e.g. the same write into zero blocks of two disks, are stored once.)
      const distinctNew = fresh.size;
      assert.ok(changedBlocks >= 1, `${c.folder}: the change changed blocks`);

      const statsBefore = await t.ferry.plane.images.stats();
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: r.jobId, description: 'after change' }));
      const run = await expectCompleted(t.sms, r.jobId, replicationRunId!);
      assert.notEqual(run.amiId, r.firstAmi);
      const statsAfter = await t.ferry.plane.images.stats();

      // The new image is the changed disk, the old image still the old disk.
      for (const [index, disk] of r.vm.disks.entries()) {
        const fresh = await exportImageDisk(t.ferry.plane.images, run.amiId, index, 'raw', out.dir);
        assert.ok((await readFile(fresh)).equals(after[index]!), `${c.folder} disk ${index}: the new image is the changed disk`);
        await assertSameDisk(fresh, 'raw', disk.path, disk.format, `${c.folder} disk ${index} (new image)`);
        const old = await exportImageDisk(t.ferry.plane.images, r.firstAmi, index, 'raw', out.dir);
        assert.ok((await readFile(old)).equals(r.before[index]!), `${c.folder} disk ${index}: the old image still has the old content`);
      }

      // The store grew by the changed blocks (compression none: each new block costs its 512 KiB and a header).
      const grown = statsAfter.storedBytes - statsBefore.storedBytes;
      assert.equal(statsAfter.blocks - statsBefore.blocks, distinctNew, `${c.folder}: one new stored block per distinct changed block`);
      assert.equal(grown, distinctNew * (BLOCK + RECORD_HEADER_SIZE), `${c.folder}: the store grew by the changed blocks`);

      const outcome = await waitFor('the run outcome', () => t.ferry.connector!.outcomes.get(replicationRunId!));
      assert.equal(outcome?.kind, 'completed');
      if (outcome?.kind !== 'completed') continue;
      const totals = outcome.totals;
      assert.ok(totals.blocksSent <= changedBlocks, `${c.folder}: only changed blocks are sent (${totals.blocksSent} ≤ ${changedBlocks})`);
      assert.equal(totals.blocksSent, distinctNew, `${c.folder}: blocks sent`);
      const diskBlocks = r.vm.disks.reduce((sum, d) => sum + Math.ceil(d.sizeBytes / BLOCK), 0);
      if (c.expect === 'dirty-bitmap') {
        assert.equal(totals.incremental, true, `${c.folder}: the qcow2 dirty bitmap makes the run incremental`);
        // Only the changed extents are read: ~64 KiB per changed block, far less than the 16 MiB disk.
        assert.equal(totals.blocksRead, changedBlocks, `${c.folder}: blocks read are the changed blocks`);
        assert.ok(totals.bytesRead >= 65536 * changedBlocks && totals.bytesRead <= BLOCK * changedBlocks, `${c.folder}: bytesRead ${totals.bytesRead}`);
      } else if (c.expect === 'hash-diff') {
        assert.equal(totals.incremental, false, `${c.folder}: no change tracking, so every block is read`);
        assert.equal(totals.hashDiff, true, `${c.folder}: and compared with the parent image by hash`);
        assert.equal(totals.blocksRead, diskBlocks, `${c.folder}: every (allocated) block is read`);
        assert.ok(totals.bytesRead >= diskBlocks * BLOCK - BLOCK, `${c.folder}: bytesRead ${totals.bytesRead}`);
        assert.equal(totals.blocksUnchanged, diskBlocks - changedBlocks, `${c.folder}: the unchanged blocks are neither sent nor recorded`);
      }
    }
    assert.equal((await t.ferry.plane.images.listImages()).length, 2 * CASES.length, 'both images of every job are kept');
  });
});
