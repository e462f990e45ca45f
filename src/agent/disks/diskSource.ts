/**
 * What the block engine reads a disk through, whatever its format. Implementations: raw files and flat VMDK
 * extents read directly; every other format through qemu-nbd over a Unix socket and Ferry's NBD client.
 */

/** The block size of the whole data plane (domain/blocks.ts). */
export { BLOCK_SIZE } from '../../domain/blocks.ts';

export type DiskFormat = 'raw' | 'vmdk' | 'qcow2' | 'vhdx' | 'vpc';

/** A byte range of the virtual disk. `zero` ranges read as zeros (holes or known-zero areas) and need no read. */
export interface Extent {
  offset: number;
  length: number;
  zero: boolean;
}

export interface DiskSource {
  /** Virtual size in bytes. */
  readonly size: number;
  readonly format: DiskFormat;
  /** Bytes actually read from the source so far (tests assert what incremental runs read). */
  readonly bytesRead: number;
  /**
   * Ordered, non-overlapping extents covering [0, size). A format without allocation information (VHDX) reports
   * one data extent for everything; zero blocks are then found by content.
   */
  extents(): AsyncIterable<Extent>;
  /**
   * Ranges changed since the dirty bitmap this source was opened with began recording, or undefined when the
   * source has no such bitmap (the engine then reads every allocated block and compares hashes).
   */
  changedExtents(): AsyncIterable<{ offset: number; length: number }> | undefined;
  /**
   * Optional: the caller is about to read every allocated block (a full read), so a source may choose how it reads
   * (a file already in the page cache is read from there, see directReads.ts).
   */
  readsWholeFile?(): void;
  /** Reads exactly `length` bytes at `offset` into `target[0..length)`. */
  read(offset: number, length: number, target: Buffer): Promise<void>;
  close(): Promise<void>;
}

export class DiskError extends Error {
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
    this.name = 'DiskError';
    this.path = path;
  }
}
