/**
 * A small scripted NBD server for the NBD client unit tests (test/unit/nbd*.test.ts): newstyle handshake, structured
 * or simple replies, scripted answers per request, optional byte-by-byte delivery; plus a deterministic disk pattern.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHUNK, CMD, REPLY_FLAG_DONE, TFLAG } from '../../src/agent/nbd/protocol.ts';

export interface FakeRequest {
  type: number;
  flags: number;
  cookie: Buffer;
  offset: number;
  length: number;
}

export interface FakeOptions {
  size: number;
  exportName?: string;
  structured?: boolean;
  /** Contexts the server knows, with the ids it assigns. */
  contexts?: Record<string, number>;
  blockSize?: [number, number, number];
  /** Handles one request; `conn` writes replies. */
  onRequest: (request: FakeRequest, conn: FakeConnection) => void;
  /** Split every write into 1-byte writes (exercises the client's incremental parser). */
  dribble?: boolean;
}

export class FakeConnection {
  readonly socket: Socket;
  readonly dribble: boolean;
  constructor(socket: Socket, dribble: boolean) {
    this.socket = socket;
    this.dribble = dribble;
  }
  write(buf: Buffer): void {
    if (this.socket.destroyed) return;
    if (!this.dribble) {
      this.socket.write(buf);
      return;
    }
    for (let i = 0; i < buf.length; i++) this.socket.write(buf.subarray(i, i + 1));
  }
  chunk(request: FakeRequest, type: number, payload: Buffer, done: boolean): void {
    const h = Buffer.alloc(20);
    h.writeUInt32BE(0x668e33ef, 0);
    h.writeUInt16BE(done ? REPLY_FLAG_DONE : 0, 4);
    h.writeUInt16BE(type, 6);
    request.cookie.copy(h, 8);
    h.writeUInt32BE(payload.length, 16);
    this.write(Buffer.concat([h, payload]));
  }
  data(request: FakeRequest, offset: number, bytes: Buffer, done: boolean): void {
    const p = Buffer.alloc(8 + bytes.length);
    p.writeBigUInt64BE(BigInt(offset), 0);
    bytes.copy(p, 8);
    this.chunk(request, CHUNK.OFFSET_DATA, p, done);
  }
  hole(request: FakeRequest, offset: number, size: number, done: boolean): void {
    const p = Buffer.alloc(12);
    p.writeBigUInt64BE(BigInt(offset), 0);
    p.writeUInt32BE(size, 8);
    this.chunk(request, CHUNK.OFFSET_HOLE, p, done);
  }
  error(request: FakeRequest, errno: number, message: string, done: boolean, offset?: number): void {
    const msg = Buffer.from(message);
    const p = Buffer.alloc(6 + msg.length + (offset === undefined ? 0 : 8));
    p.writeUInt32BE(errno, 0);
    p.writeUInt16BE(msg.length, 4);
    msg.copy(p, 6);
    if (offset !== undefined) p.writeBigUInt64BE(BigInt(offset), 6 + msg.length);
    this.chunk(request, offset === undefined ? CHUNK.ERROR : CHUNK.ERROR_OFFSET, p, done);
  }
  status(request: FakeRequest, contextId: number, extents: Array<[number, number]>, done: boolean): void {
    const p = Buffer.alloc(4 + 8 * extents.length);
    p.writeUInt32BE(contextId, 0);
    extents.forEach(([len, flags], i) => {
      p.writeUInt32BE(len, 4 + 8 * i);
      p.writeUInt32BE(flags, 8 + 8 * i);
    });
    this.chunk(request, CHUNK.BLOCK_STATUS, p, done);
  }
  none(request: FakeRequest): void {
    this.chunk(request, CHUNK.NONE, Buffer.alloc(0), true);
  }
  simple(request: FakeRequest, errno: number, data?: Buffer): void {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(0x67446698, 0);
    h.writeUInt32BE(errno, 4);
    request.cookie.copy(h, 8);
    this.write(data ? Buffer.concat([h, data]) : h);
  }
}

/** Async exact-length reads from a socket. */
export function byteReader(socket: Socket): (n: number) => Promise<Buffer> {
  let buffered = Buffer.alloc(0);
  let waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  let ended = false;
  const wake = (): void => {
    if (!waiter) return;
    if (buffered.length >= waiter.n) {
      const w = waiter;
      waiter = undefined;
      const out = buffered.subarray(0, w.n);
      buffered = buffered.subarray(w.n);
      w.resolve(out);
    } else if (ended) {
      const w = waiter;
      waiter = undefined;
      w.reject(new Error('client went away'));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => undefined);
  return (n) =>
    new Promise((resolve, reject) => {
      waiter = { n, resolve, reject };
      wake();
    });
}

export interface Fake {
  socketPath: string;
  server: Server;
  requests: FakeRequest[];
  sockets: Socket[];
  disconnects: number;
  close(): Promise<void>;
}

export async function fakeServer(options: FakeOptions): Promise<Fake> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-nbd-unit-'));
  const socketPath = join(dir, 'fake.sock');
  const fake: Fake = {
    socketPath,
    server: undefined as unknown as Server,
    requests: [],
    sockets: [],
    disconnects: 0,
    close: async () => {
      for (const s of fake.sockets) s.destroy();
      await new Promise<void>((resolve) => fake.server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fake.server = createServer((socket) => {
    fake.sockets.push(socket);
    void serve(socket).catch(() => socket.destroy());
  });
  async function serve(socket: Socket): Promise<void> {
    const read = byteReader(socket);
    const conn = new FakeConnection(socket, options.dribble ?? false);
    const hello = Buffer.alloc(18);
    hello.write('NBDMAGIC', 0, 'latin1');
    hello.write('IHAVEOPT', 8, 'latin1');
    hello.writeUInt16BE(3, 16);
    socket.write(hello);
    const clientFlags = (await read(4)).readUInt32BE(0);
    assert.equal(clientFlags, 3, 'client asks for FIXED_NEWSTYLE | NO_ZEROES');
    const reply = (option: number, type: number, data: Buffer = Buffer.alloc(0)): void => {
      const h = Buffer.alloc(20);
      h.writeBigUInt64BE(0x3e889045565a9n, 0);
      h.writeUInt32BE(option, 8);
      h.writeUInt32BE(type, 12);
      h.writeUInt32BE(data.length, 16);
      socket.write(Buffer.concat([h, data]));
    };
    let negotiated = new Map<string, number>();
    for (;;) {
      const head = await read(16);
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      const data = length > 0 ? await read(length) : Buffer.alloc(0);
      if (option === 8) {
        reply(option, options.structured === false ? 0x80000001 : 1);
      } else if (option === 10) {
        const nameLength = data.readUInt32BE(0);
        let at = 4 + nameLength;
        const count = data.readUInt32BE(at);
        at += 4;
        negotiated = new Map();
        for (let i = 0; i < count; i++) {
          const qLength = data.readUInt32BE(at);
          const query = data.toString('utf8', at + 4, at + 4 + qLength);
          at += 4 + qLength;
          const id = options.contexts?.[query];
          if (id === undefined) continue;
          negotiated.set(query, id);
          const payload = Buffer.alloc(4 + Buffer.byteLength(query));
          payload.writeUInt32BE(id, 0);
          payload.write(query, 4);
          reply(option, 4, payload);
        }
        reply(option, 1);
      } else if (option === 7) {
        const nameLength = data.readUInt32BE(0);
        const name = data.toString('utf8', 4, 4 + nameLength);
        if (name !== (options.exportName ?? '')) {
          reply(option, 0x80000006, Buffer.from(`no export "${name}"`));
          continue;
        }
        const exp = Buffer.alloc(12);
        exp.writeUInt16BE(0, 0);
        exp.writeBigUInt64BE(BigInt(options.size), 2);
        exp.writeUInt16BE(TFLAG.HAS_FLAGS | TFLAG.READ_ONLY, 10);
        reply(option, 3, exp);
        if (options.blockSize) {
          const bs = Buffer.alloc(14);
          bs.writeUInt16BE(3, 0);
          bs.writeUInt32BE(options.blockSize[0], 2);
          bs.writeUInt32BE(options.blockSize[1], 6);
          bs.writeUInt32BE(options.blockSize[2], 10);
          reply(option, 3, bs);
        }
        reply(option, 1);
        break;
      } else {
        reply(option, 0x80000001);
      }
    }
    for (;;) {
      let head: Buffer;
      try {
        head = await read(28);
      } catch {
        return;
      }
      assert.equal(head.readUInt32BE(0), 0x25609513);
      const request: FakeRequest = {
        flags: head.readUInt16BE(4),
        type: head.readUInt16BE(6),
        cookie: Buffer.from(head.subarray(8, 16)),
        offset: Number(head.readBigUInt64BE(16)),
        length: head.readUInt32BE(24),
      };
      if (request.type === CMD.DISC) {
        fake.disconnects++;
        socket.end();
        return;
      }
      fake.requests.push(request);
      options.onRequest(request, conn);
    }
  }
  await new Promise<void>((resolve) => fake.server.listen(socketPath, resolve));
  return fake;
}

/** Deterministic disk content: byte i = (i * 7 + 3) & 0xff. */
export function pattern(offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = ((offset + i) * 7 + 3) & 0xff;
  return b;
}

/** Answers reads with the pattern as one data chunk. */
export function patternReads(request: FakeRequest, conn: FakeConnection): void {
  if (request.type === CMD.READ) conn.data(request, request.offset, pattern(request.offset, request.length), true);
}
