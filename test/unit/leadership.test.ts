/**
 * The leadership lease's rules (domain/leadership.ts) with an injected clock: who may take, renew or must wait, when
 * a holder stops acting, and that a lease given up or run out is taken over by the next node in a new term.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actsAsLeader, checkLeaseTiming, decideLease, leaseFree, releasedLease, type Lease, type LeaseTiming } from '../../src/domain/leadership.ts';
import { ManualClock } from '../../src/lib/clock.ts';

const TIMING: LeaseTiming = { ttlMs: 15_000, renewEveryMs: 5_000, marginMs: 3_000 };

test('a missing lease is taken in term 1; a free one is taken in the next term', () => {
  const clock = new ManualClock(1_000_000);
  const first = decideLease(undefined, 'a/1', clock.now(), TIMING);
  assert.deepEqual(first, { kind: 'acquire', next: { holder: 'a/1', expiresAt: 1_015_000, term: 1, acquiredAt: 1_000_000 } });
  const released = releasedLease(first.kind === 'acquire' ? first.next : assert.fail(), 1_001_000);
  assert.ok(leaseFree(released, 1_001_000));
  assert.deepEqual(decideLease(released, 'b/2', 1_001_000, TIMING), { kind: 'acquire', next: { holder: 'b/2', expiresAt: 1_016_000, term: 2, acquiredAt: 1_001_000 } });
});

test('the holder renews (the end moves on, the term and start stay); another node waits until the end', () => {
  const held: Lease = { holder: 'a/1', expiresAt: 115_000, term: 4, acquiredAt: 90_000 };
  assert.deepEqual(decideLease(held, 'a/1', 105_000, TIMING), { kind: 'renew', next: { holder: 'a/1', expiresAt: 120_000, term: 4, acquiredAt: 90_000 } });
  assert.deepEqual(decideLease(held, 'b/2', 105_000, TIMING), { kind: 'wait', holder: 'a/1', until: 115_000 });
  // One millisecond before its end the lease is still held; at its end it is free, even for a new life of node a.
  assert.equal(decideLease(held, 'b/2', 114_999, TIMING).kind, 'wait');
  assert.deepEqual(decideLease(held, 'b/2', 115_000, TIMING), { kind: 'acquire', next: { holder: 'b/2', expiresAt: 130_000, term: 5, acquiredAt: 115_000 } });
  assert.deepEqual(decideLease(held, 'a/9', 115_000, TIMING), { kind: 'acquire', next: { holder: 'a/9', expiresAt: 130_000, term: 5, acquiredAt: 115_000 } });
});

test('a holder whose own lease has run out takes it again in a new term, as any other node would', () => {
  const held: Lease = { holder: 'a/1', expiresAt: 115_000, term: 4, acquiredAt: 90_000 };
  assert.deepEqual(decideLease(held, 'a/1', 115_000, TIMING), { kind: 'acquire', next: { holder: 'a/1', expiresAt: 130_000, term: 5, acquiredAt: 115_000 } });
});

test('a renewal never shortens the lease (a clock stepped back)', () => {
  const held: Lease = { holder: 'a/1', expiresAt: 115_000, term: 1, acquiredAt: 100_000 };
  const decision = decideLease(held, 'a/1', 95_000, TIMING);
  assert.equal(decision.kind, 'renew');
  assert.equal(decision.kind === 'renew' && decision.next.expiresAt, 115_000);
});

test('the holder acts as leader only until the margin before the end; nobody else ever does', () => {
  const held: Lease = { holder: 'a/1', expiresAt: 115_000, term: 1, acquiredAt: 100_000 };
  assert.ok(actsAsLeader(held, 'a/1', 100_000, TIMING));
  assert.ok(actsAsLeader(held, 'a/1', 111_999, TIMING));
  assert.ok(!actsAsLeader(held, 'a/1', 112_000, TIMING), 'stops 3 s before the end, so a node whose clock is ahead cannot overlap it');
  assert.ok(!actsAsLeader(held, 'b/2', 100_000, TIMING));
  assert.ok(!actsAsLeader(undefined, 'a/1', 100_000, TIMING));
  assert.ok(!actsAsLeader(releasedLease(held, 101_000), 'a/1', 101_000, TIMING));
});

test('a dead leader is replaced after at most one lease; leaders never overlap on one clock', () => {
  const clock = new ManualClock(0);
  let row: Lease | undefined;
  const step = (candidate: string) => {
    const decision = decideLease(row, candidate, clock.now(), TIMING);
    if (decision.kind !== 'wait') row = decision.next;
  };
  step('a/1');
  const leaders: string[] = [];
  // a renews every 5 s for a minute, b keeps trying: b never leads.
  for (let t = 0; t < 60_000; t += 1_000) {
    clock.set(t);
    if (t % TIMING.renewEveryMs === 0) step('a/1');
    step('b/2');
    leaders.push(['a/1', 'b/2'].filter((h) => actsAsLeader(row, h, t, TIMING)).join('+'));
  }
  assert.ok(leaders.every((l) => l === 'a/1'), leaders.join(','));
  // a dies after its last renewal at 55 s (lease to 70 s): it stops acting at 67 s, b takes over at 70 s.
  for (let t = 60_000; t <= 75_000; t += 1_000) {
    clock.set(t);
    step('b/2');
    const now = ['a/1', 'b/2'].filter((h) => actsAsLeader(row, h, t, TIMING));
    assert.ok(now.length <= 1);
    assert.deepEqual(now, t < 67_000 ? ['a/1'] : t < 70_000 ? [] : ['b/2'], `at ${t}`);
  }
  assert.equal(row?.term, 2);
});

test('a timing whose renewal or margin does not fit in the lease is refused', () => {
  assert.throws(() => checkLeaseTiming({ ttlMs: 10_000, renewEveryMs: 8_000, marginMs: 3_000 }), /within its 10000 ms/);
  assert.throws(() => checkLeaseTiming({ ttlMs: 10_000, renewEveryMs: 0, marginMs: 1_000 }));
  checkLeaseTiming(TIMING);
});
