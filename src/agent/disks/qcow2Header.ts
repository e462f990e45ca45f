/**
 * The qcow2 header (QEMU docs/interop/qcow2.txt) as far as the direct reader needs it, and the decision whether
 * that reader can handle the image at all. Everything the reader does not implement comes back as
 * `Qcow2Unsupported` (never a guess): openDisk then reads the image through qemu-nbd as before. Only a header
 * that is definitely unusable — the corrupt bit, a size that disagrees with the probe — is a DiskError.
 *
 * All numbers are big-endian. 64-bit fields are read as two 32-bit halves: offsets above 2^53 cannot be inside
 * any real file, so they are rejected rather than carried as BigInt through the hot paths.
 */
import type { FileHandle } from 'node:fs/promises';
import { DiskError } from './diskSource.ts';

/** Why the direct reader declines an image; the caller falls back to qemu-nbd. */
export interface Qcow2Unsupported {
  unsupported: string;
}

export interface Qcow2BitmapsExtension {
  count: number;
  directorySize: number;
  directoryOffset: number;
}

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  /** Virtual size in bytes. */
  size: number;
  l1Size: number;
  l1TableOffset: number;
  /** Autoclear bit 0: the bitmaps extension was written by a qemu that knows it (else it must be ignored). */
  bitmapsConsistent: boolean;
  bitmaps: Qcow2BitmapsExtension | undefined;
}

const MAGIC = 0x514649fb; // "QFI\xfb"
const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;
/** qemu's limits: 512 B … 2 MiB clusters. */
const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
/** qemu refuses L1 tables above 32 MiB; so does this reader (the whole L1 is kept in memory). */
const MAX_L1_BYTES = 32 * 1024 * 1024;

const INCOMPAT_DIRTY = 1 << 0;
const INCOMPAT_CORRUPT = 1 << 1;
const INCOMPAT_DATA_FILE = 1 << 2;
const INCOMPAT_COMPRESSION = 1 << 3;
const INCOMPAT_EXTENDED_L2 = 1 << 4;
const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTENDED_L2;
const AUTOCLEAR_BITMAPS = 1 << 0;

const EXT_END = 0;
const EXT_BITMAPS = 0x23852875;

export function isUnsupported(value: object): value is Qcow2Unsupported {
  return 'unsupported' in value;
}

/** A big-endian u64 as a number, or undefined when it does not fit in 53 bits. */
export function readU64(buf: Buffer, at: number): number | undefined {
  const hi = buf.readUInt32BE(at);
  if (hi >= 0x200000) return undefined;
  return hi * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}

/**
 * Reads and checks the header and its extensions (all inside the first cluster). `fileSize` bounds every
 * offset; `expectedSize` is the probed virtual size (omitted when this read is the probe).
 */
export async function readQcow2Header(
  handle: FileHandle,
  path: string,
  fileSize: number,
  expectedSize?: number,
): Promise<Qcow2Header | Qcow2Unsupported> {
  const fixed = Buffer.alloc(V3_MIN_HEADER_LENGTH + 8);
  const { bytesRead } = await handle.read(fixed, 0, fixed.length, 0);
  if (bytesRead < V2_HEADER_LENGTH || fixed.readUInt32BE(0) !== MAGIC) return { unsupported: 'no qcow2 header' };
  const version = fixed.readUInt32BE(4);
  if (version !== 2 && version !== 3) return { unsupported: `qcow2 version ${version}` };
  const clusterBits = fixed.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) return { unsupported: `cluster_bits ${clusterBits}` };
  const clusterSize = 2 ** clusterBits;

  // The first cluster holds the header and every extension; images are at least one cluster long.
  const first = Buffer.alloc(Math.min(clusterSize, fileSize));
  await readFully(handle, path, first, 0, 'the header cluster');

  const featureCheck = checkFeatures(first, version, path);
  if (featureCheck) return featureCheck;

  if (readU64(first, 8) !== 0) return { unsupported: 'has a backing file (backing chains are read by qemu)' };
  if (first.readUInt32BE(32) !== 0) return { unsupported: 'encrypted' };
  const size = readU64(first, 24);
  if (size === undefined) return { unsupported: 'virtual size above 2^53' };
  if (expectedSize !== undefined && size !== expectedSize) throw new DiskError(path, `qcow2 header says the virtual size is ${size} bytes but qemu-img info reported ${expectedSize}`);

  const l1Size = first.readUInt32BE(36);
  const l1TableOffset = readU64(first, 40);
  const l2Entries = clusterSize / 8;
  const l1Needed = Math.ceil(size / (clusterSize * l2Entries));
  if (l1Size * 8 > MAX_L1_BYTES) return { unsupported: `L1 table of ${l1Size} entries` };
  if (l1Size < l1Needed) throw corrupt(path, `the L1 table has ${l1Size} entries but the virtual size needs ${l1Needed}`);
  if (l1Needed > 0 && (l1TableOffset === undefined || l1TableOffset % clusterSize !== 0 || l1TableOffset + l1Needed * 8 > fileSize)) {
    throw corrupt(path, `the L1 table offset ${l1TableOffset ?? '(above 2^53)'} is unaligned or past the end of the ${fileSize}-byte file`);
  }

  const headerLength = version === 2 ? V2_HEADER_LENGTH : first.readUInt32BE(100);
  const autoclear = version === 2 ? 0 : first.readUInt32BE(92);
  const extensions = readExtensions(first, headerLength);
  if (isUnsupported(extensions)) return extensions;
  return {
    version,
    clusterBits,
    clusterSize,
    size,
    l1Size,
    l1TableOffset: l1TableOffset ?? 0,
    bitmapsConsistent: (autoclear & AUTOCLEAR_BITMAPS) !== 0,
    bitmaps: extensions.bitmaps,
  };
}

/** v3 feature bits: corrupt → DiskError; anything the reader does not implement → unsupported. */
function checkFeatures(first: Buffer, version: number, path: string): Qcow2Unsupported | undefined {
  if (version === 2) return undefined;
  if (first.length < V3_MIN_HEADER_LENGTH) return { unsupported: 'v3 header shorter than 104 bytes' };
  const headerLength = first.readUInt32BE(100);
  if (headerLength < V3_MIN_HEADER_LENGTH || headerLength > first.length || headerLength % 8 !== 0) {
    return { unsupported: `header_length ${headerLength}` };
  }
  const incompatHi = first.readUInt32BE(72);
  const incompat = first.readUInt32BE(76);
  if (incompat & INCOMPAT_CORRUPT) throw new DiskError(path, 'qcow2 image is marked corrupt (qemu-img check -r all on a copy may repair it)');
  if (incompatHi !== 0 || (incompat & ~INCOMPAT_KNOWN) !== 0) {
    return { unsupported: `unknown incompatible features 0x${incompatHi.toString(16)}${incompat.toString(16).padStart(8, '0')}` };
  }
  if (incompat & INCOMPAT_DATA_FILE) return { unsupported: 'external data file' };
  if (incompat & INCOMPAT_EXTENDED_L2) return { unsupported: 'extended L2 entries (subclusters)' };
  // Bit 3 announces a non-zlib compression type; trust the type byte itself (zlib = 0 is what this reader inflates).
  const compressionType = headerLength > V3_MIN_HEADER_LENGTH ? first.readUInt8(104) : 0;
  if (compressionType !== 0) return { unsupported: `compression type ${compressionType === 1 ? 'zstd' : compressionType}` };
  if (incompat & INCOMPAT_COMPRESSION) return { unsupported: 'compression-type feature bit with zlib' };
  return undefined;
}

/** Walks the header extensions; only the bitmaps extension matters here, the rest is skipped. */
function readExtensions(first: Buffer, start: number): { bitmaps: Qcow2BitmapsExtension | undefined } | Qcow2Unsupported {
  let bitmaps: Qcow2BitmapsExtension | undefined;
  let at = start;
  for (;;) {
    if (at + 8 > first.length) return { unsupported: 'header extensions run past the first cluster' };
    const type = first.readUInt32BE(at);
    const length = first.readUInt32BE(at + 4);
    if (type === EXT_END) break;
    const data = at + 8;
    if (data + length > first.length) return { unsupported: `header extension 0x${type.toString(16)} runs past the first cluster` };
    if (type === EXT_BITMAPS) {
      if (length < 24) return { unsupported: 'bitmaps extension shorter than 24 bytes' };
      const directorySize = readU64(first, data + 8);
      const directoryOffset = readU64(first, data + 16);
      if (directorySize === undefined || directoryOffset === undefined) return { unsupported: 'bitmap directory beyond 2^53' };
      bitmaps = { count: first.readUInt32BE(data), directorySize, directoryOffset };
    }
    at = data + Math.ceil(length / 8) * 8;
  }
  return { bitmaps };
}

export function corrupt(path: string, detail: string): DiskError {
  return new DiskError(path, `corrupt qcow2: ${detail}`);
}

/** pread of exactly buf.length bytes at `position`; EOF is a DiskError (qcow2 metadata is never sparse-tailed). */
export async function readFully(handle: FileHandle, path: string, buf: Buffer, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, done, buf.length - done, position + done));
    } catch (error) {
      throw new DiskError(path, `reading ${what} at host offset ${position} failed: ${(error as Error).message}`, { cause: error });
    }
    if (n === 0) throw new DiskError(path, `truncated or corrupt qcow2: ${what} at host offset ${position}+${buf.length} is past the end of the file`);
    done += n;
  }
}
