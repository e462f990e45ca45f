/** The webhook outbox's pure rules: backoff, the verdict on a failed attempt, and which pending events may be claimed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, failureVerdict, isLeased, planClaims, type PendingEvent } from '../../src/domain/webhookOutbox.ts';

const policy = { retryBaseMs: 1000, retryMaxMs: 60_000, maxAttempts: 5 };
const mid = () => 0.5;

test('backoff doubles from the base, is capped, and jitters within ±20 %', () => {
  assert.deepEqual([1, 2, 3, 4, 7, 40].map((n) => backoffMs(n, policy, mid)), [1000, 2000, 4000, 8000, 60_000, 60_000]);
  assert.equal(backoffMs(2, policy, () => 0), 1600);
  assert.equal(backoffMs(2, policy, () => 1), 2400);
  assert.equal(backoffMs(10, policy, () => 1), 60_000, 'jitter never passes the cap');
});

test('a failed attempt is retried after its backoff, later when the receiver asks, and dead once attempts run out', () => {
  assert.deepEqual(failureVerdict(0, 100, policy, undefined, mid), { kind: 'retry', attempts: 1, nextAttemptAt: 1100 });
  assert.deepEqual(failureVerdict(0, 100, policy, 30_000, mid), { kind: 'retry', attempts: 1, nextAttemptAt: 30_100 }, 'Retry-After wins when longer');
  assert.deepEqual(failureVerdict(0, 100, policy, 10 * 60_000, mid), { kind: 'retry', attempts: 1, nextAttemptAt: 60_100 }, 'but is capped');
  assert.deepEqual(failureVerdict(3, 100, policy, undefined, mid), { kind: 'retry', attempts: 4, nextAttemptAt: 8100 });
  assert.deepEqual(failureVerdict(4, 100, policy, undefined, mid), { kind: 'dead', attempts: 5 });
});

const event = (seq: number, url: string, key: string, extra: Partial<PendingEvent> = {}): PendingEvent => ({ seq, url, orderingKey: key, nextAttemptAt: 0, leaseUntil: null, ...extra });

test('a lease holds until its end, exclusive', () => {
  assert.equal(isLeased({ leaseUntil: null }, 10), false);
  assert.equal(isLeased({ leaseUntil: 11 }, 10), true);
  assert.equal(isLeased({ leaseUntil: 10 }, 10), false);
});

test('only the head of each (URL, key) is claimable, and a waiting or held head holds its key back', () => {
  const pending = [
    event(1, 'a', 'k1'),
    event(2, 'a', 'k1'),
    event(3, 'b', 'k1'),
    event(4, 'a', 'k2', { nextAttemptAt: 500 }),
    event(5, 'a', 'k2'),
    event(6, 'a', 'k3', { leaseUntil: 300 }),
    event(7, 'a', 'k3'),
    event(8, 'a', 'k4', { leaseUntil: 50 }),
  ];
  assert.deepEqual(planClaims(pending, 100), { claimable: [1, 3, 8], wakeAt: 300 });
  assert.deepEqual(planClaims(pending, 100, 2), { claimable: [1, 3], wakeAt: 300 });
  assert.deepEqual(planClaims(pending, 400), { claimable: [1, 3, 6, 8], wakeAt: 500 });
  assert.deepEqual(planClaims([], 0), { claimable: [], wakeAt: Infinity });
});
