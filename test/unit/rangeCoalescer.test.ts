/**
 * RangeCoalescer (src/images/blocks/rangeCoalescer.ts) over an in-memory object: concurrent reads of one object are
 * merged into few reads of touching ranges, bounded in size; every read gets exactly its bytes (fewer only past the
 * end); objects never wait on each other; a failed read fails every read it covered, and later reads go on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { RangeCoalescer, mergeRanges } from '../../src/images/blocks/rangeCoalescer.ts';

const KiB = 1024;

function objects(sizes: Record<string, number>) {
  const data = new Map(Object.entries(sizes).map(([name, size]) => [name, randomBytes(size)]));
  const calls: { name: string; offset: number; length: number }[] = [];
  const failing = new Set<string>();
  const read = async (name: string, offset: number, length: number): Promise<Buffer> => {
    calls.push({ name, offset, length });
    await new Promise((resolve) => setTimeout(resolve, 5)); // a request takes a while: others queue behind it
    if (failing.has(name)) throw new Error(`${name} is gone`);
    const bytes = data.get(name)!;
    return Buffer.from(bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length)));
  };
  return { data, calls, failing, read };
}

test('merges concurrent reads of adjacent blocks into bounded reads, each read getting exactly its bytes', async () => {
  const o = objects({ pack: 4096 * KiB });
  const coalescer = new RangeCoalescer(o.read, { maxRangeBytes: 1024 * KiB, maxGapBytes: 16 * KiB, inFlightPerObject: 1 });
  const block = 128 * KiB;
  const reads = Array.from({ length: 24 }, (_, i) => ({ offset: i * block + (i % 3) * 100, length: block - 300 }));
  const got = await Promise.all(reads.map((r) => coalescer.read('pack', r.offset, r.length)));
  reads.forEach((r, i) => assert.ok(got[i]!.equals(o.data.get('pack')!.subarray(r.offset, r.offset + r.length)), `read ${i}`));
  assert.ok(o.calls.length <= 4, `24 block reads took ${o.calls.length} reads`);
  assert.ok(o.calls.every((c) => c.length <= 1024 * KiB), 'no read longer than maxRangeBytes');
});

test('reads past the end get what there is; objects are read side by side', async () => {
  const o = objects({ a: 100 * KiB, b: 300 * KiB });
  const coalescer = new RangeCoalescer(o.read, { maxRangeBytes: 1024 * KiB, maxGapBytes: 0, inFlightPerObject: 1 });
  const [tail, past, b] = await Promise.all([coalescer.read('a', 90 * KiB, 20 * KiB), coalescer.read('a', 200 * KiB, KiB), coalescer.read('b', 0, 300 * KiB)]);
  assert.ok(tail.equals(o.data.get('a')!.subarray(90 * KiB)));
  assert.equal(past.length, 0);
  assert.ok(b.equals(o.data.get('b')!));
  assert.deepEqual(new Set(o.calls.map((c) => c.name)), new Set(['a', 'b']));
});

test('a failed read fails the reads it covered, and the object can be read again afterwards', async () => {
  const o = objects({ pack: 512 * KiB });
  const coalescer = new RangeCoalescer(o.read, { maxRangeBytes: 1024 * KiB, maxGapBytes: 0, inFlightPerObject: 2 });
  o.failing.add('pack');
  const results = await Promise.allSettled([0, 1, 2].map((i) => coalescer.read('pack', i * KiB, KiB)));
  assert.ok(results.every((r) => r.status === 'rejected' && /gone/.test(String(r.reason))));
  o.failing.delete('pack');
  assert.ok((await coalescer.read('pack', 0, KiB)).equals(o.data.get('pack')!.subarray(0, KiB)));
});

test('mergeRanges joins ranges within the gap, never past the bound, and keeps far ranges apart', () => {
  const w = (offset: number, length: number) => ({ offset, length, resolve() {}, reject() {} });
  const groups = mergeRanges([w(300, 100), w(0, 100), w(100, 100), w(10_000, 10), w(450, 50)], { maxRangeBytes: 450, maxGapBytes: 100 });
  assert.deepEqual(groups.map((g) => [g.offset, g.length, g.members.length]), [[0, 400, 3], [450, 50, 1], [10_000, 10, 1]]);
});
