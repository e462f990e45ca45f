/**
 * Pack files: append-only files of block records (see blockCodec.ts), about 128 MiB each, named by pack id.
 * Appends go through positional writes at an offset the writer tracks; nothing past a pack's indexed end is
 * trusted (a crashed writer's tail is cut off at recovery, see packRecovery.ts). appendAsync writes on libuv's
 * thread pool, so a writer's main thread never waits on the page cache (under writeback pressure a 512 KiB write
 * can take milliseconds of kernel time).
 *
 * Pack header (64 bytes): 'FRYPACK1' | u64 LE pack id | u64 LE created (ms) | zero. Packs written with O_DIRECT
 * (directIo.ts) pad the header with zeros to 4 KiB and give each record a 4 KiB multiple: either the record
 * followed by zeros, or (a block written from where it is, see writeDirect) zeros, then the record, so that its
 * payload starts on a 4 KiB boundary. Readers locate records through the index only, so all layouts read alike.
 */
import { closeSync, constants, fdatasync, fsyncSync, mkdirSync, openSync, statSync, write, writeSync, writev, writevSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alignUp, DIRECT_ALIGN, type DirectWriteBuffers } from './directIo.ts';
import { pageAligned } from '../lib/alignedMemory.ts';

export const PACK_HEADER_SIZE = 64;
const PACK_MAGIC = Buffer.from('FRYPACK1', 'latin1');

const fdatasyncAsync = promisify(fdatasync);
/** Most bytes one grouped append writes through the page cache (writes that are not direct). */
const BUFFERED_APPEND_BYTES = 8 * 1024 * 1024;

/** `<root>/packs/<shard>/<id>.pack`, 4096 packs (about 512 GiB) per shard directory. */
export function packPath(root: string, packId: number): string {
  const shard = Math.floor(packId / 4096).toString(16).padStart(4, '0');
  return join(root, 'packs', shard, `${packId.toString(16).padStart(8, '0')}.pack`);
}

export function packHeader(packId: number, createdAt: number): Buffer {
  const header = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_MAGIC.copy(header, 0);
  header.writeUIntLE(packId, 8, 6);
  header.writeUIntLE(createdAt, 16, 6);
  return header;
}

/** A pack this process is appending to. */
export class PackFile {
  readonly packId: number;
  readonly path: string;
  #fd: number;
  /** Bytes written or being written so far (the next record's offset). */
  size: number;
  /** Where the first record goes (past the header, aligned when writes are direct). */
  readonly #firstRecord: number;
  /** O_DIRECT writes of aligned, padded records (see directIo.ts); undefined: through the page cache. */
  readonly #direct: { fd: number; buffers: DirectWriteBuffers } | undefined;
  /** appendAsync writes not settled yet (these promises never reject). */
  readonly #writing = new Set<Promise<void>>();

  private constructor(packId: number, path: string, fd: number, size: number, direct?: { fd: number; buffers: DirectWriteBuffers }) {
    this.packId = packId;
    this.path = path;
    this.#fd = fd;
    this.size = size;
    this.#firstRecord = size;
    this.#direct = direct;
  }

  /**
   * Creates the file (it must not exist) with its header, and makes its directory entry durable. With `direct`,
   * the header is padded to the alignment and records are written with O_DIRECT.
   */
  static create(root: string, packId: number, createdAt: number, direct?: DirectWriteBuffers): PackFile {
    const path = packPath(root, packId);
    const dir = join(path, '..');
    const newShard = mkdirSync(dir, { recursive: true }) !== undefined;
    const fd = openSync(path, 'wx', 0o600);
    const header = direct ? Buffer.concat([packHeader(packId, createdAt), Buffer.alloc(DIRECT_ALIGN - PACK_HEADER_SIZE)]) : packHeader(packId, createdAt);
    writeSync(fd, header, 0, header.length, 0);
    fsyncSync(fd);
    fsyncDirectory(dir);
    if (newShard) fsyncDirectory(join(dir, '..'));
    let directFd: number | undefined;
    if (direct) {
      try {
        directFd = openSync(path, constants.O_WRONLY | constants.O_DIRECT);
      } catch {
        directFd = undefined; // the probe said yes, this file says no: write it through the page cache
      }
    }
    return new PackFile(packId, path, fd, header.length, directFd === undefined ? undefined : { fd: directFd, buffers: direct! });
  }

  /** No record appended yet. */
  get empty(): boolean {
    return this.size === this.#firstRecord;
  }

  /** Bytes a record of `length` takes in this pack (padded to the alignment when writes are direct). */
  recordSpace(length: number): number {
    return this.#direct ? alignUp(length) : length;
  }

  /** Appends one record synchronously; returns its offset. */
  append(parts: readonly Buffer[]): number {
    if (this.#direct) throw new Error(`pack ${this.packId} is written with O_DIRECT: append asynchronously`);
    const offset = this.size;
    let length = 0;
    for (const part of parts) length += part.length;
    let written = writevSync(this.#fd, parts as Buffer[], offset);
    // writev may stop short (rare, e.g. on a signal); finish the rest with plain writes.
    if (written < length) {
      const whole = Buffer.concat(parts as Buffer[]);
      while (written < length) written += writeSync(this.#fd, whole, written, length - written, offset + written);
    }
    this.size += length;
    return offset;
  }

  /**
   * Appends one record off the main thread. The offset is taken at once, so records keep the order of the calls
   * and never overlap; `written` settles when the bytes are in the file (the buffers must not change until then).
   * If it rejects, the record's bytes are undefined: index nothing there, and append no more to this pack (the
   * range stays as dead bytes below the pack's end).
   */
  appendAsync(parts: readonly Buffer[]): { offset: number; written: Promise<void> } {
    const { offsets, written } = this.appendManyAsync([parts]);
    return { offset: offsets[0]!, written };
  }

  /**
   * Appends several records with one write (see appendAsync; `written` covers them all). Together they take at
   * most maxAppendBytes. One write per group, not per record: every write is a hand-off to the thread pool and
   * back, and on a busy machine each hand-off waits for a core.
   */
  appendManyAsync(records: readonly (readonly Buffer[])[]): { offsets: number[]; written: Promise<void> } {
    const start = this.size;
    const offsets: number[] = [];
    const lengths: number[] = [];
    const inPlace: boolean[] = [];
    for (const parts of records) {
      let length = 0;
      for (const part of parts) length += part.length;
      const direct = this.#direct !== undefined && writableInPlace(parts);
      // In place, the header ends where the record's first page ends and the payload fills whole pages after it;
      // the record takes the same space as when staged (see writeDirect).
      offsets.push(direct ? this.size + DIRECT_ALIGN - parts[0]!.length : this.size);
      lengths.push(length);
      inPlace.push(direct);
      this.size += this.recordSpace(length);
    }
    const space = this.size - start;
    const written = this.#direct
      ? writeDirect(this.#direct, records, lengths, inPlace, space, start)
      : writeAllAt(this.#fd, records.flat(), space, start);
    const settled: Promise<void> = written.then(
      () => undefined,
      () => undefined,
    );
    this.#writing.add(settled);
    void settled.then(() => this.#writing.delete(settled));
    return { offsets, written };
  }

  /** Most bytes one appendManyAsync may take (one staging buffer when writes are direct). */
  get maxAppendBytes(): number {
    return this.#direct ? this.#direct.buffers.bufferSize : BUFFERED_APPEND_BYTES;
  }

  /**
   * Makes every byte appended so far durable, off the main thread, once the appends still being written have
   * settled. (A pack is synced before it is closed.)
   */
  async sync(): Promise<void> {
    if (this.#writing.size > 0) await Promise.all([...this.#writing]);
    if (this.#fd >= 0) await fdatasyncAsync(this.#fd);
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    if (this.#direct && this.#direct.fd >= 0) closeSync(this.#direct.fd);
    this.#fd = -1;
    if (this.#direct) this.#direct.fd = -1;
  }
}

/**
 * A record whose payload can go to the disk from where it is: a header of at most a page, then a payload on whole
 * pages of page-aligned memory (an uncompressed, unsealed block in the connector's read batch, lib/alignedMemory.ts).
 */
function writableInPlace(parts: readonly Buffer[]): boolean {
  return parts.length === 2 && parts[0]!.length > 0 && parts[0]!.length <= DIRECT_ALIGN && pageAligned(parts[1]!);
}

/**
 * Records with one O_DIRECT write. A record whose payload is writable in place costs one staged page: zeros, then
 * its header at the page's end, and the payload follows from its own memory (the write gathers both), so its
 * offset is 4 KiB minus the header past an aligned position. Any other record is copied to its aligned place in
 * the staging buffer and zero-padded. Readers find records through the index only, so both layouts read alike.
 * Copying each 512 KiB block was about 0.1 CPU s per GB of a run (bench/README.md).
 */
async function writeDirect(
  direct: { fd: number; buffers: DirectWriteBuffers },
  records: readonly (readonly Buffer[])[],
  lengths: readonly number[],
  inPlace: readonly boolean[],
  space: number,
  position: number,
): Promise<void> {
  if (space > direct.buffers.bufferSize) throw new Error(`${space} bytes of records do not fit the ${direct.buffers.bufferSize}-byte staging buffers`);
  const staging = await direct.buffers.acquire();
  try {
    const pieces: Buffer[] = [];
    let stagedAt = 0;
    records.forEach((parts, i) => {
      const from = stagedAt;
      if (inPlace[i]) {
        const [header, payload] = parts as [Buffer, Buffer];
        stagedAt += DIRECT_ALIGN;
        staging.fill(0, from, stagedAt - header.length);
        header.copy(staging, stagedAt - header.length);
        pieces.push(staging.subarray(from, stagedAt), payload);
        return;
      }
      let at = from;
      for (const part of parts) at += part.copy(staging, at);
      stagedAt = from + alignUp(lengths[i]!);
      staging.fill(0, at, stagedAt);
      pieces.push(staging.subarray(from, stagedAt));
    });
    await writeAllAt(direct.fd, coalesced(pieces), space, position);
  } finally {
    direct.buffers.release(staging);
  }
}

/** Adjacent pieces of one buffer become one (fewer iovecs; a run of staged records is one piece). */
function coalesced(pieces: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const piece of pieces) {
    const last = out[out.length - 1];
    if (last && last.buffer === piece.buffer && last.byteOffset + last.length === piece.byteOffset) {
      out[out.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + piece.length);
    } else {
      out.push(piece);
    }
  }
  return out;
}

function writeAllAt(fd: number, parts: readonly Buffer[], length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const more = (rest: readonly Buffer[], left: number, at: number): void => {
      writev(fd, rest as Buffer[], at, (error, written) => {
        if (error) return reject(error);
        if (written >= left) return resolve();
        // writev may stop short (rare, e.g. on a signal). The rest goes on from the same memory, never a copy: on an
        // O_DIRECT pack a copy would not be page-aligned and the kernel would refuse it.
        more(remainingParts(rest, written), left - written, at + written);
      });
    };
    more(parts, length, position);
  });
}

/** `parts` without their first `skip` bytes, as views of the same memory. */
function remainingParts(parts: readonly Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const part of parts) {
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    rest.push(skip > 0 ? part.subarray(skip) : part);
    skip = 0;
  }
  return rest;
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Bytes the given packs take on disk (missing files count as 0). */
export function packBytesOnDisk(root: string, packIds: readonly number[]): number {
  let total = 0;
  for (const packId of packIds) {
    try {
      total += statSync(packPath(root, packId)).size;
    } catch {
      // gone (being deleted) or never created
    }
  }
  return total;
}
