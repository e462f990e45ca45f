// The hash pool gives each worker a batch's memory once and names it afterwards; digests must stay right when
// memories are reused, evicted past the pool's limit, forgotten and given again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { HashPool } from '../../src/agent/hashPool.ts';
import { pageAlignedShared } from '../../src/lib/alignedMemory.ts';

const BLOCK = 64 * 1024;
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

test('digests are right across reused, evicted and forgotten memories, and zero blocks are flagged', async (t) => {
  const pool = new HashPool(2);
  t.after(() => pool.close());
  // More memories than a worker keeps (8), each used several times, in an order that evicts and gives them again.
  const memories = Array.from({ length: 11 }, () => pageAlignedShared(4 * BLOCK));
  for (const [i, shared] of memories.entries()) {
    const view = new Uint8Array(shared, 0, 4 * BLOCK);
    randomFillSync(view, 0, 3 * BLOCK);
    if (i % 3 === 0) view.fill(0, BLOCK, 2 * BLOCK); // a zero block among the data
  }
  for (let round = 0; round < 3; round++) {
    for (const [i, shared] of memories.entries()) {
      const offsets = [0, BLOCK, 2 * BLOCK];
      const digests = await pool.digestMany(shared, offsets, BLOCK, round === 1 ? 2 : 1);
      assert.equal(digests.length, 3);
      digests.forEach((digest, k) => {
        const block = new Uint8Array(shared, offsets[k]!, BLOCK);
        const zero = i % 3 === 0 && k === 1;
        assert.equal(digest.zero, zero, `memory ${i} block ${k} zero`);
        if (!zero) assert.equal(digest.sha256.toString('hex'), sha(block), `memory ${i} block ${k}, round ${round}`);
      });
      // New bytes in a memory a worker already holds are hashed as they are now (shared, not copied).
      randomFillSync(new Uint8Array(shared, 2 * BLOCK, BLOCK));
    }
    if (round === 0) for (const shared of memories.slice(0, 5)) pool.forget(shared);
  }
});
