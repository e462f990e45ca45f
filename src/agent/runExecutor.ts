/**
 * Executes one replication run on the connector, stage by stage:
 *   Validating   — the VM is still in the datastore, replicable, and its disks open with the sizes the catalog saw;
 *   Snapshotting — qcow2 disks rotate their Ferry dirty bitmaps (what changes from now on is tracked for next time);
 *   Uploading    — the block engine copies each disk (changed blocks only, where a bitmap allows);
 *   Converting   — the service writes and checks the snapshot manifests (finishImage);
 *   Creating AMI — the run completes with its image id, and the service applies retention.
 * Any failure ends the run FAILED with a message naming the stage and the disk; a run the service took away
 * (job deleted, lease lost) ends quietly.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DiscoveredVm } from './inventory/scanDatastore.ts';
import { openDisk } from './disks/openDisk.ts';
import { probeDisk, type DiskProbe } from './disks/probe.ts';
import type { Confinement } from './disks/confine.ts';
import { applyBitmapSteps, planBitmapRun, type BitmapPlan } from './disks/dirtyBitmaps.ts';
import { BLOCK_SIZE, type DiskSource } from './disks/diskSource.ts';
import { copyDisk, plannedBlocks } from './copyDisk.ts';
import { countBlocks, type BlockRange } from './blockRanges.ts';
import { BlockRangeSet } from '../lib/blockRangeSet.ts';
import type { HashPool } from './hashPool.ts';
import { ProgressReporter } from './progressReporter.ts';
import type { RunStage as Stage } from '../domain/replicationRun.ts';
import type { RunOutcome, RunTotals } from '../domain/runOutcome.ts';
import { MAX_VM_DISKS as MAX_DISKS } from '../domain/inventory.ts';
import { RunLost, type ConnectorTransport, type ImageDiskPlan, type RunAssignment } from '../protocol/connector/messages.ts';
import { changeTracking, type ChangeTracking } from './changeTracking.ts';

export interface RunContext {
  transport: ConnectorTransport;
  pool: HashPool;
  log: Logger;
  leaseSeconds: number;
  findVm(vmId: string): Promise<DiscoveredVm | undefined>;
  throttle?: (bytes: number) => Promise<void>;
  signal?: AbortSignal;
}

/** A failure with a message meant for the run's statusMessage. */
class RunFailure extends Error {}

interface CatalogDisk {
  path?: string;
  virtualSize?: number;
}

interface PreparedDisk {
  index: number;
  path: string;
  probe: DiskProbe;
  /** The file's identity when validated, to notice a disk deleted or replaced while the run reads it. */
  identity: { dev: number; ino: number };
  /** The datastore the disk's files must stay in (disks/confine.ts). */
  confine: Confinement;
  bitmap?: BitmapPlan;
  /** How the run finds what changed since the parent image (changeTracking). */
  changes: ChangeTracking;
  source?: DiskSource;
  ranges?: BlockRange[];
}

async function assertSameFile(disk: PreparedDisk): Promise<void> {
  const now = await stat(disk.path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new RunFailure(`Disk ${disk.index} (${disk.path}) was deleted while the run was reading it.`);
    throw new RunFailure(`Disk ${disk.index} (${disk.path}): ${error.message}`);
  });
  if (now.dev !== disk.identity.dev || now.ino !== disk.identity.ino) {
    throw new RunFailure(`Disk ${disk.index} (${disk.path}) was replaced by another file while the run was reading it; run again to replicate the new file.`);
  }
}

export async function executeRun(run: RunAssignment, ctx: RunContext): Promise<RunOutcome> {
  const reporter = new ProgressReporter(ctx.transport, run.replicationRunId, ctx.leaseSeconds);
  reporter.resumeAt(run.stage, run.stageProgress);
  const disks: PreparedDisk[] = [];
  let stage: Stage = 'Validating';
  // Milliseconds per step, logged with the run's completion: a small incremental is mostly these fixed steps.
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  const phase = (name: string): void => {
    const now = performance.now();
    phases[name] = Math.round((phases[name] ?? 0) + now - phaseStart);
    phaseStart = now;
  };
  const at = async (next: Stage, percent: number, bytes?: { done: number; total: number }) => {
    stage = next;
    const start = performance.now();
    await reporter.report(next, percent, bytes);
    const took = performance.now() - start;
    phases.reports = Math.round((phases.reports ?? 0) + took);
    phaseStart += took;
  };
  try {
    // ── Validating ─────────────────────────────────────────────────────────────────────────────────────────
    await at('Validating', 0);
    const vmId = run.vmServer.vmServerAddress?.vmId ?? '';
    const vm = await ctx.findVm(vmId);
    phase('findVm');
    if (!vm) throw new RunFailure(`VM ${run.vmServer.vmName ?? vmId} (${vmId}) is no longer in the datastore.`);
    if (!vm.replicable) throw new RunFailure(`VM ${vm.vmName} cannot be replicated: ${vm.reason ?? 'unknown reason'}`);
    if (vm.disks.length === 0) throw new RunFailure(`VM ${vm.vmName} has no disks.`);
    if (vm.disks.length > MAX_DISKS) throw new RunFailure(`VM ${vm.vmName} has ${vm.disks.length} disks; at most ${MAX_DISKS} can be replicated.`);
    const catalogDisks = ((run.serverDetails as { disks?: CatalogDisk[] } | null)?.disks ?? []) as CatalogDisk[];
    if (catalogDisks.length > 0 && catalogDisks.length !== vm.disks.length) {
      throw new RunFailure(
        `VM ${vm.vmName} now has ${vm.disks.length} disks but had ${catalogDisks.length} when the server catalog was imported; re-import the catalog (ImportServerCatalog) to replicate the new layout.`,
      );
    }
    // Every file the run opens must still resolve inside the datastore: checked again now, and at each open.
    const confine = { root: vm.datastoreRoot };
    for (const [index, disk] of vm.disks.entries()) {
      const probe = await probeDisk(disk.path, { confine }).catch((error: Error) => {
        throw new RunFailure(`Disk ${index}: ${error.message}`);
      });
      const known = catalogDisks[index]?.virtualSize;
      if (known !== undefined && known !== probe.virtualSize) {
        throw new RunFailure(
          `Disk ${index} (${disk.path}) was resized from ${known} to ${probe.virtualSize} bytes since the server catalog was imported; re-import the catalog (ImportServerCatalog) to replicate its new size.`,
        );
      }
      const { dev, ino } = await stat(disk.path).catch((error: Error) => {
        throw new RunFailure(`Disk ${index}: ${error.message}`);
      });
      disks.push({ index, path: disk.path, probe, identity: { dev, ino }, confine, changes: { kind: 'none', why: 'not planned yet' } });
      await at('Validating', ((index + 1) / vm.disks.length) * 100);
    }

    phase('probe');
    // ── Snapshotting ───────────────────────────────────────────────────────────────────────────────────────
    await at('Snapshotting', 0);
    const parent = await ctx.transport.parentImage(run.replicationRunId);
    phase('parentImage');
    for (const disk of disks) {
      if (disk.probe.format === 'qcow2') {
        const parentDisk = parent?.disks.find((d) => d.index === disk.index);
        const recorded = parentDisk && parentDisk.sizeBytes === disk.probe.virtualSize ? (parentDisk.meta?.bitmap as string | undefined) : undefined;
        disk.bitmap = planBitmapRun(disk.probe.dirtyBitmaps, `${run.replicationJobId}-d${disk.index}`, recorded);
        await applyBitmapSteps(disk.path, disk.bitmap.before, disk.confine);
      }
      await at('Snapshotting', ((disk.index + 1) / disks.length) * 100);
    }
    phase('bitmaps');
    // Each disk is read through its dirty bitmap, or read whole and compared with the parent's blocks (hash diff);
    // either way the image is incremental over the parent. A disk that can do neither makes the whole image full.
    for (const disk of disks) disk.changes = changeTracking({ index: disk.index, format: disk.probe.format, sizeBytes: disk.probe.virtualSize, bitmap: disk.bitmap }, parent);
    const incremental = parent !== null && disks.every((d) => d.changes.kind !== 'none');
    const plans: ImageDiskPlan[] = disks.map((d) => ({
      index: d.index,
      sizeBytes: d.probe.virtualSize,
      mode: incremental ? 'incremental' : 'full',
      meta: d.bitmap ? { bitmap: d.bitmap.nextBitmap } : undefined,
    }));
    const begun = await ctx.transport.beginImage(run.replicationRunId, plans);
    phase('beginImage');
    const readsChanges = (d: PreparedDisk): boolean => incremental && d.changes.kind === 'bitmap';
    const comparesWithParent = (d: PreparedDisk): boolean => incremental && d.changes.kind === 'hash-diff';
    if (!incremental) {
      const why = disks.map((d) => (d.changes.kind === 'none' ? d.changes.why : undefined)).find(Boolean);
      ctx.log.info({ runId: run.replicationRunId, why }, 'full read of every allocated block (hash comparison against the store)');
    } else if (disks.some(comparesWithParent)) {
      const why = disks.map((d) => (d.changes.kind === 'hash-diff' ? d.changes.why : undefined)).find(Boolean);
      ctx.log.info({ runId: run.replicationRunId, why }, 'hash diff: every allocated block read, only the blocks that differ from the parent image sent and recorded');
    }

    // ── Uploading ──────────────────────────────────────────────────────────────────────────────────────────
    let totalBlocks = 0;
    for (const disk of disks) {
      const readBitmap = readsChanges(disk) && disk.bitmap?.mode === 'incremental' ? disk.bitmap.readBitmap : undefined;
      disk.source = await openDisk(disk.path, { format: disk.probe.format, dirtyBitmap: readBitmap, probe: disk.probe, confine: disk.confine });
      disk.ranges = await plannedBlocks(disk.source, readsChanges(disk) ? 'incremental' : 'full');
      totalBlocks += countBlocks(disk.ranges);
    }
    phase('plan');
    await at('Uploading', 0, { done: 0, total: totalBlocks * BLOCK_SIZE });
    let blocksBefore = 0;
    const totals: RunTotals = {
      incremental: incremental && disks.every(readsChanges),
      hashDiff: disks.some(comparesWithParent),
      blocksUnchanged: 0,
      blocksConsidered: 0,
      blocksSkippedAsCommitted: 0,
      blocksRead: 0,
      bytesRead: 0,
      zeroBlocks: 0,
      blocksSent: 0,
      blocksDeduplicated: 0,
    };
    for (const disk of disks) {
      const committed = begun.committed.get(disk.index) ?? new BlockRangeSet();
      const blockCount = Math.ceil(disk.probe.virtualSize / BLOCK_SIZE);
      // Every block committed: the image was finished by an earlier attempt (a connector killed between finishImage
      // and complete), and the service no longer answers questions about it; nothing is left to compare.
      const compare = comparesWithParent(disk) && committed.count < blockCount;
      const stats = await copyDisk(
        {
          runId: run.replicationRunId,
          diskIndex: disk.index,
          source: disk.source!,
          mode: readsChanges(disk) ? 'incremental' : 'full',
          committed,
          ranges: disk.ranges!,
          compareWithParent: compare ? { blockCount } : undefined,
        },
        {
          transport: ctx.transport,
          pool: ctx.pool,
          throttle: ctx.throttle,
          signal: ctx.signal,
          onProgress: (done) => {
            const blocks = blocksBefore + done;
            void reporter
              .report('Uploading', totalBlocks === 0 ? 100 : (blocks / totalBlocks) * 100, { done: blocks * BLOCK_SIZE, total: totalBlocks * BLOCK_SIZE })
              .catch(() => {});
          },
        },
      );
      blocksBefore += stats.blocksConsidered;
      totals.blocksConsidered += stats.blocksConsidered;
      totals.blocksSkippedAsCommitted += stats.blocksSkippedAsCommitted;
      totals.blocksRead += stats.blocksRead;
      totals.bytesRead += disk.source!.bytesRead;
      totals.zeroBlocks += stats.zeroBlocks;
      totals.blocksSent += stats.blocksSent;
      totals.blocksDeduplicated += stats.blocksDeduplicated;
      totals.blocksUnchanged += stats.blocksUnchanged;
      await disk.source!.close();
      disk.source = undefined;
    }
    phase('copy');
    // Open files stay readable after they are deleted: an image must not be made of a disk that is gone.
    for (const disk of disks) await assertSameFile(disk);
    await at('Uploading', 100, { done: totalBlocks * BLOCK_SIZE, total: totalBlocks * BLOCK_SIZE });

    // ── Converting ─────────────────────────────────────────────────────────────────────────────────────────
    phase('check');
    await at('Converting', 0);
    const image = await ctx.transport.finishImage(run.replicationRunId);
    phase('finishImage');
    await at('Converting', 100);

    // ── Creating AMI ───────────────────────────────────────────────────────────────────────────────────────
    await at('Creating AMI', 0);
    await ctx.transport.complete(run.replicationRunId, image.amiId);
    phase('complete');
    for (const disk of disks) {
      if (!disk.bitmap) continue;
      // The old bitmaps are spent only once the image exists; if this fails, the next plan merges what is left.
      await applyBitmapSteps(disk.path, disk.bitmap.afterSuccess, disk.confine).catch((error: Error) =>
        ctx.log.warn({ err: error.message, disk: disk.path }, 'could not retire old dirty bitmaps'),
      );
    }
    phase('retireBitmaps');
    ctx.log.info({ runId: run.replicationRunId, amiId: image.amiId, ...totals, phases }, 'replication run completed');
    return { kind: 'completed', amiId: image.amiId, totals, phases };
  } catch (thrown) {
    if (thrown instanceof RunLost) {
      ctx.log.warn({ runId: run.replicationRunId, reason: thrown.message }, 'run no longer ours; stopped');
      return { kind: 'lost' };
    }
    if (ctx.signal?.aborted) return { kind: 'stopped' };
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    const message = error instanceof RunFailure ? `${stage}: ${error.message}` : `${stage} failed: ${error.message}`;
    ctx.log.warn({ runId: run.replicationRunId, err: error.message, stage }, 'replication run failed');
    try {
      await ctx.transport.fail(run.replicationRunId, message);
    } catch (reportError) {
      if (!(reportError instanceof RunLost)) throw reportError;
    }
    return { kind: 'failed', message };
  } finally {
    reporter.close();
    for (const disk of disks) await disk.source?.close().catch(() => {});
  }
}

