/**
 * An instance's copy-on-write overlay: an empty qcow2 (version 3) image whose backing file is the NBD export of its
 * image (raw), written by Ferry itself. The bytes are those `qemu-img create -f qcow2 -F raw -b BACKING -u FILE SIZE`
 * writes (QEMU 7.2, Debian 12; test/unit/qcow2Overlay.test.ts compares the two byte for byte, and has QEMU check
 * ours): running qemu-img for it put a program start — 30–180 ms here, more on a busy host — on the way to every
 * boot, for 200 KiB of constant structure.
 *
 * Layout, 64 KiB clusters: cluster 0 the header, its extensions (backing format `raw`, the feature name table) and
 * the backing file's name; cluster 1 the refcount table (one entry); cluster 2 its refcount block (16-bit
 * refcounts: 1 for each cluster of metadata); from cluster 3 the L1 table, all zero (nothing allocated: every read
 * goes to the backing file). The file ends where the L1 table ends.
 */
import { writeFile } from 'node:fs/promises';

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
/** One L2 table (a cluster of 8-byte entries) maps this many bytes of the disk. */
const BYTES_PER_L2 = (CLUSTER / 8) * CLUSTER;
/** QEMU's own limits: a longer backing name or a larger L1 table is refused by it. */
const MAX_BACKING_NAME = 1023;
const MAX_L1_BYTES = 32 * 1024 * 1024;

const HEADER_LENGTH = 112;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_NAMES = 0x6803f857;
/** The feature name table QEMU writes: [type (0 incompatible, 1 compatible, 2 autoclear), bit, name]. */
const FEATURE_NAMES: readonly [number, number, string][] = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];
const FEATURE_NAME_ENTRY = 48;

const REFCOUNT_TABLE_OFFSET = CLUSTER;
const REFCOUNT_BLOCK_OFFSET = 2 * CLUSTER;
const L1_OFFSET = 3 * CLUSTER;

/** The overlay's bytes. `sizeBytes` is rounded up to whole 512-byte sectors, as QEMU does. */
export function qcow2Overlay(backing: string, sizeBytes: number): Buffer {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new Error(`bad disk size ${sizeBytes}`);
  const name = Buffer.from(backing, 'utf8');
  if (name.length === 0 || name.length > MAX_BACKING_NAME) throw new Error(`the backing file name must be 1–${MAX_BACKING_NAME} bytes`);
  const size = Math.ceil(sizeBytes / 512) * 512;
  const l1Entries = Math.ceil(size / BYTES_PER_L2);
  if (l1Entries * 8 > MAX_L1_BYTES) throw new Error(`a disk of ${sizeBytes} bytes is larger than a qcow2 overlay can map`);
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER);
  const metadataClusters = 3 + l1Clusters;

  const file = Buffer.alloc(L1_OFFSET + l1Entries * 8);
  // Extensions: each a type, a length and its data padded to 8 bytes; an all-zero one ends the list.
  let at = HEADER_LENGTH;
  const extension = (type: number, data: Buffer) => {
    file.writeUInt32BE(type, at);
    file.writeUInt32BE(data.length, at + 4);
    data.copy(file, at + 8);
    at += 8 + Math.ceil(data.length / 8) * 8;
  };
  extension(EXT_BACKING_FORMAT, Buffer.from('raw'));
  const names = Buffer.alloc(FEATURE_NAMES.length * FEATURE_NAME_ENTRY);
  FEATURE_NAMES.forEach(([type, bit, label], i) => {
    names.writeUInt8(type, i * FEATURE_NAME_ENTRY);
    names.writeUInt8(bit, i * FEATURE_NAME_ENTRY + 1);
    names.write(label, i * FEATURE_NAME_ENTRY + 2, 'latin1');
  });
  extension(EXT_FEATURE_NAMES, names);
  at += 8; // the end marker
  const backingOffset = at;
  if (backingOffset + name.length > CLUSTER) throw new Error('the backing file name does not fit the header cluster');
  name.copy(file, backingOffset);

  file.writeUInt32BE(0x514649fb, 0); // 'QFI\xfb'
  file.writeUInt32BE(3, 4); // version
  file.writeBigUInt64BE(BigInt(backingOffset), 8);
  file.writeUInt32BE(name.length, 16);
  file.writeUInt32BE(CLUSTER_BITS, 20);
  file.writeBigUInt64BE(BigInt(size), 24);
  // 32: no encryption
  file.writeUInt32BE(l1Entries, 36);
  file.writeBigUInt64BE(BigInt(L1_OFFSET), 40);
  file.writeBigUInt64BE(BigInt(REFCOUNT_TABLE_OFFSET), 48);
  file.writeUInt32BE(1, 56); // refcount table clusters
  // 60: no snapshots; 64: their offset; 72, 80, 88: no incompatible, compatible or autoclear features
  file.writeUInt32BE(4, 96); // refcount order: 16-bit refcounts
  file.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: compression type zlib (0), then padding to HEADER_LENGTH

  file.writeBigUInt64BE(BigInt(REFCOUNT_BLOCK_OFFSET), REFCOUNT_TABLE_OFFSET);
  for (let cluster = 0; cluster < metadataClusters; cluster++) file.writeUInt16BE(1, REFCOUNT_BLOCK_OFFSET + cluster * 2);
  return file;
}

/** Writes the overlay to `path` (replacing any file there: a launch resumed after a crash writes it again). */
export async function writeQcow2Overlay(path: string, backing: string, sizeBytes: number): Promise<void> {
  await writeFile(path, qcow2Overlay(backing, sizeBytes), { mode: 0o644 });
}
