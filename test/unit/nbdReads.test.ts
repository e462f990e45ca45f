/**
 * Ferry's NBD client reading from a scripted NBD server (test/helpers/fakeNbdServer.ts): out-of-order and byte-by-byte
 * chunked replies, interleaving, error chunks, short reads, chunks outside the request, clamping to the maximum block
 * size, queue depth and unaligned reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NbdClient } from '../../src/agent/nbd/client.ts';
import { NbdCommandError, NbdProtocolError } from '../../src/agent/nbd/errors.ts';
import { type FakeRequest, fakeServer, pattern, patternReads } from '../helpers/fakeNbdServer.ts';

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
