/**
 * Ferry's NBD client connecting to a scripted NBD server (test/helpers/fakeNbdServer.ts): handshake details, an unknown
 * export and a missing socket. (The client against real qemu-nbd is covered by test/integration/disks.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdClient } from '../../src/agent/nbd/client.ts';
import { NbdConnectionError, NbdOptionError } from '../../src/agent/nbd/errors.ts';
import { fakeServer, patternReads } from '../helpers/fakeNbdServer.ts';

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
