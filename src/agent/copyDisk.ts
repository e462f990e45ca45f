/**
 * The block engine for one disk: read the blocks that matter (allocated ones for a full run, changed ones for a
 * dirty-bitmap run), hash them in worker threads, ask the service which it lacks, send only those, and record
 * every block's hash so an interrupted run resumes where it stopped.
 *
 * Three batches are in flight: while one batch is being deduplicated and uploaded, the next is hashed and the one
 * after it read (a batch is read as soon as the reads of the one before are done, so the hash workers never wait
 * for a batch boundary); the recording of uploaded batches runs behind them. Memory is bounded by the three
 * batches' shared buffers (48 MiB), whatever the disk size.
 */
import { BLOCK_SIZE, type DiskSource } from './disks/diskSource.ts';
import { blocksOf, countBlocks, eachBlock, type BlockRange } from './blockRanges.ts';
import type { HashPool } from './hashPool.ts';
import type { BlockRecord, ConnectorTransport } from '../protocol/connector/messages.ts';
import { ParentComparison } from './parentComparison.ts';
import { mapConcurrently } from '../lib/concurrency.ts';
import { pageAlignedShared } from '../lib/alignedMemory.ts';

export const BATCH_BLOCKS = 32;
/**
 * Most blocks read with one call and hashed with one message per worker (4 MiB). Each call and each message wakes
 * a thread; on a busy machine every wake-up waits for a core, so a run made of 512 KiB steps slowed down many times
 * more than its CPU time grew (bench/README.md, "What limits it").
 */
const READ_PIECE_BLOCKS = 8;
/**
 * A hash diff's scan (digests only, its bytes never sent) reads up to 16 blocks at once, each such piece hashed
 * by both workers: fewer reads and completions on the main thread. Its main thread's CPU in the copy went from a
 * median 164 to 120 ms (engine bench, 9 rounds each on a busy machine, bench/README.md ninth pass); 32 saved less.
 */
const SCAN_PIECE_BLOCKS = 16;
const UPLOAD_CONCURRENCY = 4;
/** Records per recordBlocks call (a JSON body of about 80 kB over HTTP). */
const MAX_RECORDS_PER_CALL = 1024;
/**
 * A recordBlocks starts once this many blocks (64 MiB) have gathered, or a second after the last one started (a
 * slow or throttled upload still shows progress and commits for resume), and at the end. Each call makes the
 * blocks put so far durable (an fdatasync, then a commit): one call per 32-block batch was three syncs for a
 * 41 MiB incremental.
 */
const RECORD_EVERY_BLOCKS = 128;
const RECORD_EVERY_MS = 1000;

export interface CopyDiskJob {
  runId: string;
  diskIndex: number;
  source: DiskSource;
  /** `incremental` reads only `source.changedExtents()`; `full` reads every allocated block. */
  mode: 'full' | 'incremental';
  /** Blocks an earlier attempt of this run already committed. */
  committed: { has(blockIndex: number): boolean };
  /** The blocks to copy, when the caller planned them already (see plannedBlocks). */
  ranges?: BlockRange[];
  /**
   * Hash diff: the run's image is incremental over a parent disk of the same size, with this many blocks. Every
   * block read is compared with the parent's (diffBlocks) and only the ones that differ are sent and recorded,
   * as are the parent's data blocks that are now zero or holes (recorded as zeros).
   */
  compareWithParent?: { blockCount: number };
}

export interface CopyDiskStats {
  blocksConsidered: number;
  blocksSkippedAsCommitted: number;
  blocksRead: number;
  zeroBlocks: number;
  blocksSent: number;
  blocksDeduplicated: number;
  /** Blocks read that hold what the parent holds at the same index (hash diff): neither sent nor recorded. */
  blocksUnchanged: number;
  /** Hash diff: blocks read a second time, to be sent (they differ from the parent's). */
  blocksReadAgain: number;
  bytesSent: number;
}

export interface CopyDiskDeps {
  transport: ConnectorTransport;
  pool: HashPool;
  /** Called after each recordBlocks with the blocks done (recorded or skipped) out of the total. */
  onProgress?: (blocksDone: number, blocksTotal: number, bytesSent: number) => void;
  /** Waits as needed before `bytes` more are sent (bandwidth limit). */
  throttle?: (bytes: number) => Promise<void>;
  signal?: AbortSignal;
}

/** The block ranges a run must read from this disk. */
export async function plannedBlocks(source: DiskSource, mode: 'full' | 'incremental'): Promise<BlockRange[]> {
  if (mode === 'incremental') {
    const changed = source.changedExtents();
    if (!changed) throw new Error('An incremental copy needs a source opened with a dirty bitmap.');
    return blocksOf(changed);
  }
  source.readsWholeFile?.();
  return blocksOf(dataExtents(source));
}

async function* dataExtents(source: DiskSource): AsyncIterable<{ offset: number; length: number }> {
  for await (const extent of source.extents()) if (!extent.zero) yield extent;
}

interface HashedBlock {
  blockIndex: number;
  slot: number;
  sha256: Buffer | null;
}

class Batch {
  readonly shared: SharedArrayBuffer;
  readonly view: Buffer;
  constructor(blocks: number) {
    // Page-aligned, so a source's O_DIRECT reads can land in it (disks/directReads.ts).
    this.shared = pageAlignedShared(blocks * BLOCK_SIZE);
    this.view = Buffer.from(this.shared, 0, blocks * BLOCK_SIZE);
  }
  slot(i: number): Buffer {
    return this.view.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE);
  }
}

/**
 * Batches kept between copies: a fresh 16 MiB SharedArrayBuffer is zeroed memory the kernel must fault in page by
 * page as the first reads land in it, which was a noticeable share of a small incremental run.
 */
const sparedBatches: Batch[] = [];
const MAX_SPARED_BATCHES = 4;
const takeBatch = (): Batch => sparedBatches.pop() ?? new Batch(BATCH_BLOCKS);
/** Keeps a batch for the next copy, or drops it (the hash workers hold a reference until told to let go). */
const spareBatch = (batch: Batch, pool: HashPool): void => {
  if (sparedBatches.length < MAX_SPARED_BATCHES) sparedBatches.push(batch);
  else pool.forget(batch.shared);
};

export async function copyDisk(job: CopyDiskJob, deps: CopyDiskDeps): Promise<CopyDiskStats> {
  const { source } = job;
  const ranges = job.ranges ?? (await plannedBlocks(source, job.mode));
  const total = countBlocks(ranges);
  const stats: CopyDiskStats = {
    blocksConsidered: total,
    blocksSkippedAsCommitted: 0,
    blocksRead: 0,
    zeroBlocks: 0,
    blocksSent: 0,
    blocksDeduplicated: 0,
    blocksUnchanged: 0,
    blocksReadAgain: 0,
    bytesSent: 0,
  };
  const batches = [takeBatch(), takeBatch(), takeBatch()];
  let done = 0;

  // Records go to the service in the background, one recordBlocks at a time, once RECORD_EVERY_BLOCKS have
  // gathered (and at the end): the batches finished while one is in flight are recorded together by the next.
  // Each recordBlocks makes the blocks put so far durable (an fdatasync and a commit), so waiting for it after
  // every batch stalled the pipeline on the disk. A run interrupted before its blocks were recorded reads them
  // again on resume; progress counts recorded blocks only.
  let unrecorded: BlockRecord[] = [];
  let recording: Promise<void> | undefined;
  let recordFailure: { error: unknown } | undefined;
  let lastRecordAt = Date.now();
  const record = (records: BlockRecord[], now = false): void => {
    for (const r of records) unrecorded.push(r);
    if (!now && unrecorded.length < RECORD_EVERY_BLOCKS && Date.now() - lastRecordAt < RECORD_EVERY_MS) return;
    if (recording) return; // the call in flight picks these up when it is done
    lastRecordAt = Date.now();
    let ended = false;
    const flight = (async () => {
      try {
        while (unrecorded.length > 0 && !recordFailure) {
          const sending = unrecorded.slice(0, MAX_RECORDS_PER_CALL);
          unrecorded = unrecorded.slice(sending.length);
          await deps.transport.recordBlocks(job.runId, job.diskIndex, sending);
          done += sending.length;
          reportProgress();
        }
      } catch (error) {
        recordFailure = { error };
      } finally {
        ended = true;
        recording = undefined;
      }
    })();
    // A flight with nothing to send ends before this line: storing it then would leave a settled promise in
    // `recording` that nothing clears, and `while (recording) await recording` below would spin on it forever.
    if (!ended) recording = flight;
  };
  // (Hash diff: unchanged blocks are done without a record, and a recorded hole is not one of `total`.)
  const reportProgress = (): void => deps.onProgress?.(Math.min(total, done + stats.blocksSkippedAsCommitted + (comparison?.unchanged ?? 0)), total, stats.bytesSent);
  const throwIfRecordFailed = (): void => {
    if (recordFailure) throw recordFailure.error;
  };

  /** `counted`: the blocks' first read (a hash diff reads the blocks that differ a second time). */
  function readAndHash(batch: Batch, indexes: number[], counted: boolean): { read: Promise<void>; hashed: Promise<HashedBlock[]> } {
    deps.signal?.throwIfAborted();
    // Consecutive blocks land in consecutive slots, so each run of them is one read of up to READ_PIECE_BLOCKS
    // blocks (SCAN_PIECE_BLOCKS in a scan), hashed as soon as it has been read (hashing overlaps with the batch's
    // other reads).
    const pieces: { slot: number; count: number }[] = [];
    const most = counted && comparison ? SCAN_PIECE_BLOCKS : READ_PIECE_BLOCKS;
    for (let slot = 0; slot < indexes.length; slot++) {
      const last = pieces[pieces.length - 1];
      if (last && last.count < most && indexes[slot - 1]! + 1 === indexes[slot]!) last.count++;
      else pieces.push({ slot, count: 1 });
    }
    const reads = pieces.map(async ({ slot, count }) => {
      const offset = indexes[slot]! * BLOCK_SIZE;
      const length = Math.min(count * BLOCK_SIZE, source.size - offset);
      const target = batch.view.subarray(slot * BLOCK_SIZE, (slot + count) * BLOCK_SIZE);
      await source.read(offset, length, target);
      // The last block of a disk whose size is not a multiple of the block size is padded with zeros.
      if (length < count * BLOCK_SIZE) target.fill(0, length);
    });
    const digests = pieces.map(async ({ slot, count }, i) => {
      await reads[i];
      const offsets = Array.from({ length: count }, (_, j) => (slot + j) * BLOCK_SIZE);
      // One worker per piece: the batch's pieces are read side by side, so the workers take turns with them,
      // and splitting every piece would double the messages (each a thread wake-up). A scan's larger piece is
      // split, as two pieces would be.
      return deps.pool.digestMany(batch.shared, offsets, BLOCK_SIZE, count > READ_PIECE_BLOCKS ? 2 : 1);
    });
    const hashed = Promise.all(digests).then((done) => {
      if (counted) stats.blocksRead += indexes.length;
      else stats.blocksReadAgain += indexes.length;
      const flat = done.flat();
      return indexes.map((blockIndex, slot) => ({ blockIndex, slot, sha256: flat[slot]!.zero ? null : flat[slot]!.sha256 }));
    });
    const read = Promise.all(reads).then(() => undefined);
    // Both are awaited by the caller, the digests later; a failed read must not also surface as unhandled there.
    read.catch(() => {});
    hashed.catch(() => {});
    return { read, hashed };
  }

  // Hash diff: the blocks read are compared with the parent's in the background (parentComparison.ts); only the
  // ones that differ are read again, sent and recorded, and the parent's data that is zeros now is recorded as such.
  const comparison = job.compareWithParent
    ? new ParentComparison({ runId: job.runId, diskIndex: job.diskIndex, blockCount: job.compareWithParent.blockCount, committed: job.committed }, deps.transport, (zeros) =>
        record(zeros.map((blockIndex) => ({ blockIndex, sha256: null }))),
      )
    : undefined;

  async function upload(batch: Batch, blocks: HashedBlock[], scan: boolean): Promise<void> {
    deps.signal?.throwIfAborted();
    throwIfRecordFailed();
    if (scan && comparison) {
      await comparison.add(blocks.map((b) => ({ blockIndex: b.blockIndex, sha256: b.sha256 })));
      reportProgress();
      return;
    }
    const unique = new Map<string, HashedBlock>();
    let nonZero = 0;
    for (const block of blocks) {
      if (block.sha256 === null) {
        stats.zeroBlocks++;
        continue;
      }
      nonZero++;
      if (!unique.has(block.sha256.toString('hex'))) unique.set(block.sha256.toString('hex'), block);
    }
    const candidates = [...unique.values()];
    const missing = candidates.length ? await deps.transport.missingBlocks(job.runId, candidates.map((b) => b.sha256!)) : [];
    const toSend = candidates.filter((_, i) => missing[i]);
    stats.blocksDeduplicated += nonZero - toSend.length;
    // The slots themselves, not copies: a transport is done with the bytes when putBlocks settles, and this batch
    // is read into again only after the whole upload has settled. (A 512 KiB copy per block cost more than the
    // memcpy: fresh buffers made the store's pack writes several times slower, and fed the GC.)
    const outgoing = toSend.map((block) => ({ sha256: block.sha256!, data: batch.slot(block.slot) }));
    if (deps.throttle) {
      // A bandwidth limit paces block by block, a few in flight.
      await mapConcurrently(outgoing, UPLOAD_CONCURRENCY, async (block) => {
        await deps.throttle!(BLOCK_SIZE);
        await deps.transport.putBlocks(job.runId, [block]);
      });
    } else if (outgoing.length > 0) {
      await deps.transport.putBlocks(job.runId, outgoing);
    }
    stats.blocksSent += outgoing.length;
    stats.bytesSent += outgoing.length * BLOCK_SIZE;
    record(blocks.map((b) => ({ blockIndex: b.blockIndex, sha256: b.sha256 })));
  }

  let pendingUpload: Promise<void> = Promise.resolve();
  let spared = false;
  let turn = 0;
  let indexes: number[] = [];
  /** Per batch, settled once its last upload has (the memory may be read into again). */
  const free = new Map<Batch, Promise<unknown>>();
  let uploadFailure: { error: unknown } | undefined;
  /** `scan`: a hash diff's first read of these blocks (compared, not sent); otherwise they are sent as needed. */
  const flush = async (list: number[], scan = comparison !== undefined) => {
    const batch = batches[turn++ % batches.length]!;
    await free.get(batch);
    const { read, hashed } = readAndHash(batch, list, scan || !comparison);
    const previous = pendingUpload;
    // Uploads go one batch at a time, in order; each waits for its batch's digests.
    pendingUpload = (async () => {
      const blocks = await hashed;
      await previous;
      await upload(batch, blocks, scan);
    })();
    free.set(batch, pendingUpload.catch((error: unknown) => (uploadFailure ??= { error })));
    // The next batch is read as soon as this one's reads are done, while its blocks are still being hashed: the
    // workers never wait for a batch boundary.
    await read;
    if (uploadFailure) throw uploadFailure.error;
  };
  try {
    for (const blockIndex of eachBlock(ranges)) {
      if (job.committed.has(blockIndex)) {
        stats.blocksSkippedAsCommitted++;
        continue;
      }
      indexes.push(blockIndex);
      if (indexes.length === BATCH_BLOCKS) {
        await flush(indexes);
        indexes = [];
        // The blocks found to differ so far are read again and sent, a batch at a time, between the scan's batches.
        while (comparison && comparison.changed.length >= BATCH_BLOCKS) await flush(comparison.changed.splice(0, BATCH_BLOCKS), false);
      }
    }
    if (indexes.length) await flush(indexes);
    if (comparison) {
      await pendingUpload;
      await comparison.finish();
      while (comparison.changed.length > 0) await flush(comparison.changed.splice(0, BATCH_BLOCKS), false);
      stats.blocksUnchanged = comparison.unchanged;
    }
    await pendingUpload;
    record([], true);
    // Every read, digest and put of every batch has settled: they can serve the next copy. (After a failure some
    // read may still be landing in one, so they are left to the garbage collector.)
    for (const batch of batches) spareBatch(batch, deps.pool);
    spared = true;
  } finally {
    if (!spared) for (const batch of batches) deps.pool.forget(batch.shared);
    // Nothing of this disk's copy outlives it, not even after a failure.
    await comparison?.settle();
    while (recording) await recording;
  }
  throwIfRecordFailed();
  deps.onProgress?.(total, total, stats.bytesSent);
  return stats;
}
