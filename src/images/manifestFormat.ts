/** What both manifest formats share: their reader interface, entry shapes, errors and byte helpers (see manifest.ts). */
import type { FileHandle } from 'node:fs/promises';

export const MANIFEST_HEADER = 64;
export const MANIFEST_TRAILER = 32;
/** Entries per buffered read or write: 512 KiB of block ids. */
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

/** Non-zero entries in block order: `indexes[i]` holds block `ids[i]`. */
export interface ManifestEntries {
  indexes: Float64Array;
  ids: Float64Array;
}

export interface ManifestReader {
  readonly path: string;
  readonly version: 1 | 2;
  readonly sizeBytes: number;
  readonly blockCount: number;
  readonly dataBlocks: number;
  /** Identifies this version of the file (to remember that it was verified). */
  fingerprint(): Promise<string>;
  /** The block id at one block index (0 = zero). */
  entry(blockIndex: number): Promise<number>;
  /** The non-zero entries with block indexes in [start, end). */
  dataEntries(start: number, end: number): Promise<ManifestEntries>;
  /** Every non-zero entry in order, a chunk at a time; the last step checks the checksum (and `expectedSha256`). */
  chunks(expectedSha256?: string): AsyncGenerator<ManifestEntries>;
  /** Reads the whole manifest once and checks it against its checksum and the expected one. */
  verify(expectedSha256?: string): Promise<void>;
  close(): Promise<void>;
}

/** Reads exactly `length` bytes at `position` into the start of `buffer`, or fails naming the manifest. */
export async function readExactly(file: FileHandle, path: string, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new ManifestError(path, 'short read');
    done += bytesRead;
  }
}

/** A u64 stored as two u32 halves (block ids stay below 2^53). */
export function readId(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}

export function writeId(buffer: Buffer, at: number, id: number): void {
  buffer.writeUInt32LE(id % 0x1_0000_0000, at);
  buffer.writeUInt32LE(Math.floor(id / 0x1_0000_0000), at + 4);
}

export function checkRange(path: string, blockCount: number, start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > blockCount) {
    throw new RangeError(`block range [${start}, ${end}) is outside 0..${blockCount} of manifest ${path}`);
  }
}

export function checkIndex(blockCount: number, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= blockCount) throw new RangeError(`block index ${index} is outside 0..${blockCount - 1}`);
}

/** The counts every manifest version's header carries at the same offsets. */
export function headerCounts(header: Buffer): { sizeBytes: number; blockCount: number; dataBlocks: number } {
  return { sizeBytes: header.readUIntLE(16, 6), blockCount: header.readUIntLE(24, 6), dataBlocks: header.readUIntLE(32, 6) };
}

export async function fileFingerprint(file: FileHandle): Promise<string> {
  const stat = await file.stat({ bigint: true });
  return `${stat.dev}:${stat.ino}:${stat.mtimeNs}:${stat.size}`;
}
