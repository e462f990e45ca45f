/**
 * A minimal read-only NBD server (fixed newstyle handshake, structured replies, `base:allocation` block status) on
 * a Unix socket, so `qemu-img convert` can read a disk straight out of the image store: qcow2 and VMDK exports need
 * no temporary raw copy, and zero blocks are reported as holes instead of being sent.
 * Protocol: https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md (values below are from it).
 */
import { createServer, type Server, type Socket } from 'node:net';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

const OPT_EXPORT_NAME = 1;
const OPT_ABORT = 2;
const OPT_GO = 7;
const OPT_INFO = 6;
const OPT_STRUCTURED_REPLY = 8;
const OPT_LIST_META_CONTEXT = 9;
const OPT_SET_META_CONTEXT = 10;

const REP_ACK = 1;
const REP_INFO = 3;
const REP_META_CONTEXT = 4;
const REP_ERR_UNSUP = 0x80000001;
const REP_ERR_INVALID = 0x80000003;

const INFO_EXPORT = 0;
const INFO_BLOCK_SIZE = 3;

const TFLAG_HAS_FLAGS = 1;
const TFLAG_READ_ONLY = 2;
const TFLAG_CAN_MULTI_CONN = 1 << 8;

const CMD_READ = 0;
const CMD_DISC = 2;
const CMD_FLUSH = 3;
const CMD_CACHE = 5;
const CMD_BLOCK_STATUS = 7;

const CMD_FLAG_REQ_ONE = 1 << 3;
/** qemu refuses block-status payloads over 1000 bytes (NBD_MAX_MALLOC_PAYLOAD): 4 + 8 × 64 stays under. */
const MAX_DESCRIPTORS = 64;

const REPLY_FLAG_DONE = 1;
const REPLY_TYPE_NONE = 0;
const REPLY_TYPE_OFFSET_DATA = 1;
const REPLY_TYPE_BLOCK_STATUS = 5;
const REPLY_TYPE_ERROR = (1 << 15) + 1;

const EIO = 5;
const EPERM = 1;
const EINVAL = 22;

const STATE_HOLE = 1;
const STATE_ZERO = 2;
const BASE_ALLOCATION = 'base:allocation';
const CONTEXT_ID = 1;
const MAX_REQUEST = 32 * 1024 * 1024;

export interface NbdSource {
  size: number;
  /** The bytes of [offset, offset + length) (within the disk). */
  read(offset: number, length: number): Promise<Buffer>;
  /** Runs of data / zero starting at `offset`, covering at least one byte and at most `length`. */
  extents(offset: number, length: number): Promise<{ length: number; zero: boolean }[]>;
}

export interface NbdExport {
  /** The URI qemu tools take: `nbd+unix:///?socket=…`. */
  uri: string;
  /** The first error the source raised while serving, if any (qemu only sees EIO). */
  readonly failure: Error | undefined;
  close(): Promise<void>;
}

export function serveNbd(source: NbdSource, socketPath: string): Promise<NbdExport> {
  let failure: Error | undefined;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    new Connection(socket, source, (error) => (failure ??= error)).start();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      resolve({
        uri: `nbd+unix:///?socket=${socketPath}`,
        get failure() {
          return failure;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

class Connection {
  readonly #socket: Socket;
  readonly #source: NbdSource;
  readonly #fail: (error: Error) => void;
  #buffer: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #phase: 'flags' | 'options' | 'transmission' = 'flags';
  #structured = false;
  #allocationContext = false;
  #noZeroes = false;

  constructor(socket: Socket, source: NbdSource, fail: (error: Error) => void) {
    this.#socket = socket;
    this.#source = source;
    this.#fail = fail;
  }

  start(): void {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(NBDMAGIC, 0);
    hello.writeBigUInt64BE(IHAVEOPT, 8);
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    this.#socket.write(hello);
    this.#socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#drain();
    });
  }

  #drain(): void {
    for (;;) {
      if (this.#phase === 'flags') {
        if (this.#buffer.length < 4) return;
        this.#noZeroes = (this.#buffer.readUInt32BE(0) & FLAG_NO_ZEROES) !== 0;
        this.#buffer = this.#buffer.subarray(4);
        this.#phase = 'options';
      } else if (this.#phase === 'options') {
        if (this.#buffer.length < 16) return;
        const length = this.#buffer.readUInt32BE(12);
        if (this.#buffer.length < 16 + length) return;
        if (this.#buffer.readBigUInt64BE(0) !== IHAVEOPT) return void this.#socket.destroy();
        const option = this.#buffer.readUInt32BE(8);
        const data = this.#buffer.subarray(16, 16 + length);
        this.#buffer = this.#buffer.subarray(16 + length);
        this.#option(option, data);
      } else {
        if (this.#buffer.length < 28) return;
        if (this.#buffer.readUInt32BE(0) !== REQUEST_MAGIC) return void this.#socket.destroy();
        const flags = this.#buffer.readUInt16BE(4);
        const type = this.#buffer.readUInt16BE(6);
        const handle = this.#buffer.subarray(8, 16);
        const offset = Number(this.#buffer.readBigUInt64BE(16));
        const length = this.#buffer.readUInt32BE(24);
        this.#buffer = this.#buffer.subarray(28);
        if (type === CMD_DISC) return void this.#socket.end();
        void this.#request(type, flags, Buffer.from(handle), offset, length);
      }
    }
  }

  #option(option: number, data: Buffer): void {
    switch (option) {
      case OPT_STRUCTURED_REPLY:
        this.#structured = true;
        return this.#optReply(option, REP_ACK);
      case OPT_SET_META_CONTEXT:
      case OPT_LIST_META_CONTEXT: {
        const wanted = this.#structured && metaQueries(data).some((q) => q === BASE_ALLOCATION || q === 'base:');
        if (wanted) {
          if (option === OPT_SET_META_CONTEXT) this.#allocationContext = true;
          const reply = Buffer.alloc(4 + BASE_ALLOCATION.length);
          reply.writeUInt32BE(CONTEXT_ID, 0);
          reply.write(BASE_ALLOCATION, 4, 'latin1');
          this.#optReply(option, REP_META_CONTEXT, reply);
        }
        return this.#optReply(option, this.#structured ? REP_ACK : REP_ERR_INVALID);
      }
      case OPT_INFO:
      case OPT_GO: {
        const info = Buffer.alloc(12);
        info.writeUInt16BE(INFO_EXPORT, 0);
        info.writeBigUInt64BE(BigInt(this.#source.size), 2);
        info.writeUInt16BE(TFLAG_HAS_FLAGS | TFLAG_READ_ONLY | TFLAG_CAN_MULTI_CONN, 10);
        this.#optReply(option, REP_INFO, info);
        const sizes = Buffer.alloc(14);
        sizes.writeUInt16BE(INFO_BLOCK_SIZE, 0);
        sizes.writeUInt32BE(1, 2);
        sizes.writeUInt32BE(4096, 6);
        sizes.writeUInt32BE(MAX_REQUEST, 10);
        this.#optReply(option, REP_INFO, sizes);
        this.#optReply(option, REP_ACK);
        if (option === OPT_GO) this.#phase = 'transmission';
        return;
      }
      case OPT_EXPORT_NAME: {
        const reply = Buffer.alloc(this.#noZeroes ? 10 : 134);
        reply.writeBigUInt64BE(BigInt(this.#source.size), 0);
        reply.writeUInt16BE(TFLAG_HAS_FLAGS | TFLAG_READ_ONLY, 8);
        this.#socket.write(reply);
        this.#phase = 'transmission';
        return;
      }
      case OPT_ABORT:
        this.#optReply(option, REP_ACK);
        return void this.#socket.end();
      default:
        return this.#optReply(option, REP_ERR_UNSUP);
    }
  }

  #optReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
    const header = Buffer.alloc(20);
    header.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(type, 12);
    header.writeUInt32BE(data.length, 16);
    this.#socket.write(data.length ? Buffer.concat([header, data]) : header);
  }

  async #request(type: number, flags: number, handle: Buffer, offset: number, length: number): Promise<void> {
    try {
      if (type === CMD_READ) {
        if (offset + length > this.#source.size || length > MAX_REQUEST) return this.#error(handle, EINVAL, 'read beyond the end');
        if (length === 0) return this.#done(handle);
        const data = await this.#source.read(offset, length);
        if (!this.#structured) return this.#simple(handle, 0, data);
        const head = Buffer.alloc(8);
        head.writeBigUInt64BE(BigInt(offset), 0);
        return this.#chunk(handle, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, [head, data]);
      }
      if (type === CMD_BLOCK_STATUS && this.#allocationContext) {
        if (offset >= this.#source.size) return this.#error(handle, EINVAL, 'status beyond the end');
        const all = await this.#source.extents(offset, Math.min(length, this.#source.size - offset));
        const extents = all.slice(0, flags & CMD_FLAG_REQ_ONE ? 1 : MAX_DESCRIPTORS);
        const body = Buffer.alloc(4 + 8 * extents.length);
        body.writeUInt32BE(CONTEXT_ID, 0);
        extents.forEach((e, i) => {
          body.writeUInt32BE(e.length, 4 + 8 * i);
          body.writeUInt32BE(e.zero ? STATE_HOLE | STATE_ZERO : 0, 8 + 8 * i);
        });
        return this.#chunk(handle, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, [body]);
      }
      if (type === CMD_FLUSH || type === CMD_CACHE) return this.#done(handle);
      return this.#error(handle, EPERM, 'read-only export');
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      this.#fail(error);
      return this.#error(handle, EIO, error.message.slice(0, 200));
    }
  }

  #done(handle: Buffer): void {
    if (this.#structured) this.#chunk(handle, REPLY_FLAG_DONE, REPLY_TYPE_NONE, []);
    else this.#simple(handle, 0);
  }

  #error(handle: Buffer, errno: number, message: string): void {
    if (!this.#structured) return this.#simple(handle, errno);
    const text = Buffer.from(message, 'utf8');
    const body = Buffer.alloc(6);
    body.writeUInt32BE(errno, 0);
    body.writeUInt16BE(text.length, 4);
    this.#chunk(handle, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, [body, text]);
  }

  #simple(handle: Buffer, errno: number, data?: Buffer): void {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
    header.writeUInt32BE(errno, 4);
    handle.copy(header, 8);
    this.#socket.write(data ? Buffer.concat([header, data]) : header);
  }

  #chunk(handle: Buffer, flags: number, type: number, parts: Buffer[]): void {
    const length = parts.reduce((sum, p) => sum + p.length, 0);
    const header = Buffer.alloc(20);
    header.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(type, 6);
    handle.copy(header, 8);
    header.writeUInt32BE(length, 16);
    // Corked separate writes instead of one concatenation: the data part (often a view of a cached block) is not
    // copied, and the reply still leaves in one writev.
    this.#socket.cork();
    this.#socket.write(header);
    for (const part of parts) if (part.length > 0) this.#socket.write(part);
    this.#socket.uncork();
  }
}

/** The query strings of a SET/LIST_META_CONTEXT option (after the export name). */
function metaQueries(data: Buffer): string[] {
  const queries: string[] = [];
  if (data.length < 8) return queries;
  const nameLength = data.readUInt32BE(0);
  let at = 4 + nameLength;
  if (at + 4 > data.length) return queries;
  const count = data.readUInt32BE(at);
  at += 4;
  for (let i = 0; i < count && at + 4 <= data.length; i++) {
    const length = data.readUInt32BE(at);
    queries.push(data.toString('latin1', at + 4, at + 4 + length));
    at += 4 + length;
  }
  return queries;
}
