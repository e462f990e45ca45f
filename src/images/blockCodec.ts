/**
 * How one block is stored: optionally zstd-compressed, then sealed, behind a 64-byte record header that names it,
 * so a pack file describes itself and a misplaced index row is caught. Reading reverses it and checks the result
 * against the block's id: SHA-256 of the plaintext, mapped through the sealer, must give the storage id back.
 *
 * Record header (little-endian):
 *   0  u32  magic 'FBLK'        8  u32  raw length          16  32 B  storage id
 *   4  u8   version (1)         12 u32  stored length       48  16 B  zero
 *   5  u8   flags (1 = zstd)    6  u16  zero
 */
import { createHash } from 'node:crypto';
import { constants as zlibConstants, zstdCompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import type { BlockSealer } from './blockSealer.ts';
import { BLOCK_FLAG_ZSTD, IMAGE_BLOCK_SIZE } from './constants.ts';
import { BlockCheckError } from './errors.ts';

export const RECORD_HEADER_SIZE = 64;
const RECORD_MAGIC = 0x4b4c4246; // 'FBLK'
const RECORD_VERSION = 1;

/** Compressing must save at least this fraction, or the block is kept raw (decompressing costs too). */
const MIN_SAVING = 0.1;
/** A sample of this size is compressed first: incompressible data (most of a random or encrypted disk) is spotted cheaply. */
const PROBE_BYTES = 32 * 1024;
const PROBE_MAX_RATIO = 0.97;

const ZEROS = Buffer.alloc(IMAGE_BLOCK_SIZE);

export function isAllZero(data: Buffer): boolean {
  return data.length <= ZEROS.length && data.equals(ZEROS.subarray(0, data.length));
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

// One output chunk for the whole block and the size pledged up front: about 2× faster than the defaults here.
const zstdOptions = (length: number) => ({
  chunkSize: IMAGE_BLOCK_SIZE + 4096,
  pledgedSrcSize: length,
  params: { [zlibConstants.ZSTD_c_compressionLevel]: 1 },
});

function zstdAsync(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => zstdCompress(data, zstdOptions(data.length), (error, out) => (error ? reject(error) : resolve(out))));
}

/**
 * The zstd frame for `data`, or undefined when compression would not save enough. Runs on libuv's thread pool,
 * so blocks written concurrently compress on several cores.
 */
export async function compressBlock(data: Buffer): Promise<Buffer | undefined> {
  if (data.length >= 2 * PROBE_BYTES) {
    const probe = zstdCompressSync(data.subarray(0, PROBE_BYTES), zstdOptions(PROBE_BYTES));
    if (probe.length > PROBE_BYTES * PROBE_MAX_RATIO) return undefined;
  }
  const packed = await zstdAsync(data);
  return packed.length <= data.length * (1 - MIN_SAVING) ? packed : undefined;
}

export interface EncodedBlock {
  header: Buffer;
  payload: Buffer;
  flags: number;
  rawLen: number;
}

export async function encodeBlock(data: Buffer, storageId: Buffer, sealer: BlockSealer, compress: boolean): Promise<EncodedBlock> {
  const packed = compress ? await compressBlock(data) : undefined;
  const flags = packed ? BLOCK_FLAG_ZSTD : 0;
  const payload = sealer.seal(storageId, packed ?? data);
  const header = Buffer.alloc(RECORD_HEADER_SIZE);
  header.writeUInt32LE(RECORD_MAGIC, 0);
  header.writeUInt8(RECORD_VERSION, 4);
  header.writeUInt8(flags, 5);
  header.writeUInt32LE(data.length, 8);
  header.writeUInt32LE(payload.length, 12);
  storageId.copy(header, 16);
  return { header, payload, flags, rawLen: data.length };
}

export interface RecordLocation {
  storageId: Buffer;
  storedLen: number;
  rawLen: number;
  flags: number;
}

/** The plaintext of a record read from a pack, checked end to end; throws BlockCheckError saying what failed. */
export function decodeRecord(record: Buffer, expected: RecordLocation, sealer: BlockSealer): Buffer {
  if (record.length !== RECORD_HEADER_SIZE + expected.storedLen) throw new BlockCheckError(`short read (${record.length} bytes)`);
  if (record.readUInt32LE(0) !== RECORD_MAGIC || record.readUInt8(4) !== RECORD_VERSION) throw new BlockCheckError('bad record header');
  if (!record.subarray(16, 48).equals(expected.storageId)) throw new BlockCheckError('record header names another block');
  if (record.readUInt32LE(12) !== expected.storedLen || record.readUInt32LE(8) !== expected.rawLen || record.readUInt8(5) !== expected.flags) {
    throw new BlockCheckError('record header disagrees with the index');
  }
  let plain: Buffer;
  try {
    const opened = sealer.open(expected.storageId, record.subarray(RECORD_HEADER_SIZE));
    plain = expected.flags & BLOCK_FLAG_ZSTD ? zstdDecompressSync(opened, { maxOutputLength: expected.rawLen }) : opened;
  } catch (thrown) {
    throw new BlockCheckError(`cannot open or decompress (${thrown instanceof Error ? thrown.message : String(thrown)})`);
  }
  if (plain.length !== expected.rawLen) throw new BlockCheckError(`decoded ${plain.length} bytes, expected ${expected.rawLen}`);
  if (!sealer.storageId(sha256(plain)).equals(expected.storageId)) throw new BlockCheckError('SHA-256 mismatch');
  return plain;
}
