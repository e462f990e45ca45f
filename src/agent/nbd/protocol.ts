/**
 * NBD wire constants (NetworkBlockDevice/nbd doc/proto.md), limited to what a read-only client of qemu-nbd and
 * nbdkit uses: the fixed-newstyle handshake, structured replies, meta contexts and block status.
 */

export const NBD_MAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OLDSTYLE_MAGIC = 0x00420281861253n;
export const OPTION_REPLY_MAGIC = 0x0003e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server → client, u16) and client flags (u32). */
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

export const REP = { ACK: 1, SERVER: 2, INFO: 3, META_CONTEXT: 4 } as const;
export const REP_ERR_BIT = 0x80000000;

/** Option reply error types (bit 31 set) by name. */
export const REP_ERR_NAMES: Readonly<Record<number, string>> = {
  [REP_ERR_BIT + 1]: 'NBD_REP_ERR_UNSUP',
  [REP_ERR_BIT + 2]: 'NBD_REP_ERR_POLICY',
  [REP_ERR_BIT + 3]: 'NBD_REP_ERR_INVALID',
  [REP_ERR_BIT + 4]: 'NBD_REP_ERR_PLATFORM',
  [REP_ERR_BIT + 5]: 'NBD_REP_ERR_TLS_REQD',
  [REP_ERR_BIT + 6]: 'NBD_REP_ERR_UNKNOWN',
  [REP_ERR_BIT + 7]: 'NBD_REP_ERR_SHUTDOWN',
  [REP_ERR_BIT + 8]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [REP_ERR_BIT + 9]: 'NBD_REP_ERR_TOO_BIG',
};
export const REP_ERR_UNSUP = REP_ERR_BIT + 1;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags (u16 in NBD_INFO_EXPORT). */
export const TFLAG = {
  HAS_FLAGS: 1,
  READ_ONLY: 2,
  SEND_FLUSH: 4,
  SEND_FUA: 8,
  ROTATIONAL: 16,
  SEND_TRIM: 32,
  SEND_WRITE_ZEROES: 64,
  SEND_DF: 128,
  CAN_MULTI_CONN: 256,
  SEND_RESIZE: 512,
  SEND_CACHE: 1024,
  SEND_FAST_ZERO: 2048,
} as const;

export const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6, BLOCK_STATUS: 7 } as const;
export const CMD_NAMES: Readonly<Record<number, string>> = {
  0: 'NBD_CMD_READ',
  1: 'NBD_CMD_WRITE',
  2: 'NBD_CMD_DISC',
  3: 'NBD_CMD_FLUSH',
  4: 'NBD_CMD_TRIM',
  5: 'NBD_CMD_CACHE',
  6: 'NBD_CMD_WRITE_ZEROES',
  7: 'NBD_CMD_BLOCK_STATUS',
};

/** Structured reply chunk types; bit 15 marks error chunks. */
export const CHUNK = { NONE: 0, OFFSET_DATA: 1, OFFSET_HOLE: 2, BLOCK_STATUS: 5, ERROR: 0x8001, ERROR_OFFSET: 0x8002 } as const;
export const CHUNK_ERROR_BIT = 0x8000;
export const REPLY_FLAG_DONE = 1;

/** base:allocation flags. */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** qemu:dirty-bitmap:NAME flag. */
export const STATE_DIRTY = 1;

export const CONTEXT_BASE_ALLOCATION = 'base:allocation';
export function dirtyBitmapContext(name: string): string {
  return `qemu:dirty-bitmap:${name}`;
}

/** NBD error values as carried on the wire (they are fixed by the protocol, not the host's errno numbering). */
export const NBD_ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};

export function errnoName(errno: number): string {
  return NBD_ERRNO_NAMES[errno] ?? `NBD_ERRNO_${errno}`;
}

const TWO_32 = 2 ** 32;

/** A 64-bit big-endian field as a number (offsets and cookies stay far below 2^53). */
export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
}

export function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at);
  buf.writeUInt32BE(value % TWO_32, at + 4);
}
