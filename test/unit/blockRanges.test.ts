import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addByteRange, countBlocks, eachBlock, type BlockRange } from '../../src/agent/blockRanges.ts';
import { blockCount } from '../../src/domain/blocks.ts';

const K = 1024;
const B = 512 * K;

test('block counts round partial blocks up', () => {
  assert.equal(blockCount(0), 0);
  assert.equal(blockCount(1), 1);
  assert.equal(blockCount(B), 1);
  assert.equal(blockCount(B + 1), 2);
  assert.equal(blockCount(4 * 1024 * 1024 * 1024), 8192);
});

test('byte ranges map to the blocks they touch, merging neighbours', () => {
  const ranges: BlockRange[] = [];
  addByteRange(ranges, 0, 4 * K); // block 0
  addByteRange(ranges, 64 * K, 64 * K); // still block 0
  addByteRange(ranges, B - 1, 2); // blocks 0 and 1
  addByteRange(ranges, 10 * B, B); // block 10 exactly
  addByteRange(ranges, 11 * B, 1); // adjacent: merges into 10..12
  addByteRange(ranges, 20 * B + 5, 0); // empty: ignored
  assert.deepEqual(ranges, [
    { start: 0, end: 2 },
    { start: 10, end: 12 },
  ]);
  assert.equal(countBlocks(ranges), 4);
  assert.deepEqual([...eachBlock(ranges)], [0, 1, 10, 11]);
});
