/**
 * Manifest format 1, read for images made before format 2: one fixed-size entry per block index, zeros included,
 * so any block is one positioned read away, but size and every pass grow with the disk's virtual size (16 MiB per
 * TiB). Nothing writes it any more.
 *
 * Layout (little-endian): header 64 B = 'FRYMNF01' | u32 version (1) | u32 block size | u64 disk size |
 * u64 block count | u64 data blocks | zero; then block count × u64 block id (0 = zero); then the SHA-256 of the
 * entries.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import {
  MANIFEST_CHUNK,
  MANIFEST_HEADER,
  MANIFEST_TRAILER,
  ManifestError,
  checkRange,
  fileFingerprint,
  readExactly,
  readId,
  checkIndex,
  headerCounts,
  type ManifestEntries,
  type ManifestReader,
} from './manifestFormat.ts';

const ENTRY = 8;

export function openManifestV1(path: string, file: FileHandle, header: Buffer, fileSize: number): ManifestReader {
  const reader = new ManifestV1Reader(path, file, header);
  if (fileSize !== MANIFEST_HEADER + reader.blockCount * ENTRY + MANIFEST_TRAILER) throw new ManifestError(path, `unexpected length ${fileSize}`);
  return reader;
}

/** The non-zero entries among `count` raw entries read into `buffer`, the first at block index `start`. */
function nonZero(buffer: Buffer, start: number, count: number): ManifestEntries {
  let n = 0;
  for (let i = 0; i < count; i++) if (readId(buffer, i * ENTRY) !== 0) n++;
  const entries = { indexes: new Float64Array(n), ids: new Float64Array(n) };
  for (let i = 0, k = 0; i < count; i++) {
    const id = readId(buffer, i * ENTRY);
    if (id === 0) continue;
    entries.indexes[k] = start + i;
    entries.ids[k++] = id;
  }
  return entries;
}

class ManifestV1Reader implements ManifestReader {
  readonly path: string;
  readonly version = 1 as const;
  readonly sizeBytes: number;
  readonly blockCount: number;
  readonly dataBlocks: number;
  readonly #file: FileHandle;

  constructor(path: string, file: FileHandle, header: Buffer) {
    this.path = path;
    this.#file = file;
    ({ sizeBytes: this.sizeBytes, blockCount: this.blockCount, dataBlocks: this.dataBlocks } = headerCounts(header));
  }

  fingerprint(): Promise<string> {
    return fileFingerprint(this.#file);
  }

  async entry(index: number): Promise<number> {
    checkIndex(this.blockCount, index);
    const buffer = Buffer.alloc(ENTRY);
    await readExactly(this.#file, this.path, buffer, ENTRY, MANIFEST_HEADER + index * ENTRY);
    return readId(buffer, 0);
  }

  async dataEntries(start: number, end: number): Promise<ManifestEntries> {
    checkRange(this.path, this.blockCount, start, end);
    const buffer = Buffer.alloc((end - start) * ENTRY);
    await readExactly(this.#file, this.path, buffer, buffer.length, MANIFEST_HEADER + start * ENTRY);
    return nonZero(buffer, start, end - start);
  }

  async *chunks(expectedSha256?: string): AsyncGenerator<ManifestEntries> {
    const buffer = Buffer.alloc(MANIFEST_CHUNK * ENTRY);
    const hash = createHash('sha256');
    for (let start = 0; start < this.blockCount; start += MANIFEST_CHUNK) {
      const count = Math.min(MANIFEST_CHUNK, this.blockCount - start);
      await readExactly(this.#file, this.path, buffer, count * ENTRY, MANIFEST_HEADER + start * ENTRY);
      hash.update(buffer.subarray(0, count * ENTRY));
      const entries = nonZero(buffer, start, count);
      if (start + count >= this.blockCount) await this.#checkTrailer(hash.digest(), expectedSha256);
      yield entries;
    }
    if (this.blockCount === 0) await this.#checkTrailer(hash.digest(), expectedSha256);
  }

  async verify(expectedSha256?: string): Promise<void> {
    for await (const _chunk of this.chunks(expectedSha256)) {
      // reading is the check
    }
  }

  close(): Promise<void> {
    return this.#file.close();
  }

  async #checkTrailer(digest: Buffer, expectedSha256: string | undefined): Promise<void> {
    const trailer = Buffer.alloc(MANIFEST_TRAILER);
    await readExactly(this.#file, this.path, trailer, MANIFEST_TRAILER, MANIFEST_HEADER + this.blockCount * ENTRY);
    if (!trailer.equals(digest)) throw new ManifestError(this.path, 'checksum mismatch (the file was altered)');
    if (expectedSha256 !== undefined && digest.toString('hex') !== expectedSha256) {
      throw new ManifestError(this.path, 'checksum differs from the one recorded for the snapshot (wrong file)');
    }
  }
}
