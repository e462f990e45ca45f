/**
 * Manifest format 2: only the non-zero blocks, as their block ids in block order plus a table of the runs of
 * consecutive data blocks they fill, so size and every pass follow the disk's data (a 64 TiB disk holding three
 * blocks has a 144-byte manifest) and a lookup is a binary search over the runs.
 *
 * Layout (little-endian):
 *   header 64 B = 'FRYMNF02' | u32 version (2) | u32 block size | u64 disk size | u64 block count |
 *                 u64 data blocks | u64 runs | zero
 *   ids         = data blocks × u64 block id (never 0), in block-index order
 *   runs        = runs × (u32 first block index, u32 position of its first id in `ids`): maximal runs of consecutive
 *                 data blocks, ascending; a run's length is the next run's position (or data blocks) minus its own
 *   trailer     = SHA-256(header | SHA-256(ids) | SHA-256(runs))  — the two sections hash separately, so a reader
 *                 can stream them side by side.
 * Block indexes fit u32: the store takes disks up to 64 TiB (2^27 blocks); the format holds up to 2 PiB.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import {
  MANIFEST_CHUNK,
  MANIFEST_HEADER,
  MANIFEST_TRAILER,
  ManifestError,
  checkRange,
  fileFingerprint,
  readExactly,
  readId,
  writeId,
  checkIndex,
  headerCounts,
  type ManifestEntries,
  type ManifestReader,
  type ManifestSummary,
} from './manifestFormat.ts';
import { fsyncDirectory } from './packFile.ts';

const MAGIC = Buffer.from('FRYMNF02', 'latin1');
const VERSION = 2;
const ID = 8;
const RUN = 8;
/** The largest block index the u32 fields hold, plus one. */
const MAX_BLOCKS = 0x1_0000_0000;
/** Runs per cached page of the run table (4 KiB), and how many pages a reader keeps. */
const RUN_PAGE = 512;
const CACHED_PAGES = 16;

function headerOf(sizeBytes: number, blockCount: number, dataBlocks: number, runs: number): Buffer {
  const header = Buffer.alloc(MANIFEST_HEADER);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(IMAGE_BLOCK_SIZE, 12);
  header.writeUIntLE(sizeBytes, 16, 6);
  header.writeUIntLE(blockCount, 24, 6);
  header.writeUIntLE(dataBlocks, 32, 6);
  header.writeUIntLE(runs, 40, 6);
  return header;
}

function trailerOf(header: Buffer, idsDigest: Buffer, runsDigest: Buffer): Buffer {
  return createHash('sha256').update(header).update(idsDigest).update(runsDigest).digest();
}

/** Streams a new manifest: push the non-zero blocks in ascending block order, then finish. */
export class ManifestWriter {
  readonly #path: string;
  readonly #tmp: string;
  readonly #fd: number;
  readonly #sizeBytes: number;
  readonly #blockCount: number;
  readonly #buffer = Buffer.alloc(MANIFEST_CHUNK * ID);
  readonly #idsHash: Hash = createHash('sha256');
  /** first index, id position, … of every run so far (8 bytes a run: memory follows the data's fragmentation). */
  #runs = new Uint32Array(1024);
  #runCount = 0;
  #buffered = 0;
  #written = 0;
  #nextIndex = 0;

  constructor(path: string, sizeBytes: number, blockCount: number) {
    if (blockCount > MAX_BLOCKS || blockCount !== Math.ceil(sizeBytes / IMAGE_BLOCK_SIZE)) throw new Error(`a manifest cannot describe ${sizeBytes} bytes in ${blockCount} blocks`);
    this.#path = path;
    this.#tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    this.#sizeBytes = sizeBytes;
    this.#blockCount = blockCount;
    this.#fd = openSync(this.#tmp, 'w', 0o600);
  }

  /** Block `blockIndex` holds block `blockId`; indexes come in ascending order, and an id of 0 (zero) is skipped. */
  push(blockIndex: number, blockId: number): void {
    if (blockId === 0) return;
    if (!Number.isSafeInteger(blockIndex) || blockIndex < this.#nextIndex || blockIndex >= this.#blockCount) {
      throw new Error(`manifest entry for block ${blockIndex} is out of order or outside 0..${this.#blockCount - 1}`);
    }
    const position = this.#written + this.#buffered;
    if (this.#runCount === 0 || blockIndex !== this.#nextIndex) this.#startRun(blockIndex, position);
    writeId(this.#buffer, this.#buffered * ID, blockId);
    this.#nextIndex = blockIndex + 1;
    if (++this.#buffered === MANIFEST_CHUNK) this.#drain();
  }

  /** Completes the file and puts it in place durably. */
  finish(): ManifestSummary {
    this.#drain();
    const runsHash = createHash('sha256');
    const runsAt = MANIFEST_HEADER + this.#written * ID;
    const chunk = Buffer.alloc(Math.min(this.#runCount, MANIFEST_CHUNK) * RUN);
    for (let start = 0; start < this.#runCount; start += MANIFEST_CHUNK) {
      const count = Math.min(MANIFEST_CHUNK, this.#runCount - start);
      for (let i = 0; i < 2 * count; i++) chunk.writeUInt32LE(this.#runs[2 * start + i]!, i * 4);
      writeAll(this.#fd, chunk.subarray(0, count * RUN), runsAt + start * RUN);
      runsHash.update(chunk.subarray(0, count * RUN));
    }
    const runsDigest = runsHash.digest();
    const header = headerOf(this.#sizeBytes, this.#blockCount, this.#written, this.#runCount);
    const trailer = trailerOf(header, this.#idsHash.digest(), runsDigest);
    writeAll(this.#fd, trailer, runsAt + this.#runCount * RUN);
    writeAll(this.#fd, header, 0);
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    renameSync(this.#tmp, this.#path);
    fsyncDirectory(dirname(this.#path));
    return { sha256: trailer.toString('hex'), blockCount: this.#blockCount, dataBlocks: this.#written };
  }

  abort(): void {
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
    rmSync(this.#tmp, { force: true });
  }

  #startRun(first: number, position: number): void {
    if (2 * this.#runCount + 2 > this.#runs.length) {
      const grown = new Uint32Array(this.#runs.length * 2);
      grown.set(this.#runs);
      this.#runs = grown;
    }
    this.#runs[2 * this.#runCount] = first;
    this.#runs[2 * this.#runCount + 1] = position;
    this.#runCount++;
  }

  #drain(): void {
    if (this.#buffered === 0) return;
    const bytes = this.#buffered * ID;
    writeAll(this.#fd, this.#buffer.subarray(0, bytes), MANIFEST_HEADER + this.#written * ID);
    this.#idsHash.update(this.#buffer.subarray(0, bytes));
    this.#written += this.#buffered;
    this.#buffered = 0;
  }
}

function writeAll(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

export function openManifestV2(path: string, file: FileHandle, header: Buffer, fileSize: number): ManifestReader {
  if (header.readUInt32LE(8) !== VERSION) throw new ManifestError(path, `unknown version ${header.readUInt32LE(8)}`);
  const reader = new ManifestV2Reader(path, file, header);
  const { blockCount, dataBlocks, sizeBytes } = reader;
  if (blockCount !== Math.ceil(sizeBytes / IMAGE_BLOCK_SIZE) || blockCount > MAX_BLOCKS || dataBlocks > blockCount || reader.runs > dataBlocks || (reader.runs === 0) !== (dataBlocks === 0)) {
    throw new ManifestError(path, 'inconsistent header');
  }
  if (fileSize !== MANIFEST_HEADER + dataBlocks * ID + reader.runs * RUN + MANIFEST_TRAILER) throw new ManifestError(path, `unexpected length ${fileSize}`);
  return reader;
}

class StructureError extends ManifestError {}

/** Reads one section of the file front to back in large chunks, hashing it; entries are read synchronously. */
class SectionCursor {
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #end: number;
  readonly #buffer: Buffer;
  readonly hash: Hash = createHash('sha256');
  #next: number;
  #filled = 0;
  #at = 0;

  constructor(file: FileHandle, path: string, start: number, length: number, chunkBytes: number) {
    this.#file = file;
    this.#path = path;
    this.#next = start;
    this.#end = start + length;
    this.#buffer = Buffer.alloc(Math.min(chunkBytes, Math.max(length, 8)));
  }

  get empty(): boolean {
    return this.#at === this.#filled;
  }

  /** Bytes of the section not read from the file yet. */
  get remaining(): number {
    return this.#end - this.#next;
  }

  async refill(): Promise<void> {
    const length = Math.min(this.#buffer.length, this.#end - this.#next);
    if (length <= 0) throw new ManifestError(this.#path, 'a section ends early (corrupt structure)');
    await readExactly(this.#file, this.#path, this.#buffer, length, this.#next);
    this.hash.update(this.#buffer.subarray(0, length));
    this.#next += length;
    this.#filled = length;
    this.#at = 0;
  }

  /** Eight bytes: one id, or one run (first index, position). */
  take(): number {
    const at = this.#at;
    this.#at += 8;
    return at;
  }

  get buffer(): Buffer {
    return this.#buffer;
  }
}

class ManifestV2Reader implements ManifestReader {
  readonly path: string;
  readonly version = 2 as const;
  readonly sizeBytes: number;
  readonly blockCount: number;
  readonly dataBlocks: number;
  readonly runs: number;
  readonly #file: FileHandle;
  readonly #header: Buffer;
  readonly #pages = new Map<number, Uint32Array>();

  constructor(path: string, file: FileHandle, header: Buffer) {
    this.path = path;
    this.#file = file;
    this.#header = header;
    ({ sizeBytes: this.sizeBytes, blockCount: this.blockCount, dataBlocks: this.dataBlocks } = headerCounts(header));
    this.runs = header.readUIntLE(40, 6);
  }

  fingerprint(): Promise<string> {
    return fileFingerprint(this.#file);
  }

  async entry(index: number): Promise<number> {
    checkIndex(this.blockCount, index);
    const run = await this.#runAtOrBefore(index);
    if (run < 0) return 0;
    const [first, position] = await this.#run(run);
    if (index >= first + (await this.#runLength(run))) return 0;
    const buffer = Buffer.alloc(ID);
    await readExactly(this.#file, this.path, buffer, ID, MANIFEST_HEADER + (position + index - first) * ID);
    return readId(buffer, 0);
  }

  async dataEntries(start: number, end: number): Promise<ManifestEntries> {
    checkRange(this.path, this.blockCount, start, end);
    const indexes: number[] = [];
    let firstPosition = -1;
    let run = Math.max(0, await this.#runAtOrBefore(start));
    for (; run < this.runs; run++) {
      const [first, position] = await this.#run(run);
      if (first >= end) break;
      const from = Math.max(start, first);
      const to = Math.min(end, first + (await this.#runLength(run)));
      if (from >= to) continue;
      // The data entries of a block range are contiguous in `ids`: one read for all of them.
      if (firstPosition < 0) firstPosition = position + (from - first);
      for (let i = from; i < to; i++) indexes.push(i);
    }
    const ids = new Float64Array(indexes.length);
    if (indexes.length > 0) {
      const buffer = Buffer.alloc(indexes.length * ID);
      await readExactly(this.#file, this.path, buffer, buffer.length, MANIFEST_HEADER + firstPosition * ID);
      for (let i = 0; i < ids.length; i++) ids[i] = readId(buffer, i * ID);
    }
    return { indexes: Float64Array.from(indexes), ids };
  }

  async *chunks(expectedSha256?: string): AsyncGenerator<ManifestEntries> {
    try {
      yield* this.#checkedChunks(expectedSha256);
    } catch (thrown) {
      // A damaged file usually shows as a broken structure before its checksum is known: say what it is.
      if (thrown instanceof StructureError) await this.#checkChecksum(expectedSha256);
      throw thrown;
    }
  }

  async *#checkedChunks(expectedSha256: string | undefined): AsyncGenerator<ManifestEntries> {
    const corrupt = (why: string) => new StructureError(this.path, `corrupt structure (${why})`);
    const ids = new SectionCursor(this.#file, this.path, MANIFEST_HEADER, this.dataBlocks * ID, MANIFEST_CHUNK * ID);
    const runs = new SectionCursor(this.#file, this.path, MANIFEST_HEADER + this.dataBlocks * ID, this.runs * RUN, MANIFEST_CHUNK * RUN);
    let out: ManifestEntries = { indexes: new Float64Array(MANIFEST_CHUNK), ids: new Float64Array(MANIFEST_CHUNK) };
    let filled = 0;
    let previousEnd = -1;
    let run: { first: number; position: number } | undefined;
    if (this.runs > 0) {
      await runs.refill();
      const at = runs.take();
      run = { first: runs.buffer.readUInt32LE(at), position: runs.buffer.readUInt32LE(at + 4) };
      if (run.position !== 0) throw corrupt('the first run does not start at the first id');
    }
    for (let r = 0; r < this.runs; r++) {
      let next: { first: number; position: number } | undefined;
      if (r + 1 < this.runs) {
        if (runs.empty) await runs.refill();
        const at = runs.take();
        next = { first: runs.buffer.readUInt32LE(at), position: runs.buffer.readUInt32LE(at + 4) };
      }
      const { first, position } = run!;
      const length = (next?.position ?? this.dataBlocks) - position;
      if (length <= 0 || first <= previousEnd || first + length > this.blockCount) throw corrupt(`run ${r} is empty, overlaps or leaves the disk`);
      previousEnd = first + length;
      for (let i = 0; i < length; i++) {
        if (ids.empty) await ids.refill();
        const id = readId(ids.buffer, ids.take());
        if (id === 0) throw corrupt('a listed block is zero');
        out.indexes[filled] = first + i;
        out.ids[filled] = id;
        if (++filled === MANIFEST_CHUNK) {
          yield out;
          out = { indexes: new Float64Array(MANIFEST_CHUNK), ids: new Float64Array(MANIFEST_CHUNK) };
          filled = 0;
        }
      }
      run = next;
    }
    if (ids.remaining > 0) throw corrupt('ids left over after the last run');
    await this.#compareTrailer(trailerOf(this.#header, ids.hash.digest(), runs.hash.digest()), expectedSha256);
    if (filled > 0) yield { indexes: out.indexes.subarray(0, filled), ids: out.ids.subarray(0, filled) };
  }

  async verify(expectedSha256?: string): Promise<void> {
    for await (const _chunk of this.chunks(expectedSha256)) {
      // reading is the check
    }
  }

  /** Hashes both sections whole and compares the trailer: the checksum check alone, without the structure's. */
  async #checkChecksum(expectedSha256: string | undefined): Promise<void> {
    const digests: Buffer[] = [];
    for (const [start, length] of [
      [MANIFEST_HEADER, this.dataBlocks * ID],
      [MANIFEST_HEADER + this.dataBlocks * ID, this.runs * RUN],
    ] as const) {
      const section = new SectionCursor(this.#file, this.path, start, length, MANIFEST_CHUNK * ID);
      while (section.remaining > 0) await section.refill();
      digests.push(section.hash.digest());
    }
    await this.#compareTrailer(trailerOf(this.#header, digests[0]!, digests[1]!), expectedSha256);
  }

  async #compareTrailer(digest: Buffer, expectedSha256: string | undefined): Promise<void> {
    const trailer = Buffer.alloc(MANIFEST_TRAILER);
    await readExactly(this.#file, this.path, trailer, MANIFEST_TRAILER, MANIFEST_HEADER + this.dataBlocks * ID + this.runs * RUN);
    if (!trailer.equals(digest)) throw new ManifestError(this.path, 'checksum mismatch (the file was altered)');
    if (expectedSha256 !== undefined && digest.toString('hex') !== expectedSha256) {
      throw new ManifestError(this.path, 'checksum differs from the one recorded for the snapshot (wrong file)');
    }
  }

  close(): Promise<void> {
    return this.#file.close();
  }

  /** The last run starting at or before `index` (-1: none). */
  async #runAtOrBefore(index: number): Promise<number> {
    let low = 0;
    let high = this.runs - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((await this.#run(mid))[0] <= index) low = mid + 1;
      else high = mid - 1;
    }
    return high;
  }

  async #runLength(run: number): Promise<number> {
    const end = run + 1 < this.runs ? (await this.#run(run + 1))[1] : this.dataBlocks;
    return end - (await this.#run(run))[1];
  }

  /** [first block index, id position] of a run, through a small cache of run-table pages. */
  async #run(run: number): Promise<[number, number]> {
    const pageIndex = Math.floor(run / RUN_PAGE);
    let page = this.#pages.get(pageIndex);
    if (!page) {
      const count = Math.min(RUN_PAGE, this.runs - pageIndex * RUN_PAGE);
      const buffer = Buffer.alloc(count * RUN);
      await readExactly(this.#file, this.path, buffer, buffer.length, MANIFEST_HEADER + this.dataBlocks * ID + pageIndex * RUN_PAGE * RUN);
      page = new Uint32Array(count * 2);
      for (let i = 0; i < page.length; i++) page[i] = buffer.readUInt32LE(i * 4);
      this.#pages.set(pageIndex, page);
      if (this.#pages.size > CACHED_PAGES) this.#pages.delete(this.#pages.keys().next().value!);
    }
    const at = (run - pageIndex * RUN_PAGE) * 2;
    return [page[at]!, page[at + 1]!];
  }
}
