/**
 * A hash diff against the parent image: which blocks of an incremental run's disk hold something other than the
 * parent snapshot's block at the same index. A connector without change tracking reads and hashes every allocated
 * block anyway; asking this first lets it send and record only the blocks that differ, where a `full` image asked
 * about and recorded every block of the disk (bench/README.md, "The hash diff's fixed steps cut").
 *
 * The connector describes a span of block indexes [start, end): the blocks it read, each with its plaintext SHA-256
 * (null: all zeros), and every other index of the span a hole. Each block's storage id is derived with the run's
 * sealer, as recordBlocks derives it, and compared with the storage id of the parent's block at that index; a zero
 * or a hole is the same as a parent hole. The parent's manifest is opened and verified once per run and disk, and
 * dropped when the run ends (or when too many runs hold one).
 */
import type { BlockSealer } from './blockSealer.ts';
import { sha256 } from './blockCodec.ts';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import type { ImageDb } from './db.ts';
import { ImageStoreError } from './errors.ts';
import { openManifest, type ManifestReader } from './manifest.ts';
import { runById, snapshotsOf, storageIdsOf } from '../store/images/index.ts';
import type { RecordedBlock } from './types.ts';

/** Blocks one comparison may list, and the widest span it may cover (32 GiB): the work and the answer stay bounded. */
export const MAX_DIFF_BLOCKS = 1024;
export const MAX_DIFF_SPAN = 65536;
/**
 * Parent manifests kept open at once: beyond it, the least recently used one that no call is reading is closed
 * (runs that end without finish or abandon here, e.g. taken over by another node, leave theirs until then).
 */
const MAX_OPEN_PARENTS = 256;
/**
 * Block indexes (4 GiB of disk) whose parent storage ids are looked up together and kept for the calls that follow:
 * one lookup of a few ids per call cost more in statements than in rows (bench/README.md, eighth pass).
 */
const WINDOW_BLOCKS = 8192;
const ZERO_BLOCK_SHA256 = sha256(Buffer.alloc(IMAGE_BLOCK_SIZE));

export interface DiffSpan {
  start: number;
  end: number;
  /** The blocks read in the span, in ascending index order; every other index of the span is a hole. */
  blocks: readonly RecordedBlock[];
}

interface ParentDisk {
  manifest: ManifestReader;
  blockCount: number;
  /** The parent's data blocks in [start, end): their indexes ascending, each with its storage id (null: none usable). */
  window?: { start: number; end: number; indexes: Float64Array; storageIds: (Buffer | null)[] };
}

interface OpenParent {
  opened: Promise<ParentDisk>;
  users: number;
  closing: boolean;
}

export class ParentDiffs {
  readonly #db: ImageDb;
  readonly #manifestPath: (snapshotId: string) => Promise<string>;
  /**
   * `runId/disk` → the parent snapshot's manifest, opened once (a promise, so concurrent calls share it), in order
   * of last use; `users`: calls reading it now (it is closed only when none is).
   */
  readonly #open = new Map<string, OpenParent>();

  constructor(db: ImageDb, manifestPath: (snapshotId: string) => Promise<string>) {
    this.#db = db;
    this.#manifestPath = manifestPath;
  }

  /** The indexes of the span whose content differs from the parent's, ascending. */
  async compare(runId: string, run: { keyId: number; sealer: BlockSealer }, diskIndex: number, span: DiffSpan): Promise<number[]> {
    const entry = this.#parentDisk(runId, diskIndex);
    entry.users++;
    try {
      return await this.#compare(await entry.opened, run, diskIndex, span);
    } finally {
      entry.users--;
      if (entry.closing && entry.users === 0) void closeQuietly(entry.opened);
    }
  }

  async #compare(parent: ParentDisk, run: { keyId: number; sealer: BlockSealer }, diskIndex: number, span: DiffSpan): Promise<number[]> {
    checkSpan(span, parent.blockCount, diskIndex);
    const mine = new Map<number, Buffer | undefined>();
    for (const block of span.blocks) {
      mine.set(block.blockIndex, block.sha256 === null || block.sha256.equals(ZERO_BLOCK_SHA256) ? undefined : run.sealer.storageId(block.sha256));
    }
    const window = await this.#window(parent, span, run.keyId);
    const differ = new Set<number>();
    const parentHas = new Set<number>();
    for (let i = firstAtOrAfter(window.indexes, span.start); i < window.indexes.length && window.indexes[i]! < span.end; i++) {
      const blockIndex = window.indexes[i]!;
      parentHas.add(blockIndex);
      const theirs = window.storageIds[i]!;
      const storageId = mine.get(blockIndex);
      if (!storageId || !theirs || !theirs.equals(storageId)) differ.add(blockIndex);
    }
    for (const [blockIndex, storageId] of mine) if (storageId && !parentHas.has(blockIndex)) differ.add(blockIndex);
    return [...differ].sort((a, b) => a - b);
  }

  /** The parent's storage ids over a window that holds the span, loaded when the span leaves the last one. */
  async #window(parent: ParentDisk, span: DiffSpan, keyId: number): Promise<NonNullable<ParentDisk['window']>> {
    const held = parent.window;
    if (held && held.start <= span.start && span.end <= held.end) return held;
    const start = span.start;
    const end = Math.min(parent.blockCount, Math.max(span.end, start + WINDOW_BLOCKS));
    const entries = await parent.manifest.dataEntries(start, end);
    const stored = await storageIdsOf(this.#db, [...new Set(entries.ids)]);
    // A parent block missing from the index or under another key cannot be the same block: it is recorded again.
    const storageIds = Array.from(entries.ids, (id) => {
      const block = stored.get(id);
      return block && block.keyId === keyId ? block.storageId : null;
    });
    parent.window = { start, end, indexes: entries.indexes, storageIds };
    return parent.window;
  }

  /** Closes what a run held (its image finished or was abandoned). */
  async drop(runId: string): Promise<void> {
    for (const [key, entry] of this.#open) if (key.startsWith(`${runId}/`)) await this.#release(key, entry);
  }

  async close(): Promise<void> {
    for (const [key, entry] of this.#open) await this.#release(key, entry);
  }

  /** Forgets an entry and closes its manifest now, or when the last call reading it is done. */
  async #release(key: string, entry: OpenParent): Promise<void> {
    this.#open.delete(key);
    entry.closing = true;
    if (entry.users === 0) await closeQuietly(entry.opened);
  }

  #parentDisk(runId: string, diskIndex: number): OpenParent {
    const key = `${runId}/${diskIndex}`;
    const held = this.#open.get(key);
    if (held) {
      // Most recently used last: the first entries are the ones to close.
      this.#open.delete(key);
      this.#open.set(key, held);
      return held;
    }
    if (this.#open.size >= MAX_OPEN_PARENTS) {
      const idle = [...this.#open].find(([, e]) => e.users === 0);
      if (idle) void this.#release(...idle);
    }
    const entry: OpenParent = { opened: this.#openParent(runId, diskIndex), users: 0, closing: false };
    // A failed open is not kept: the next call tries again (and reports the same refusal).
    entry.opened.catch(() => {
      if (this.#open.get(key) === entry) this.#open.delete(key);
    });
    this.#open.set(key, entry);
    return entry;
  }

  async #openParent(runId: string, diskIndex: number): Promise<ParentDisk> {
    const row = await runById(this.#db, runId);
    if (!row || row.state !== 'writing') throw new ImageStoreError('Conflict', `Run ${runId} is not being written.`);
    if (row.mode !== 'incremental' || row.parentAmiId === null) {
      throw new ImageStoreError('InvalidArgument', `Run ${runId} was not begun as an incremental image, so there is no parent to compare with.`);
    }
    const disk = row.disks.find((d) => d.index === diskIndex);
    if (!disk) throw new ImageStoreError('InvalidArgument', `Run ${runId} has no disk ${diskIndex}.`);
    const snapshot = (await snapshotsOf(this.#db, [row.parentAmiId])).get(row.parentAmiId)?.find((s) => s.diskIndex === diskIndex);
    if (!snapshot || snapshot.sizeBytes !== disk.sizeBytes) {
      throw new ImageStoreError('InvalidArgument', `Disk ${diskIndex} of run ${runId} cannot be compared with parent image ${row.parentAmiId}: ${snapshot ? 'its size changed' : 'the parent has no such disk'}.`);
    }
    const manifest = await openManifest(await this.#manifestPath(snapshot.snapshotId));
    try {
      await manifest.verify(snapshot.manifestSha256);
    } catch (thrown) {
      await manifest.close();
      throw thrown;
    }
    return { manifest, blockCount: disk.blockCount };
  }
}

/** The position of the first index ≥ `at` in ascending `indexes`. */
function firstAtOrAfter(indexes: Float64Array, at: number): number {
  let low = 0;
  let high = indexes.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (indexes[mid]! < at) low = mid + 1;
    else high = mid;
  }
  return low;
}

function checkSpan(span: DiffSpan, blockCount: number, diskIndex: number): void {
  const { start, end, blocks } = span;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start || end > blockCount) {
    throw new ImageStoreError('InvalidArgument', `The span [${start}, ${end}) is not a span of disk ${diskIndex}'s blocks (0..${blockCount}).`);
  }
  if (end - start > MAX_DIFF_SPAN) throw new ImageStoreError('InvalidArgument', `A span covers at most ${MAX_DIFF_SPAN} blocks, not ${end - start}.`);
  if (blocks.length > MAX_DIFF_BLOCKS) throw new ImageStoreError('InvalidArgument', `A span lists at most ${MAX_DIFF_BLOCKS} blocks, not ${blocks.length}.`);
  let last = start - 1;
  for (const { blockIndex } of blocks) {
    if (!Number.isInteger(blockIndex) || blockIndex <= last || blockIndex >= end) {
      throw new ImageStoreError('InvalidArgument', `Block ${blockIndex} is out of order or outside the span [${start}, ${end}).`);
    }
    last = blockIndex;
  }
}

async function closeQuietly(opened: Promise<ParentDisk>): Promise<void> {
  await opened.then((p) => p.manifest.close()).catch(() => {});
}
