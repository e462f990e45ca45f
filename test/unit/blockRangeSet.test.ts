import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockRangeSet, BlockRangeSetError, decodeBlockRangeSet, encodeBlockRangeSet } from '../../src/lib/blockRangeSet.ts';

const BLOCKS_64_TIB = 2 ** 27;

test('a set built from an ordered scan merges neighbours and answers membership', () => {
  const set = new BlockRangeSet();
  for (const i of [0, 1, 2, 5, 7, 8, 100]) set.append(i);
  set.appendRange(101, 200); // adjacent to 100: merged
  assert.equal(set.count, 7 + 99);
  assert.equal(set.rangeCount, 4);
  assert.deepEqual([...set.ranges()], [
    { start: 0, end: 3 },
    { start: 5, end: 6 },
    { start: 7, end: 9 },
    { start: 100, end: 200 },
  ]);
  for (const i of [0, 2, 5, 7, 8, 100, 199]) assert.ok(set.has(i), `has ${i}`);
  for (const i of [-1, 3, 4, 6, 9, 99, 200, 1e15]) assert.ok(!set.has(i), `lacks ${i}`);
  set.append(199); // the last member again: no-op
  assert.equal(set.count, 106);
  assert.throws(() => set.append(150), BlockRangeSetError);
  assert.throws(() => set.appendRange(300, 300), BlockRangeSetError);
  assert.ok(!new BlockRangeSet().has(0));
});

test('the codec round-trips and its size follows the ranges, not the disk', () => {
  const sparse = BlockRangeSet.of([
    { start: 0, end: 1 },
    { start: 2 ** 26, end: 2 ** 26 + 1 },
    { start: BLOCKS_64_TIB - 1, end: BLOCKS_64_TIB },
  ]);
  const encoded = encodeBlockRangeSet(sparse);
  assert.ok(encoded.length < 24, `a 64 TiB disk with 3 blocks encodes in ${encoded.length} characters`);
  assert.deepEqual([...decodeBlockRangeSet(encoded, BLOCKS_64_TIB).ranges()], [...sparse.ranges()]);

  const whole = BlockRangeSet.of([{ start: 0, end: BLOCKS_64_TIB }]);
  assert.ok(encodeBlockRangeSet(whole).length <= 8, 'a fully committed 64 TiB disk is one range');
  assert.equal(decodeBlockRangeSet(encodeBlockRangeSet(whole), BLOCKS_64_TIB).count, BLOCKS_64_TIB);

  assert.equal(encodeBlockRangeSet(new BlockRangeSet()), '');
  assert.equal(decodeBlockRangeSet('', 0).count, 0);

  // Worst case, every other block: about two bytes a range (a bitmap would be 1/8 byte a block of the disk).
  const alternating = new BlockRangeSet();
  for (let i = 0; i < 100_000; i += 2) alternating.append(i);
  const bytes = Buffer.from(encodeBlockRangeSet(alternating), 'base64').length;
  assert.ok(bytes <= 2 * 50_000 + 4, `${bytes} bytes for 50,000 ranges`);
  assert.deepEqual([...decodeBlockRangeSet(encodeBlockRangeSet(alternating), 100_000).ranges()], [...alternating.ranges()]);
});

test('decoding refuses anything that is not a canonical set inside the disk', () => {
  const bad = (bytes: number[], blocks = 100) => () => decodeBlockRangeSet(Buffer.from(bytes).toString('base64'), blocks);
  assert.throws(bad([0, 101]), /outside the disk's 100 blocks/);
  assert.throws(bad([99, 2]), /outside the disk's 100 blocks/);
  assert.throws(bad([0, 0]), /outside/, 'an empty range');
  assert.throws(bad([0, 2, 0, 3]), /adjacent ranges/);
  assert.throws(bad([0, 0x80]), /ends inside a number/);
  assert.throws(bad([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1], 2 ** 53), /too large/);
  assert.throws(() => decodeBlockRangeSet('not base64!', 100), /base64/);
  assert.throws(() => decodeBlockRangeSet('AAE', 100), /base64/, 'unpadded');
});
