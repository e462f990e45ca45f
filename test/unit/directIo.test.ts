// O_DIRECT staging buffers: page-aligned, since direct writes from merely device-aligned memory ran 6–10× slower.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DIRECT_ALIGN, DirectWriteBuffers, pageAlignedArea } from '../../src/images/directIo.ts';

test('the staging area starts at a page boundary and is zeroed', () => {
  const area = pageAlignedArea(3 * DIRECT_ALIGN + 100);
  assert.equal(area.byteOffset, 0);
  assert.ok(area.length >= 3 * DIRECT_ALIGN + 100);
  assert.ok(area.every((b) => b === 0));
});

test('every staging buffer starts on a page (not just where the device accepts it)', async (t) => {
  // Beside the repository's tests, on the same filesystem (tmpfs has no O_DIRECT).
  const dir = mkdtempSync(join(import.meta.dirname, '.direct-io-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const buffers = DirectWriteBuffers.probe(dir, 5 * DIRECT_ALIGN + 1, 3);
  assert.ok(buffers, 'O_DIRECT works on the filesystem of the repository');
  assert.equal(buffers.bufferSize, 6 * DIRECT_ALIGN);
  const taken = [await buffers.acquire(), await buffers.acquire(), await buffers.acquire()];
  for (const buffer of taken) {
    assert.equal(buffer.length, 6 * DIRECT_ALIGN);
    // The area is a page-aligned mapping, so a page-aligned offset in it is a page-aligned address.
    assert.equal(buffer.byteOffset % DIRECT_ALIGN, 0, `buffer at offset ${buffer.byteOffset}`);
  }
  for (const buffer of taken) buffers.release(buffer);
});
