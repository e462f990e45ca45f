/**
 * Snapshot manifests: for every block index of a disk, the id of the block it holds (0 = zero). Fixed-size
 * entries, so any block is one positioned read away, and a 1 TiB disk's manifest is 16 MiB. Written to a temporary
 * name, fsynced and renamed, so a manifest either exists whole or not at all; a trailing SHA-256 (also kept in the
 * snapshot's row) catches a damaged or swapped file before it can point a read at the wrong block.
 *
 * Layout (little-endian): header 64 B = 'FRYMNF01' | u32 version (1) | u32 block size | u64 disk size |
 * u64 block count | u64 data blocks | zero; then block count × u64 block id; then the SHA-256 of the entries.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import { fsyncDirectory } from './packFile.ts';

const MAGIC = Buffer.from('FRYMNF01', 'latin1');
const HEADER = 64;
const ENTRY = 8;
const TRAILER = 32;
/** Entries per buffered write or read: 512 KiB. */
export const MANIFEST_CHUNK = 65536;

export class ManifestError extends Error {
  constructor(path: string, why: string) {
    super(`Manifest ${path} is unusable: ${why}`);
    this.name = 'ManifestError';
  }
}

export interface ManifestSummary {
  sha256: string;
  blockCount: number;
  dataBlocks: number;
}

export class ManifestWriter {
  readonly #path: string;
  readonly #tmp: string;
  readonly #fd: number;
  readonly #sizeBytes: number;
  readonly #blockCount: number;
  readonly #buffer = Buffer.alloc(MANIFEST_CHUNK * ENTRY);
  readonly #hash: Hash = createHash('sha256');
  #buffered = 0;
  #written = 0;
  #dataBlocks = 0;

  constructor(path: string, sizeBytes: number, blockCount: number) {
    this.#path = path;
    this.#tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
    this.#sizeBytes = sizeBytes;
    this.#blockCount = blockCount;
    this.#fd = openSync(this.#tmp, 'w', 0o600);
    writeSync(this.#fd, Buffer.alloc(HEADER), 0, HEADER, 0);
  }

  push(blockId: number): void {
    const at = this.#buffered * ENTRY;
    this.#buffer.writeUInt32LE(blockId % 0x1_0000_0000, at);
    this.#buffer.writeUInt32LE(Math.floor(blockId / 0x1_0000_0000), at + 4);
    if (blockId !== 0) this.#dataBlocks++;
    if (++this.#buffered === MANIFEST_CHUNK) this.#drain();
  }

  /** Completes the file and puts it in place durably. */
  finish(): ManifestSummary {
    this.#drain();
    if (this.#written !== this.#blockCount) throw new Error(`manifest got ${this.#written} entries for ${this.#blockCount} blocks`);
    const digest = this.#hash.digest();
    writeSync(this.#fd, digest, 0, TRAILER, HEADER + this.#written * ENTRY);
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(1, 8);
    header.writeUInt32LE(IMAGE_BLOCK_SIZE, 12);
    header.writeUIntLE(this.#sizeBytes, 16, 6);
    header.writeUIntLE(this.#blockCount, 24, 6);
    header.writeUIntLE(this.#dataBlocks, 32, 6);
    writeSync(this.#fd, header, 0, HEADER, 0);
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    renameSync(this.#tmp, this.#path);
    fsyncDirectory(dirname(this.#path));
    return { sha256: digest.toString('hex'), blockCount: this.#blockCount, dataBlocks: this.#dataBlocks };
  }

  abort(): void {
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
    rmSync(this.#tmp, { force: true });
  }

  #drain(): void {
    if (this.#buffered === 0) return;
    const bytes = this.#buffered * ENTRY;
    writeSync(this.#fd, this.#buffer, 0, bytes, HEADER + this.#written * ENTRY);
    this.#hash.update(this.#buffer.subarray(0, bytes));
    this.#written += this.#buffered;
    this.#buffered = 0;
  }
}

export interface ManifestChunk {
  /** Block index of ids[0]. */
  start: number;
  ids: Float64Array;
}

export class ManifestReader {
  readonly path: string;
  readonly sizeBytes: number;
  readonly blockCount: number;
  readonly dataBlocks: number;
  readonly #file: FileHandle;

  private constructor(path: string, file: FileHandle, header: Buffer) {
    this.path = path;
    this.#file = file;
    this.sizeBytes = header.readUIntLE(16, 6);
    this.blockCount = header.readUIntLE(24, 6);
    this.dataBlocks = header.readUIntLE(32, 6);
  }

  static async open(path: string): Promise<ManifestReader> {
    const file = await open(path, 'r');
    try {
      const header = Buffer.alloc(HEADER);
      const { bytesRead } = await file.read(header, 0, HEADER, 0);
      if (bytesRead !== HEADER || !header.subarray(0, 8).equals(MAGIC)) throw new ManifestError(path, 'bad header');
      if (header.readUInt32LE(12) !== IMAGE_BLOCK_SIZE) throw new ManifestError(path, 'unexpected block size');
      const reader = new ManifestReader(path, file, header);
      const { size } = await file.stat();
      if (size !== HEADER + reader.blockCount * ENTRY + TRAILER) throw new ManifestError(path, `unexpected length ${size}`);
      return reader;
    } catch (thrown) {
      await file.close();
      throw thrown;
    }
  }

  /** Identifies this version of the file (to remember that it was verified). */
  async fingerprint(): Promise<string> {
    const stat = await this.#file.stat({ bigint: true });
    return `${stat.dev}:${stat.ino}:${stat.mtimeNs}:${stat.size}`;
  }

  /** The block id at one block index. */
  async entry(index: number): Promise<number> {
    if (!Number.isInteger(index) || index < 0 || index >= this.blockCount) throw new RangeError(`block index ${index} is outside 0..${this.blockCount - 1}`);
    const buffer = Buffer.alloc(ENTRY);
    await this.#file.read(buffer, 0, ENTRY, HEADER + index * ENTRY);
    return buffer.readUInt32LE(0) + buffer.readUInt32LE(4) * 0x1_0000_0000;
  }

  /** The block ids of `count` consecutive block indexes from `start` (clipped to the disk). */
  async entries(start: number, count: number): Promise<Float64Array> {
    const n = Math.max(0, Math.min(count, this.blockCount - start));
    const buffer = Buffer.alloc(n * ENTRY);
    const { bytesRead } = await this.#file.read(buffer, 0, buffer.length, HEADER + start * ENTRY);
    if (bytesRead !== buffer.length) throw new ManifestError(this.path, 'short read');
    const ids = new Float64Array(n);
    for (let i = 0; i < n; i++) ids[i] = buffer.readUInt32LE(i * ENTRY) + buffer.readUInt32LE(i * ENTRY + 4) * 0x1_0000_0000;
    return ids;
  }

  /** Every entry in order, a chunk at a time; the last step checks the trailer (and `expectedSha256` when given). */
  async *chunks(expectedSha256?: string, entriesPerChunk = MANIFEST_CHUNK): AsyncGenerator<ManifestChunk> {
    const buffer = Buffer.alloc(entriesPerChunk * ENTRY);
    const hash = createHash('sha256');
    for (let start = 0; start < this.blockCount; start += entriesPerChunk) {
      const count = Math.min(entriesPerChunk, this.blockCount - start);
      const bytes = count * ENTRY;
      const { bytesRead } = await this.#file.read(buffer, 0, bytes, HEADER + start * ENTRY);
      if (bytesRead !== bytes) throw new ManifestError(this.path, 'short read');
      hash.update(buffer.subarray(0, bytes));
      const ids = new Float64Array(count);
      for (let i = 0; i < count; i++) ids[i] = buffer.readUInt32LE(i * ENTRY) + buffer.readUInt32LE(i * ENTRY + 4) * 0x1_0000_0000;
      if (start + count >= this.blockCount) await this.#checkTrailer(hash.digest(), expectedSha256);
      yield { start, ids };
    }
    if (this.blockCount === 0) await this.#checkTrailer(hash.digest(), expectedSha256);
  }

  /** Reads the whole manifest once and checks it against its trailer and the expected checksum. */
  async verify(expectedSha256?: string): Promise<void> {
    for await (const _chunk of this.chunks(expectedSha256)) {
      // reading is the check
    }
  }

  close(): Promise<void> {
    return this.#file.close();
  }

  async #checkTrailer(digest: Buffer, expectedSha256: string | undefined): Promise<void> {
    const trailer = Buffer.alloc(TRAILER);
    await this.#file.read(trailer, 0, TRAILER, HEADER + this.blockCount * ENTRY);
    if (!trailer.equals(digest)) throw new ManifestError(this.path, 'checksum mismatch (the file was altered)');
    if (expectedSha256 !== undefined && digest.toString('hex') !== expectedSha256) {
      throw new ManifestError(this.path, 'checksum differs from the one recorded for the snapshot (wrong file)');
    }
  }
}
