/** lib/concurrency.ts: the one limiter, the bounded map and the per-key chains. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConcurrencyLimit, KeyedChains, mapConcurrently } from '../../src/lib/concurrency.ts';

/** A promise settled from outside, to hold a task open as long as the test wants. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void; fail: (error: Error) => void } {
  let open!: (value: T) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('ConcurrencyLimit runs at most its limit at once, the rest in the order they asked', async () => {
  const limit = new ConcurrencyLimit(2);
  const gates = Array.from({ length: 5 }, () => gate());
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    limit.run(async () => {
      started.push(i);
      await g.promise;
      return i * 10;
    }),
  );
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.equal(limit.active, 2);
  assert.equal(limit.pending, 3);
  assert.equal(limit.full, true);
  gates[1]!.open();
  await tick();
  assert.deepEqual(started, [0, 1, 2]);
  assert.equal(limit.active, 2);
  for (const g of gates) g.open();
  assert.deepEqual(await Promise.all(runs), [0, 10, 20, 30, 40]);
  assert.equal(limit.active, 0);
  assert.equal(limit.full, false);
});

test('ConcurrencyLimit: a freed slot goes to the first waiter, not to a task that asks later', async () => {
  const limit = new ConcurrencyLimit(1);
  const first = gate();
  const order: string[] = [];
  const a = limit.run(async () => {
    await first.promise;
    order.push('a');
  });
  const b = limit.run(async () => {
    order.push('b');
  });
  await tick();
  first.open();
  // Asked for synchronously after the slot is freed, before the waiter has run: it must still come after b.
  await a;
  const c = limit.run(async () => {
    order.push('c');
  });
  await Promise.all([b, c]);
  assert.deepEqual(order, ['a', 'b', 'c']);
});

test('ConcurrencyLimit: a failing task frees its slot and its caller sees the error', async () => {
  const limit = new ConcurrencyLimit(1);
  await assert.rejects(
    limit.run(async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(limit.active, 0);
  assert.equal(await limit.run(async () => 'next'), 'next');
});

test('ConcurrencyLimit.idle settles once nothing runs or waits', async () => {
  const limit = new ConcurrencyLimit(1);
  await limit.idle();
  const g = gate();
  const run = limit.run(() => g.promise);
  const queued = limit.run(async () => undefined);
  let idle = false;
  const waiting = limit.idle().then(() => (idle = true));
  await tick();
  assert.equal(idle, false);
  g.open();
  await Promise.all([run, queued, waiting]);
  assert.equal(idle, true);
});

test('a concurrency limit must be a whole number of at least 1', async () => {
  assert.throws(() => new ConcurrencyLimit(0), RangeError);
  assert.throws(() => new ConcurrencyLimit(1.5), RangeError);
  await assert.rejects(mapConcurrently([1], 0, async (x) => x), RangeError);
});

test('mapConcurrently keeps order and never runs more than the limit', async () => {
  let running = 0;
  let most = 0;
  const results = await mapConcurrently([5, 1, 4, 2, 3, 0], 3, async (ms, index) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, ms));
    running--;
    return `${index}:${ms}`;
  });
  assert.deepEqual(results, ['0:5', '1:1', '2:4', '3:2', '4:3', '5:0']);
  assert.equal(most, 3);
  assert.deepEqual(await mapConcurrently([], 4, async () => 1), []);
});

test('mapConcurrently starts nothing after a failure and rejects only when the started items settled', async () => {
  const slow = gate();
  const started: number[] = [];
  let slowSettled = false;
  const result = mapConcurrently([0, 1, 2, 3], 2, async (item) => {
    started.push(item);
    if (item === 0) {
      await slow.promise;
      slowSettled = true;
      return item;
    }
    throw new Error(`item ${item} failed`);
  });
  let rejected = false;
  result.catch(() => (rejected = true));
  await tick();
  assert.deepEqual(started, [0, 1]);
  assert.equal(rejected, false, 'item 0 still runs: the map has not settled');
  slow.open();
  await assert.rejects(result, /item 1 failed/);
  assert.equal(slowSettled, true);
  assert.deepEqual(started, [0, 1]);
});

test('KeyedChains runs one key\'s steps one after another, other keys beside them, past a failing step', async () => {
  const chains = new KeyedChains();
  const log: string[] = [];
  const errors: unknown[] = [];
  const first = gate();
  const other = gate();
  chains.enqueue('app-1', async () => {
    log.push('1a start');
    await first.promise;
    log.push('1a end');
  }, (e) => errors.push(e));
  chains.enqueue('app-1', async () => {
    log.push('1b');
    throw new Error('step failed');
  }, (e) => errors.push(e));
  chains.enqueue('app-1', async () => void log.push('1c'), (e) => errors.push(e));
  chains.enqueue('app-2', async () => {
    log.push('2 start');
    await other.promise;
  }, (e) => errors.push(e));
  await tick();
  assert.deepEqual(log, ['1a start', '2 start'], 'app-2 does not wait for app-1; app-1b waits for app-1a');
  let idle = false;
  const settled = chains.idle().then(() => (idle = true));
  first.open();
  await tick();
  assert.deepEqual(log, ['1a start', '2 start', '1a end', '1b', '1c'], 'a failing step does not break its chain');
  assert.deepEqual(errors.map((e) => (e as Error).message), ['step failed']);
  assert.equal(idle, false, 'idle waits for every key');
  other.open();
  await settled;
  assert.equal(idle, true);
});
