/**
 * Ferry's NBD client against a scripted NBD server (test/helpers/fakeNbdServer.ts): block-status looping and merging,
 * timeouts, aborts, a server that dies mid-transfer, simple (unstructured) replies, and reads beyond the export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NbdClient } from '../../src/agent/nbd/client.ts';
import { NbdAbortError, NbdConnectionError, NbdTimeoutError } from '../../src/agent/nbd/errors.ts';
import { CHUNK, CMD, REPLY_FLAG_DONE } from '../../src/agent/nbd/protocol.ts';
import { fakeServer, pattern, patternReads } from '../helpers/fakeNbdServer.ts';

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
