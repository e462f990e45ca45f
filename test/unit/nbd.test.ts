/**
 * Ferry's NBD client against a small scripted NBD server written here: handshake details, out-of-order and
 * byte-by-byte chunked replies, interleaving, error chunks, short reads, clamping to the maximum block size,
 * queue depth, block-status looping and merging, timeouts, aborts and a server that dies mid-transfer.
 * (The client against real qemu-nbd is covered by test/integration/disks.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from '../../src/agent/nbd/client.ts';
import {
  NbdAbortError,
  NbdCommandError,
  NbdConnectionError,
  NbdOptionError,
  NbdProtocolError,
  NbdTimeoutError,
} from '../../src/agent/nbd/errors.ts';
import { CHUNK, CMD, REPLY_FLAG_DONE, TFLAG } from '../../src/agent/nbd/protocol.ts';

// ---------------------------------------------------------------------------------------------------------------
// A scripted fake server

interface FakeRequest {
  type: number;
  flags: number;
  cookie: Buffer;
  offset: number;
  length: number;
}

interface FakeOptions {
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

class FakeConnection {
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
function byteReader(socket: Socket): (n: number) => Promise<Buffer> {
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

interface Fake {
  socketPath: string;
  server: Server;
  requests: FakeRequest[];
  sockets: Socket[];
  disconnects: number;
  close(): Promise<void>;
}

async function fakeServer(options: FakeOptions): Promise<Fake> {
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
function pattern(offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = ((offset + i) * 7 + 3) & 0xff;
  return b;
}

/** Answers reads with the pattern as one data chunk. */
function patternReads(request: FakeRequest, conn: FakeConnection): void {
  if (request.type === CMD.READ) conn.data(request, request.offset, pattern(request.offset, request.length), true);
}

// ---------------------------------------------------------------------------------------------------------------

test('handshake: size, flags, block sizes and server-chosen context ids', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    exportName: 'disk',
    contexts: { 'base:allocation': 7, 'qemu:dirty-bitmap:b1': 42 },
    blockSize: [512, 4096, 65536],
    onRequest: patternReads,
  });
  try {
    const client = await NbdClient.connect({
      socketPath: fake.socketPath,
      exportName: 'disk',
      metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b1', 'qemu:dirty-bitmap:missing'],
    });
    assert.equal(client.size, 1 << 20);
    assert.equal(client.readOnly, true);
    assert.equal(client.structuredReplies, true);
    assert.deepEqual(client.blockSize, { minimum: 512, preferred: 4096, maximum: 65536 });
    assert.equal(client.maxRequestLength, 65536);
    assert.deepEqual([...client.contexts], [
      ['base:allocation', 7],
      ['qemu:dirty-bitmap:b1', 42],
    ]);
    await client.close();
    assert.equal(fake.disconnects, 1, 'close sends NBD_CMD_DISC');
  } finally {
    await fake.close();
  }
});

test('an unknown export is an NbdOptionError with the NBD_REP_ERR name', async () => {
  const fake = await fakeServer({ size: 4096, exportName: 'disk', onRequest: patternReads });
  try {
    await assert.rejects(NbdClient.connect({ socketPath: fake.socketPath, exportName: 'nope' }), (error: unknown) => {
      assert.ok(error instanceof NbdOptionError);
      assert.equal(error.code, 'NBD_REP_ERR_UNKNOWN');
      assert.equal(error.option, 'NBD_OPT_GO');
      assert.match(error.message, /no export "nope"/);
      return true;
    });
  } finally {
    await fake.close();
  }
});

test('connecting to a missing socket is an NbdConnectionError', async () => {
  await assert.rejects(NbdClient.connect({ socketPath: join(tmpdir(), 'ferry-no-such-socket.sock') }), (error: unknown) => {
    assert.ok(error instanceof NbdConnectionError);
    assert.equal(error.code, 'ENOENT');
    return true;
  });
});

test('reads assemble out-of-order data and hole chunks delivered one byte at a time', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    dribble: true,
    onRequest: (request, conn) => {
      // Reverse order: a hole for the middle third, data for the outer thirds, NONE as the final chunk.
      const third = Math.floor(request.length / 3);
      conn.data(request, request.offset + 2 * third, pattern(request.offset + 2 * third, request.length - 2 * third), false);
      conn.hole(request, request.offset + third, third, false);
      conn.data(request, request.offset, pattern(request.offset, third), false);
      conn.none(request);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    const target = Buffer.alloc(3000, 0xee);
    await client.read(5000, 3000, target);
    const expected = Buffer.concat([pattern(5000, 1000), Buffer.alloc(1000), pattern(7000, 1000)]);
    assert.deepEqual(target, expected);
    assert.equal(client.bytesReceived, 2000, 'holes are not counted as transferred');
    await client.close();
  } finally {
    await fake.close();
  }
});

test('interleaved replies to pipelined reads land in the right buffers', async () => {
  const held: FakeRequest[] = [];
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => {
      held.push(request);
      if (held.length < 3) return;
      // Answer all three at once, alternating chunks between cookies, last request first.
      const halves = held.reverse().map((r) => [r, Math.floor(r.length / 2)] as const);
      for (const [r, half] of halves) conn.data(r, r.offset + half, pattern(r.offset + half, r.length - half), false);
      for (const [r, half] of halves) conn.data(r, r.offset, pattern(r.offset, half), true);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    const buffers = [Buffer.alloc(4096), Buffer.alloc(1000), Buffer.alloc(8192)];
    const offsets = [0, 100_000, 500_000];
    await Promise.all(buffers.map((b, i) => client.read(offsets[i]!, b.length, b)));
    buffers.forEach((b, i) => assert.deepEqual(b, pattern(offsets[i]!, b.length)));
    await client.close();
  } finally {
    await fake.close();
  }
});

test('error chunks become NbdCommandError with the errno name; the connection stays usable', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => {
      if (request.offset === 0) {
        conn.data(request, 0, pattern(0, 512), false);
        conn.error(request, 5, 'bad sector', true, 512);
      } else if (request.offset === 4096) {
        conn.error(request, 22, 'nope', true);
      } else if (request.offset === 8192) {
        conn.error(request, 1234, '', true);
      } else patternReads(request, conn);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    await assert.rejects(client.read(0, 1024, Buffer.alloc(1024)), (error: unknown) => {
      assert.ok(error instanceof NbdCommandError);
      assert.equal(error.code, 'EIO');
      assert.equal(error.errno, 5);
      assert.equal(error.offset, 512);
      assert.equal(error.command, 'NBD_CMD_READ');
      assert.match(error.message, /EIO at offset 512: bad sector/);
      return true;
    });
    await assert.rejects(client.read(4096, 512, Buffer.alloc(512)), { name: 'NbdCommandError', code: 'EINVAL' });
    await assert.rejects(client.read(8192, 512, Buffer.alloc(512)), { code: 'NBD_ERRNO_1234' });
    const ok = Buffer.alloc(512);
    await client.read(65536, 512, ok);
    assert.deepEqual(ok, pattern(65536, 512));
    await client.close();
  } finally {
    await fake.close();
  }
});

test('a reply that does not cover the whole read is a short-read NbdProtocolError', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => conn.data(request, request.offset, pattern(request.offset, request.length - 100), true),
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    await assert.rejects(client.read(0, 4096, Buffer.alloc(4096)), (error: unknown) => {
      assert.ok(error instanceof NbdProtocolError);
      assert.equal(error.code, 'EPROTO');
      assert.match(error.message, /short read.*3996 of 4096/);
      return true;
    });
    client.destroy();
  } finally {
    await fake.close();
  }
});

test('a data chunk outside the request drops the connection with a protocol error', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => conn.data(request, request.offset + 4096, pattern(0, 16), true),
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    await assert.rejects(client.read(0, 4096, Buffer.alloc(4096)), { name: 'NbdProtocolError', message: /outside the read/ });
    await assert.rejects(client.read(0, 4096, Buffer.alloc(4096)), { name: 'NbdProtocolError' }, 'later requests fail fast');
  } finally {
    await fake.close();
  }
});

test('reads are clamped to the server maximum and pipelined up to the queue depth', async () => {
  let outstanding = 0;
  let peak = 0;
  const fake = await fakeServer({
    size: 4 << 20,
    blockSize: [1, 4096, 65536],
    onRequest: (request, conn) => {
      outstanding++;
      peak = Math.max(peak, outstanding);
      setTimeout(() => {
        outstanding--;
        patternReads(request, conn);
      }, 2);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath, queueDepth: 4 });
    const target = Buffer.alloc(1_000_000);
    await client.read(123, target.length, target);
    assert.deepEqual(target, pattern(123, target.length));
    assert.ok(fake.requests.every((r) => r.length <= 65536), 'no request above the maximum block size');
    assert.equal(fake.requests.length, Math.ceil(1_000_000 / 65536));
    assert.equal(peak, 4, 'four requests in flight at most');
    await client.close();
  } finally {
    await fake.close();
  }
});

test('unaligned reads are widened to the minimum block size through a bounce buffer', async () => {
  const fake = await fakeServer({ size: 1 << 20, blockSize: [512, 4096, 1 << 20], onRequest: patternReads });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    const target = Buffer.alloc(1000);
    await client.read(700, 1000, target);
    assert.deepEqual(target, pattern(700, 1000));
    assert.deepEqual(
      fake.requests.map((r) => [r.offset, r.length]),
      [[512, 1536]],
    );
    await client.close();
  } finally {
    await fake.close();
  }
});

test('block status loops until the range is covered and merges equal extents per context', async () => {
  // Disk of 64 KiB in 4 KiB units. Allocation: data 0-16K, zero 16K-48K, data 48K-64K. Dirty: 8K-12K, 40K-64K.
  const alloc: Array<[number, number]> = [[16384, 0], [32768, 3], [16384, 0]];
  const dirty: Array<[number, number]> = [[8192, 0], [4096, 1], [28672, 0], [24576, 1]];
  /** The slice of a flat extent list starting at `offset`, split into 4 KiB pieces, at most `max` of them. */
  const slice = (list: Array<[number, number]>, offset: number, max: number): Array<[number, number]> => {
    const units: number[] = [];
    for (const [len, flags] of list) for (let i = 0; i < len / 4096; i++) units.push(flags);
    return units.slice(offset / 4096, offset / 4096 + max).map((f) => [4096, f] as [number, number]);
  };
  const fake = await fakeServer({
    size: 65536,
    contexts: { 'base:allocation': 3, 'qemu:dirty-bitmap:b': 9 },
    onRequest: (request, conn) => {
      assert.equal(request.type, CMD.BLOCK_STATUS);
      // Each reply covers only a few units, and the two contexts end at different offsets.
      conn.status(request, 3, slice(alloc, request.offset, 3), false);
      conn.status(request, 9, slice(dirty, request.offset, 5), true);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath, metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b'] });
    const allocation = [];
    for await (const e of client.blockStatus('base:allocation')) allocation.push(e);
    assert.deepEqual(allocation, [
      { offset: 0, length: 16384, flags: 0 },
      { offset: 16384, length: 32768, flags: 3 },
      { offset: 49152, length: 16384, flags: 0 },
    ]);
    assert.equal(fake.requests.length, 6, 'ceil(16 units / 3 per reply) requests');
    const dirtyExtents = [];
    for await (const e of client.blockStatus('qemu:dirty-bitmap:b', 4096, 65536 - 4096)) dirtyExtents.push(e);
    assert.deepEqual(dirtyExtents, [
      { offset: 4096, length: 4096, flags: 0 },
      { offset: 8192, length: 4096, flags: 1 },
      { offset: 12288, length: 28672, flags: 0 },
      { offset: 40960, length: 24576, flags: 1 },
    ]);
    const once = await client.blockStatusOnce(0, 65536);
    assert.equal(once.get('base:allocation')!.at(-1)!.offset + once.get('base:allocation')!.at(-1)!.length, 12288);
    assert.equal(once.get('qemu:dirty-bitmap:b')!.length, 5);
    await assert.rejects(async () => {
      for await (const _ of client.blockStatus('qemu:dirty-bitmap:other')) void _;
    }, { code: 'ENOTSUP' });
    await client.close();
  } finally {
    await fake.close();
  }
});

test('a timed-out request is rejected; its late reply is discarded and the connection keeps working', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => {
      if (request.offset === 0) setTimeout(() => patternReads(request, conn), 150);
      else patternReads(request, conn);
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath, requestTimeoutMs: 50 });
    const slow = Buffer.alloc(4096, 0xaa);
    await assert.rejects(client.read(0, 4096, slow), (error: unknown) => error instanceof NbdTimeoutError && error.code === 'ETIMEDOUT');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(slow.every((b) => b === 0xaa), 'the late reply did not touch the buffer');
    assert.equal(client.inFlight, 0, 'the late reply freed its slot');
    const ok = Buffer.alloc(4096);
    await client.read(8192, 4096, ok);
    assert.deepEqual(ok, pattern(8192, 4096));
    await client.close();
  } finally {
    await fake.close();
  }
});

test('an aborted read rejects with NbdAbortError', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => setTimeout(() => patternReads(request, conn), 100),
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    const controller = new AbortController();
    const pending = client.read(0, 4096, Buffer.alloc(4096), { signal: controller.signal });
    controller.abort(new Error('user cancelled'));
    await assert.rejects(pending, (error: unknown) => error instanceof NbdAbortError && error.code === 'ABORT_ERR');
    await assert.rejects(client.read(0, 16, Buffer.alloc(16), { signal: AbortSignal.abort() }), { name: 'NbdAbortError' });
    await client.close();
  } finally {
    await fake.close();
  }
});

test('a server that dies mid-transfer fails every pending request with NbdConnectionError', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    onRequest: (request, conn) => {
      if (request.offset !== 0) return; // never answered
      // Half a data chunk, then the server is gone.
      const full = Buffer.alloc(20 + 8 + 2048);
      full.writeUInt32BE(0x668e33ef, 0);
      full.writeUInt16BE(REPLY_FLAG_DONE, 4);
      full.writeUInt16BE(CHUNK.OFFSET_DATA, 6);
      request.cookie.copy(full, 8);
      full.writeUInt32BE(8 + 4096, 16);
      conn.socket.write(full, () => conn.socket.destroy());
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    const results = await Promise.allSettled([client.read(0, 4096, Buffer.alloc(4096)), client.read(65536, 4096, Buffer.alloc(4096))]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      const error = (result as PromiseRejectedResult).reason as unknown;
      assert.ok(error instanceof NbdConnectionError, String(error));
      assert.equal(error.code, 'ECONNRESET');
      assert.match(error.message, /closed the connection with 2 request\(s\) in flight/);
    }
    await assert.rejects(client.read(0, 16, Buffer.alloc(16)), { name: 'NbdConnectionError' });
    await client.close();
  } finally {
    await fake.close();
  }
});

test('without structured replies, reads use simple replies and errors carry the errno', async () => {
  const fake = await fakeServer({
    size: 1 << 20,
    structured: false,
    contexts: { 'base:allocation': 1 },
    onRequest: (request, conn) => {
      if (request.offset === 0) conn.simple(request, 28);
      else conn.simple(request, 0, pattern(request.offset, request.length));
    },
  });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath, metaContexts: ['base:allocation'] });
    assert.equal(client.structuredReplies, false);
    assert.equal(client.contexts.size, 0, 'no meta contexts without structured replies');
    await assert.rejects(client.read(0, 512, Buffer.alloc(512)), { name: 'NbdCommandError', code: 'ENOSPC' });
    const ok = Buffer.alloc(2048);
    await client.read(4096, 2048, ok);
    assert.deepEqual(ok, pattern(4096, 2048));
    await assert.rejects(client.blockStatusOnce(0, 4096), { code: 'ENOTSUP' });
    await client.close();
  } finally {
    await fake.close();
  }
});

test('reads beyond the export are RangeErrors and close() refuses new work', async () => {
  const fake = await fakeServer({ size: 8192, onRequest: patternReads });
  try {
    const client = await NbdClient.connect({ socketPath: fake.socketPath });
    await assert.rejects(client.read(4096, 8192, Buffer.alloc(8192)), RangeError);
    await assert.rejects(client.read(0, 100, Buffer.alloc(10)), RangeError);
    const closing = client.close();
    await assert.rejects(client.read(0, 16, Buffer.alloc(16)), { name: 'NbdConnectionError', code: 'ECLOSED' });
    await closing;
  } finally {
    await fake.close();
  }
});
