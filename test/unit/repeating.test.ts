/** lib/repeating.ts: a background task on a period, never two turns at once; stop() waits for the running turn. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Repeating } from '../../src/lib/repeating.ts';

test('turns come on the period; one still running makes the next one skip; a failure is reported and turns go on', async () => {
  let turns = 0;
  let running = 0;
  let most = 0;
  const errors: unknown[] = [];
  const task = async () => {
    turns++;
    running++;
    most = Math.max(most, running);
    await sleep(turns === 1 ? 60 : 1); // the first turn outlasts several periods
    running--;
    if (turns === 2) throw new Error('second turn fails');
  };
  const repeating = new Repeating(task, 10, (error) => errors.push(error));
  repeating.start({ now: true });
  assert.equal(turns, 1, 'with `now`, the first turn starts at once');
  await sleep(150);
  await repeating.stop();
  const done = turns;
  assert.equal(most, 1, 'never two turns at once');
  assert.ok(done >= 3 && done < 15, `turns: ${done} (the ones due while the first ran were skipped)`);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['second turn fails']);
  await sleep(40);
  assert.equal(turns, done, 'no turn after stop');
});

test('stop() waits for the turn that is running', async () => {
  let finished = false;
  const repeating = new Repeating(async () => {
    await sleep(30);
    finished = true;
  }, 1000, () => {});
  repeating.start({ now: true });
  await repeating.stop();
  assert.equal(finished, true);
});
