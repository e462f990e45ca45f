/**
 * Mark-and-sweep garbage collection of blocks, safe while runs write.
 *
 * Why it is safe. The generation is a logical clock, advanced by every collection and every run that begins.
 * Every statement that creates or hands out a reference to a block (indexing a new block, a dedup hit in
 * missingBlocks, recordBlocks) stamps the block with the current generation, in that same statement; all of them
 * happen inside a run being written, after its beginImage. A collection takes a lease (one collector at a time)
 * and advances the generation to E in one statement, then marks:
 *   1. the committed blocks of every unfinished run, then
 *   2. the manifests of every available image and of every deleted image an unfinished run builds on
 *      (in this order: a run that finishes in between is seen as an image),
 * and sweeps an unmarked block only if
 *   - its stamp is below E (nothing referenced it since the collection began), and below the begin generation of
 *     every unfinished run (a dedup answer given to a run but not recorded yet), and
 *   - its id is at most the lowest block watermark of the unfinished runs (a run's own new blocks, recorded or not).
 * A run that begins after the list of unfinished runs was read stamps everything with E or more. The delete
 * re-checks the stamp, so a reference made after the page was read wins. Any manifest that cannot be read whole
 * aborts the collection before anything is deleted. (This is Proxmox Backup Server's atime touch and cutoff, with
 * a logical clock instead of wall time and the oldest running writer's start as the cutoff instead of a fixed
 * grace period.)
 * A run that stays unfinished forever (its writer died and nobody resumed or abandoned it) pins what it
 * protects; the run executor abandons runs whose lease expired.
 *
 * Then: deleted images nobody builds on lose their rows and manifest files, orphan manifests go, and packs are
 * compacted: empty ones deleted, mostly-dead ones rewritten (live records copied to a new pack, fsynced, index rows
 * moved in one transaction, then the old file deleted; a reader that raced the delete looks the block up again).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import { BitSet } from './bitSet.ts';
import type { ImageDb } from './db.ts';
import { ImageStoreError } from './errors.ts';
import { forEachManifestId } from './imageUsage.ts';
import { compactPacks } from './packCompactor.ts';
import type { PackReader } from './packReader.ts';
import type { BlockPlacement } from './blocks/blockPlacement.ts';
import { deleteRunBlocks } from './runBlocks.ts';
import {
  acquireCollectorLease,
  allSnapshotIds,
  blockStampsAfter,
  deleteUnstampedBlocks,
  overRunsWithBlocks,
  purgeDeletedImages,
  referencedSnapshots,
  releaseCollectorLease,
  renewCollectorLease,
  runBlockPages,
  writingRuns,
} from '../store/images/index.ts';
import type { GcOptions, GcReport, ImageStoreLog } from './types.ts';

const LEASE_MS = 10 * 60_000;
const PAGE = 4096;

export interface GcContext {
  db: ImageDb;
  root: string;
  owner: string;
  now: () => number;
  log: ImageStoreLog;
  packs: PackReader;
  packSize: number;
  manifestsDir: string;
  /** A local path holding the snapshot's manifest (fetched from remote block storage when needed). */
  manifestPath(snapshotId: string): Promise<string>;
  /** Where packs and manifests are kept (blocks/blockPlacement.ts). */
  placement: BlockPlacement;
}

export async function collectGarbage(ctx: GcContext, options: GcOptions = {}): Promise<GcReport> {
  const started = ctx.now();
  const generation = await acquireLease(ctx);
  const report: GcReport = {
    generation,
    markedBlocks: 0,
    sweptBlocks: 0,
    sweptBytes: 0,
    imagesPurged: 0,
    manifestsRemoved: 0,
    packsDeleted: 0,
    packsCompacted: 0,
    bytesFreed: 0,
    durationMs: 0,
  };
  try {
    const { marked, protectAbove, protectFrom } = await mark(ctx);
    report.markedBlocks = marked.count;
    await sweep(ctx, Math.min(generation, protectFrom), marked, protectAbove, report);
    await purgeImages(ctx, report);
    await removeOrphanManifests(ctx, report);
    await dropFinishedRunBlocks(ctx);
    if (options.compact ?? true) await compactPacks(ctx, options.compactBelow ?? 0.5, report, () => renewLease(ctx));
  } finally {
    await releaseCollectorLease(ctx.db, ctx.owner);
  }
  report.durationMs = ctx.now() - started;
  ctx.log.info({ ...report }, 'image store garbage collection done');
  return report;
}

/** Takes the collector lease and bumps the generation in one statement. */
async function acquireLease(ctx: GcContext): Promise<number> {
  const generation = await acquireCollectorLease(ctx.db, ctx.owner, ctx.now(), LEASE_MS);
  if (generation === undefined) throw new ImageStoreError('Busy', 'Another garbage collection of this image store is running.');
  return generation;
}

export async function renewLease(ctx: GcContext): Promise<void> {
  if (!(await renewCollectorLease(ctx.db, ctx.owner, ctx.now() + LEASE_MS))) throw new ImageStoreError('Busy', 'The garbage collection lease was lost; stopping.');
}

interface Marks {
  marked: BitSet;
  /** Blocks with a higher id may belong to an unfinished run. */
  protectAbove: number;
  /** Blocks stamped this generation or later may have been promised to an unfinished run. */
  protectFrom: number;
}

async function mark(ctx: GcContext): Promise<Marks> {
  const marked = new BitSet();
  let protectAbove = Infinity;
  let protectFrom = Infinity;
  // 1. Blocks committed by unfinished runs.
  for (const run of await writingRuns(ctx.db)) {
    protectAbove = Math.min(protectAbove, run.blockWatermark);
    protectFrom = Math.min(protectFrom, run.beginGeneration);
    for (const disk of run.disks) {
      for await (const page of runBlockPages(ctx.db, run.runSeq, disk.index)) {
        for (const row of page) if (row.blockId !== 0) marked.add(row.blockId);
      }
    }
  }
  // 2. Then the manifests of every image that is, or may still become through a run, referenced.
  for (const snap of await referencedSnapshots(ctx.db)) {
    await forEachManifestId(await ctx.manifestPath(snap.snapshotId), snap.manifestSha256, (id) => marked.add(id));
    await renewLease(ctx);
  }
  return { marked, protectAbove, protectFrom };
}

/** Deletes unmarked blocks stamped below `stampBelow` with ids up to `protectAbove`. */
async function sweep(ctx: GcContext, stampBelow: number, marked: BitSet, protectAbove: number, report: GcReport): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await blockStampsAfter(ctx.db, after, PAGE);
    if (rows.length === 0) break;
    after = rows.at(-1)!.blockId;
    const doomed = rows.filter((r) => !marked.has(r.blockId) && r.gen < stampBelow && r.blockId <= protectAbove).map((r) => r.blockId);
    if (doomed.length === 0) continue;
    // The stamp is checked again by the delete itself: a reference made since the page was read wins.
    const deleted = await deleteUnstampedBlocks(ctx.db, doomed, stampBelow);
    report.sweptBlocks += deleted.length;
    for (const storedLen of deleted) report.sweptBytes += RECORD_HEADER_SIZE + storedLen;
    await renewLease(ctx);
  }
}

/** Deleted images that no unfinished run builds on: rows first (one transaction), then their manifest files. */
async function purgeImages(ctx: GcContext, report: GcReport): Promise<void> {
  const purged = await ctx.db.transaction().execute((trx) => purgeDeletedImages(trx));
  report.imagesPurged = purged.amiIds.length;
  for (const snapshotId of purged.snapshotIds) {
    await ctx.placement.deleteManifest(snapshotId);
    report.manifestsRemoved++;
  }
}

/** Manifest files no snapshot and no unfinished run owns: left by a finish that crashed or lost a race. */
async function removeOrphanManifests(ctx: GcContext, report: GcReport): Promise<void> {
  // Listed before the database is read, like the files: a manifest written after that belongs to a run seen as writing.
  const files = readdirSync(ctx.manifestsDir);
  // Manifests in remote block storage count as files here (the local copies are only a cache).
  const remote = new Set(await ctx.placement.remoteManifestIds());
  const { known, writing } = await ctx.db.transaction().execute(async (trx) => {
    // Unfinished runs first, then snapshots: PostgreSQL reads each statement at its own moment (read committed), and
    // a run that finishes on another node between the two reads must be seen as writing or as a snapshot, never as
    // neither (its manifest would look orphaned). A run's finish commits its snapshots and its end in one transaction.
    const runs = await writingRuns(trx);
    const snaps = await allSnapshotIds(trx);
    return { known: new Set(snaps), writing: new Set(runs.flatMap((r) => r.disks.map((d) => d.snapshotId))) };
  });
  for (const snapshotId of remote) {
    if (writing.has(snapshotId) || known.has(snapshotId)) continue;
    await ctx.placement.deleteManifest(snapshotId);
    report.manifestsRemoved++;
  }
  for (const file of files) {
    const match = /^(snap-[0-9a-f]{17})\.manifest(\.tmp-[0-9a-f]+)?$/.exec(file);
    if (!match) continue;
    const snapshotId = match[1]!;
    const temporary = match[2] !== undefined;
    if (writing.has(snapshotId)) continue;
    if (!temporary && known.has(snapshotId)) continue;
    if (!temporary && remote.has(snapshotId)) continue; // removed above, with its remote copy
    rmSync(join(ctx.manifestsDir, file), { force: true });
    report.manifestsRemoved++;
  }
}

async function dropFinishedRunBlocks(ctx: GcContext): Promise<void> {
  for (const runSeq of await overRunsWithBlocks(ctx.db)) await deleteRunBlocks(ctx.db, runSeq);
}
