/**
 * Raw disks read directly with fs: a raw image, or the flat extent of a monolithicFlat / vmfs VMDK (at an
 * offset inside the extent file). Reads go straight into the caller's buffer with FileHandle.read.
 *
 * Extents: Node has no SEEK_DATA/SEEK_HOLE, so `qemu-img map -f raw` is run once per extents() call; it walks
 * the file with SEEK_DATA/SEEK_HOLE (cheap: metadata only) and reports holes as zero. That keeps holes of sparse
 * raw files from being read at all. Written zeros show up as data; the engine finds zero blocks by content.
 * qemu-img is started by the launcher (lib/launcher.ts) with the map collected whole, up to MAP_BUFFER bytes: a
 * fork of the service itself took about 20 ms of the plan's 45 here. A map larger than that (a very fragmented
 * file) is streamed from a qemu-img of the service's own, as before, so it never needs to be in memory whole.
 */
import type { FileHandle } from 'node:fs/promises';
import { DiskError, type DiskFormat, type DiskSource, type Extent } from './diskSource.ts';
import { openChecked, type Confinement } from './confine.ts';
import { qemuImgMap, type QemuMapEntry } from './qemuTools.ts';
import { launch } from '../../lib/launcher.ts';
import { DirectReader } from './directReads.ts';

/** The most map output collected through the launcher: about 28,000 extents. */
const MAP_BUFFER = 4 * 1024 * 1024;

export interface RawSourceOptions {
  /** The file holding the bytes (the flat extent for a VMDK; else `path`). */
  dataPath: string;
  /** Where byte 0 of the disk is inside dataPath. */
  dataOffset: number;
  size: number;
  format: DiskFormat;
  /** The datastore dataPath must be in (checked on the open file, see confine.ts). */
  confine?: Confinement;
}

export class RawFileSource implements DiskSource {
  readonly size: number;
  readonly format: DiskFormat;
  /** The path the disk was opened as (a VMDK descriptor for flat VMDKs). */
  readonly path: string;
  readonly dataPath: string;
  readonly #dataOffset: number;
  readonly #handle: FileHandle;
  readonly #reader: DirectReader;
  #bytesRead = 0;
  #closed = false;

  private constructor(path: string, handle: FileHandle, reader: DirectReader, options: RawSourceOptions) {
    this.path = path;
    this.#handle = handle;
    this.#reader = reader;
    this.dataPath = options.dataPath;
    this.#dataOffset = options.dataOffset;
    this.size = options.size;
    this.format = options.format;
  }

  static async open(path: string, options: RawSourceOptions): Promise<RawFileSource> {
    let handle: FileHandle;
    try {
      handle = await openChecked(options.confine, options.dataPath);
    } catch (error) {
      if (error instanceof DiskError) throw error;
      throw new DiskError(options.dataPath, `cannot open: ${(error as Error).message}`, { cause: error });
    }
    const { size: fileSize } = await handle.stat();
    if (fileSize < options.dataOffset + options.size) {
      await handle.close();
      throw new DiskError(options.dataPath, `truncated: ${fileSize} bytes, the disk needs ${options.dataOffset + options.size}`);
    }
    return new RawFileSource(path, handle, await DirectReader.of(handle), options);
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  async *extents(): AsyncGenerator<Extent> {
    const start = this.#dataOffset;
    const end = start + this.size;
    let pos = 0;
    let pending: Extent | undefined;
    const emit = (extent: Extent): Extent | undefined => {
      if (pending && pending.zero === extent.zero) {
        pending.length += extent.length;
        return undefined;
      }
      const out = pending;
      pending = { ...extent };
      return out;
    };
    for await (const entry of this.#map()) {
      const from = Math.max(entry.start, start);
      const to = Math.min(entry.start + entry.length, end);
      if (to <= from) {
        if (entry.start >= end) break;
        continue;
      }
      const out = emit({ offset: from - start, length: to - from, zero: entry.zero && !entry.data });
      if (out) yield out;
      pos = to - start;
    }
    if (pos < this.size) {
      // The map ended early (file shorter than the disk cannot happen after open(), but stay total): data.
      const out = emit({ offset: pos, length: this.size - pos, zero: false });
      if (out) yield out;
    }
    if (pending) yield pending;
  }

  /**
   * The map of the file this source has open (not of whatever the path names now). Anything but a whole, parsed map
   * from the launcher (too large, qemu-img failing or missing) goes the streamed way, which also reports the error.
   */
  async *#map(): AsyncGenerator<QemuMapEntry> {
    const open = `/proc/${process.pid}/fd/${this.#handle.fd}`;
    const result = await launch('qemu-img', ['map', '--output=json', '-f', 'raw', open], { maxBuffer: MAP_BUFFER, timeoutMs: 120_000 });
    let entries: unknown;
    try {
      entries = result.code === 0 ? JSON.parse(result.stdout) : undefined;
    } catch {
      entries = undefined;
    }
    if (Array.isArray(entries)) yield* entries as QemuMapEntry[];
    else yield* qemuImgMap(this.dataPath, 'raw', { fd: this.#handle.fd });
  }

  changedExtents(): undefined {
    return undefined;
  }

  readsWholeFile(): void {
    this.#reader.readsWholeFile();
  }

  async read(offset: number, length: number, target: Buffer): Promise<void> {
    if (this.#closed) throw new DiskError(this.path, 'read after close');
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read ${offset}+${length} outside the disk (size ${this.size})`);
    }
    if (target.length < length) throw new RangeError(`target buffer too small for ${length} bytes`);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = await this.#reader.read(target, done, length - done, this.#dataOffset + offset + done);
      } catch (error) {
        throw new DiskError(this.dataPath, `read of ${length} bytes at ${offset} failed: ${(error as Error).message}`, { cause: error });
      }
      if (n === 0) throw new DiskError(this.dataPath, `unexpected end of file reading ${length} bytes at ${offset} (file truncated?)`);
      done += n;
      this.#bytesRead += n;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#reader.close();
    await this.#handle.close();
  }
}
