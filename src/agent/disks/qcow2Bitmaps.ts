/**
 * Persistent dirty bitmaps read straight from a qcow2 file (the bitmaps header extension), so an incremental run
 * needs no qemu-nbd. Layout per docs/interop/qcow2.txt, "Bitmaps":
 *
 *   directory entry: bitmap_table_offset u64, bitmap_table_size u32, flags u32 (bit 0 in_use, 1 auto,
 *     2 extra_data_compatible), type u8 (1 = dirty tracking), granularity_bits u8, name_size u16,
 *     extra_data_size u32, extra data, name, zero padding to a multiple of 8 bytes.
 *   bitmap table entry (u64): bits 9–55 the host offset of a data cluster; 0 = the whole cluster's worth of bits
 *     is clear; bit 0 set with offset 0 = all set. Other bits are reserved.
 *   data cluster: bit i of the bitmap is bit (i % 8) of byte i / 8 (least significant first: qemu serializes its
 *     bitmap as little-endian words), one bit per `granularity` bytes of the guest.
 *
 * Everything is validated when the source opens. Anything unexpected (extra data, reserved bits, a table size
 * that does not match the disk, offsets outside the file, an extension qemu would ignore) is reported as
 * unsupported so openDisk falls back to qemu-nbd, which either copes or says exactly why not. `in_use` is a
 * DiskError: the bitmap may have missed writes, and qemu-nbd would refuse it too.
 */
import type { FileHandle } from 'node:fs/promises';
import { DiskError } from './diskSource.ts';
import { isUnsupported, readFully, readU64, type Qcow2Header, type Qcow2Unsupported } from './qcow2Header.ts';

export interface Qcow2DirtyBitmap {
  name: string;
  granularity: number;
  /** The bitmap table: one u64 per data cluster of bits. */
  table: Buffer;
}

const ENTRY_FIXED = 24;
const FLAG_IN_USE = 1 << 0;
const FLAG_AUTO = 1 << 1;
const FLAG_EXTRA_DATA_COMPATIBLE = 1 << 2;
const TYPE_DIRTY_TRACKING = 1;
const MIN_GRANULARITY_BITS = 9;
const MAX_GRANULARITY_BITS = 31;
/** qemu's own limits on the directory. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_BITMAPS = 65535;
/** Bits 1–8 and 56–63 of a table entry are reserved. */
const ENTRY_RESERVED_LO = 0x1fe;
const ENTRY_RESERVED_HI = 0xff000000;

/** Finds bitmap `name` and reads its table; a DiskError when it is in use, unsupported when anything is odd. */
export async function loadDirtyBitmap(
  handle: FileHandle,
  path: string,
  header: Qcow2Header,
  fileSize: number,
  name: string,
): Promise<Qcow2DirtyBitmap | Qcow2Unsupported> {
  const directory = await readDirectory(handle, path, header, fileSize);
  if (directory === undefined) return { unsupported: 'no bitmaps extension' };
  if (isUnsupported(directory)) return directory;
  const entry = findEntry(directory, name);
  if (!entry) return { unsupported: `no bitmap named "${name}" in the bitmap directory` };
  if ('unsupported' in entry) return entry;
  if (entry.flags & FLAG_IN_USE) {
    throw new DiskError(path, `dirty bitmap "${name}" is in-use (the image was not closed cleanly); its content cannot be trusted`);
  }
  const problem = entryProblem(entry);
  if (problem) return { unsupported: `bitmap "${name}": ${problem}` };
  if (entry.granularityBits < MIN_GRANULARITY_BITS || entry.granularityBits > MAX_GRANULARITY_BITS) {
    return { unsupported: `bitmap "${name}" has granularity_bits ${entry.granularityBits}` };
  }
  const granularity = 2 ** entry.granularityBits;
  const bits = Math.ceil(header.size / granularity);
  const expectedTableSize = Math.ceil(bits / (header.clusterSize * 8));
  if (entry.tableSize !== expectedTableSize) {
    return { unsupported: `bitmap "${name}" table has ${entry.tableSize} entries, the disk needs ${expectedTableSize}` };
  }
  if (entry.tableOffset === undefined || entry.tableOffset % header.clusterSize !== 0 || entry.tableOffset + entry.tableSize * 8 > fileSize) {
    return { unsupported: `bitmap "${name}" table unaligned or past the end of the file` };
  }
  const table = Buffer.alloc(entry.tableSize * 8);
  await readFully(handle, path, table, entry.tableOffset, `the table of bitmap "${name}"`);
  const tableProblem = checkTable(table, header.clusterSize, fileSize);
  if (tableProblem) return { unsupported: `bitmap "${name}": ${tableProblem}` };
  return { name, granularity, table };
}

/** Every bitmap of the image (name, flags, granularity), as `qemu-img info` lists them; unsupported when odd. */
export async function listDirtyBitmaps(
  handle: FileHandle,
  path: string,
  header: Qcow2Header,
  fileSize: number,
): Promise<{ name: string; recording: boolean; inUse: boolean; granularity: number }[] | Qcow2Unsupported> {
  const directory = await readDirectory(handle, path, header, fileSize);
  if (directory === undefined) return [];
  if (isUnsupported(directory)) return directory;
  const list = [];
  for (const entry of entries(directory)) {
    if ('unsupported' in entry) return entry;
    const problem = entryProblem(entry);
    if (problem) return { unsupported: `bitmap "${entry.name}": ${problem}` };
    if (entry.granularityBits < MIN_GRANULARITY_BITS || entry.granularityBits > MAX_GRANULARITY_BITS) {
      return { unsupported: `bitmap "${entry.name}" has granularity_bits ${entry.granularityBits}` };
    }
    list.push({ name: entry.name, recording: (entry.flags & FLAG_AUTO) !== 0, inUse: (entry.flags & FLAG_IN_USE) !== 0, granularity: 2 ** entry.granularityBits });
  }
  return list;
}

interface Directory {
  bytes: Buffer;
  count: number;
}

/** The bitmap directory, checked for size and place; undefined when the image has no bitmaps extension. */
async function readDirectory(handle: FileHandle, path: string, header: Qcow2Header, fileSize: number): Promise<Directory | Qcow2Unsupported | undefined> {
  const ext = header.bitmaps;
  if (!ext) return undefined;
  if (!header.bitmapsConsistent) return { unsupported: 'bitmaps extension not marked consistent (autoclear bit 0 clear)' };
  if (ext.count === 0 || ext.count > MAX_BITMAPS || ext.directorySize > MAX_DIRECTORY_BYTES) {
    return { unsupported: `bitmap directory of ${ext.count} entries, ${ext.directorySize} bytes` };
  }
  if (ext.directoryOffset % header.clusterSize !== 0 || ext.directoryOffset + ext.directorySize > fileSize) {
    return { unsupported: 'bitmap directory unaligned or past the end of the file' };
  }
  const bytes = Buffer.alloc(ext.directorySize);
  await readFully(handle, path, bytes, ext.directoryOffset, 'the bitmap directory');
  return { bytes, count: ext.count };
}

interface DirectoryEntry {
  tableOffset: number | undefined;
  tableSize: number;
  flags: number;
  type: number;
  granularityBits: number;
  extraDataSize: number;
}

/** The directory's entries in order; an unsupported item ends it when the directory itself does not parse. */
function* entries(directory: Directory): Generator<(DirectoryEntry & { name: string }) | Qcow2Unsupported> {
  const bytes = directory.bytes;
  let at = 0;
  for (let i = 0; i < directory.count; i++) {
    if (at + ENTRY_FIXED > bytes.length) {
      yield { unsupported: 'bitmap directory shorter than its entries' };
      return;
    }
    const nameSize = bytes.readUInt16BE(at + 18);
    const extraDataSize = bytes.readUInt32BE(at + 20);
    const nameAt = at + ENTRY_FIXED + extraDataSize;
    const end = nameAt + nameSize;
    if (end > bytes.length) {
      yield { unsupported: 'bitmap directory entry runs past the directory' };
      return;
    }
    yield {
      name: bytes.toString('utf8', nameAt, end),
      tableOffset: readU64(bytes, at),
      tableSize: bytes.readUInt32BE(at + 8),
      flags: bytes.readUInt32BE(at + 12),
      type: bytes.readUInt8(at + 16),
      granularityBits: bytes.readUInt8(at + 17),
      extraDataSize,
    };
    at = Math.ceil(end / 8) * 8;
  }
}

/** The entry named `name`, or unsupported when the directory itself does not parse. */
function findEntry(directory: Directory, name: string): DirectoryEntry | Qcow2Unsupported | undefined {
  for (const entry of entries(directory)) {
    if ('unsupported' in entry || entry.name === name) return entry;
  }
  return undefined;
}

/** Directory-entry oddities that make the direct reader step aside (qemu decides what they mean). */
function entryProblem(entry: DirectoryEntry): string | undefined {
  if ((entry.flags & ~(FLAG_IN_USE | FLAG_AUTO | FLAG_EXTRA_DATA_COMPATIBLE)) !== 0) return `flags 0x${entry.flags.toString(16)}`;
  if (entry.extraDataSize !== 0) return `${entry.extraDataSize} bytes of extra data`;
  if (entry.type !== TYPE_DIRTY_TRACKING) return `type ${entry.type}`;
  return undefined;
}

/** Every table entry: no reserved bits, data clusters aligned and inside the file. */
function checkTable(table: Buffer, clusterSize: number, fileSize: number): string | undefined {
  for (let at = 0; at < table.length; at += 8) {
    const hi = table.readUInt32BE(at);
    const lo = table.readUInt32BE(at + 4);
    if (hi & ENTRY_RESERVED_HI || lo & ENTRY_RESERVED_LO) return `table entry ${at / 8} has reserved bits set`;
    const offset = entryOffset(hi, lo);
    if (offset === 0) continue;
    if (lo & 1) return `table entry ${at / 8} has both an offset and the all-ones bit`;
    if (offset % clusterSize !== 0 || offset + clusterSize > fileSize) return `table entry ${at / 8} points outside the file`;
  }
  return undefined;
}

/** Bits 9–55 of a table entry (the reserved high byte is rejected by checkTable). */
function entryOffset(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 0x1_0000_0000 + ((lo & ~0x1ff) >>> 0);
}

/**
 * The set bits of `bitmap` as byte ranges of the guest, merged and clipped to `size`. One data cluster is read
 * at a time, so memory stays at one cluster whatever the disk size.
 */
export async function* dirtyRanges(
  handle: FileHandle,
  path: string,
  bitmap: Qcow2DirtyBitmap,
  clusterSize: number,
  size: number,
): AsyncGenerator<{ offset: number; length: number }> {
  const bitsPerCluster = clusterSize * 8;
  const totalBits = Math.ceil(size / bitmap.granularity);
  const data = Buffer.alloc(clusterSize);
  const runs = new RunMerger(bitmap.granularity, size);
  for (let i = 0; i * 8 < bitmap.table.length; i++) {
    const hi = bitmap.table.readUInt32BE(i * 8);
    const lo = bitmap.table.readUInt32BE(i * 8 + 4);
    const offset = entryOffset(hi, lo);
    const firstBit = i * bitsPerCluster;
    const bitCount = Math.min(bitsPerCluster, totalBits - firstBit);
    if (offset === 0) {
      if (lo & 1) yield* runs.add(firstBit, bitCount);
      continue;
    }
    await readFully(handle, path, data, offset, `data of dirty bitmap "${bitmap.name}"`);
    yield* setBits(data, firstBit, bitCount, runs);
  }
  yield* runs.flush();
}

/** Runs of set bits in `data` (LSB-first), skipping clear bytes quickly. */
function* setBits(data: Buffer, firstBit: number, bitCount: number, runs: RunMerger): Generator<{ offset: number; length: number }> {
  const bytes = Math.ceil(bitCount / 8);
  for (let byte = 0; byte < bytes; byte++) {
    // Mostly-clean bitmaps: skip clear words without looking at single bytes.
    if (byte % 4 === 0 && byte + 4 <= bytes && data.readUInt32LE(byte) === 0) {
      byte += 3;
      continue;
    }
    const value = data[byte]!;
    if (value === 0) continue;
    if (value === 0xff) {
      yield* runs.add(firstBit + byte * 8, Math.min(8, bitCount - byte * 8));
      continue;
    }
    for (let bit = 0; bit < 8 && byte * 8 + bit < bitCount; bit++) {
      if (value & (1 << bit)) yield* runs.add(firstBit + byte * 8 + bit, 1);
    }
  }
}

/** Merges adjacent runs of bits and turns them into byte ranges clipped to the disk size. */
class RunMerger {
  readonly #granularity: number;
  readonly #size: number;
  #start = -1;
  #end = -1;

  constructor(granularity: number, size: number) {
    this.#granularity = granularity;
    this.#size = size;
  }

  *add(bit: number, count: number): Generator<{ offset: number; length: number }> {
    if (count <= 0) return;
    if (bit === this.#end) {
      this.#end += count;
      return;
    }
    yield* this.flush();
    this.#start = bit;
    this.#end = bit + count;
  }

  *flush(): Generator<{ offset: number; length: number }> {
    if (this.#start < 0) return;
    const offset = this.#start * this.#granularity;
    const end = Math.min(this.#end * this.#granularity, this.#size);
    this.#start = this.#end = -1;
    if (end > offset) yield { offset, length: end - offset };
  }
}
