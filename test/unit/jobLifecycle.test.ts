import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideExpiry,
  EXPIRY_RULES,
  IllegalTransition,
  imagesToRetire,
  nextExpiryAt,
  onDemandAllowed,
  onDemandQuota,
  onResume,
  onRunCompleted,
  onRunFailed,
  onRunStarted,
  type JobFacts,
} from '../../src/domain/jobLifecycle.ts';
import { defaultPolicy, type Policy } from '../../src/domain/policy.ts';
import { DAY, HOUR, MINUTE } from '../../src/lib/clock.ts';

const T0 = Date.UTC(2026, 0, 1, 6);
const policy: Policy = defaultPolicy;

function facts(overrides: Partial<JobFacts> = {}): JobFacts {
  return {
    state: 'ACTIVE',
    seedTime: T0,
    frequencyHours: 12,
    runOnce: false,
    nextRunAt: T0 + 12 * HOUR,
    consecutiveFailures: 0,
    firstReplicationAt: T0,
    pausedAt: null,
    ...overrides,
  };
}

const once = (overrides: Partial<JobFacts> = {}) => facts({ runOnce: true, frequencyHours: null, nextRunAt: null, ...overrides });

describe('onRunStarted', () => {
  test('the first AUTOMATIC run: PENDING → ACTIVE, first replication recorded, next slot planned', () => {
    const change = onRunStarted(facts({ state: 'PENDING', firstReplicationAt: null, nextRunAt: T0 }), { type: 'AUTOMATIC', scheduledStartTime: T0 }, T0 + 3000);
    assert.deepEqual(change, { state: 'ACTIVE', firstReplicationAt: T0 + 3000, pendingAutomaticAt: T0 + 12 * HOUR });
  });

  test('firstReplicationAt is set only once', () => {
    const change = onRunStarted(facts({ firstReplicationAt: T0 }), { type: 'AUTOMATIC', scheduledStartTime: T0 + 12 * HOUR }, T0 + 12 * HOUR);
    assert.equal('firstReplicationAt' in change, false);
    assert.equal(change.state, 'ACTIVE');
    assert.equal(change.pendingAutomaticAt, T0 + 24 * HOUR);
  });

  test('a run started late still plans the slot after its own, and a retry run plans the next grid slot', () => {
    assert.equal(onRunStarted(facts(), { type: 'AUTOMATIC', scheduledStartTime: T0 + 12 * HOUR }, T0 + 13 * HOUR).pendingAutomaticAt, T0 + 24 * HOUR);
    assert.equal(onRunStarted(facts(), { type: 'AUTOMATIC', scheduledStartTime: T0 + 15 * MINUTE }, T0 + 15 * MINUTE).pendingAutomaticAt, T0 + 12 * HOUR);
    assert.equal(onRunStarted(facts({ frequencyHours: 1 }), { type: 'AUTOMATIC', scheduledStartTime: T0 + HOUR }, T0 + HOUR).pendingAutomaticAt, T0 + 2 * HOUR);
    assert.equal(onRunStarted(facts({ frequencyHours: 24 }), { type: 'AUTOMATIC', scheduledStartTime: T0 }, T0).pendingAutomaticAt, T0 + DAY);
  });

  test('an ON_DEMAND run leaves the pending automatic run where it is', () => {
    const change = onRunStarted(facts({ state: 'PENDING', firstReplicationAt: null, nextRunAt: T0 + 5 * HOUR }), { type: 'ON_DEMAND', scheduledStartTime: T0 }, T0);
    assert.deepEqual(change, { state: 'ACTIVE', firstReplicationAt: T0 });
    assert.equal(change.pendingAutomaticAt, undefined);
  });

  test('a one-time job plans nothing after its run starts', () => {
    const change = onRunStarted(once({ state: 'PENDING', firstReplicationAt: null }), { type: 'AUTOMATIC', scheduledStartTime: T0 }, T0);
    assert.equal(change.pendingAutomaticAt, null);
  });

  test('no run can start on a paused or finished job', () => {
    for (const state of ['PAUSED_ON_FAILURE', 'COMPLETED', 'FAILED', 'DELETING', 'DELETED'] as const) {
      assert.throws(() => onRunStarted(facts({ state }), { type: 'AUTOMATIC', scheduledStartTime: T0 }, T0), IllegalTransition);
    }
  });
});

describe('onRunCompleted', () => {
  test('a one-time job is COMPLETED and plans nothing more', () => {
    assert.deepEqual(onRunCompleted(once(), 'ami-1'), {
      state: 'COMPLETED',
      consecutiveFailures: 0,
      statusMessage: null,
      pendingAutomaticAt: null,
      latestAmiId: 'ami-1',
    });
  });

  test('a recurring job stays ACTIVE, failures are forgiven, the schedule is untouched', () => {
    const change = onRunCompleted(facts({ consecutiveFailures: 2 }), 'ami-2');
    assert.deepEqual(change, { state: 'ACTIVE', consecutiveFailures: 0, statusMessage: null, latestAmiId: 'ami-2' });
    assert.equal('pendingAutomaticAt' in change, false);
  });
});

describe('onRunFailed', () => {
  const now = T0 + HOUR;

  test('first failure: ACTIVE, "2 re-try run(s) remaining", retry after the retry delay', () => {
    const change = onRunFailed(facts(), 'ServerError: disk upload failed.', now, policy);
    assert.equal(change.state, 'ACTIVE');
    assert.equal(change.consecutiveFailures, 1);
    assert.equal(change.pendingAutomaticAt, now + policy.retryDelayMs);
    assert.equal(change.statusMessage, 'Replication run failed: ServerError: disk upload failed. 2 re-try run(s) remaining.');
  });

  test('second failure: "1 re-try run(s) remaining"', () => {
    const change = onRunFailed(facts({ consecutiveFailures: 1 }), 'boom.', now, policy);
    assert.equal(change.state, 'ACTIVE');
    assert.equal(change.consecutiveFailures, 2);
    assert.match(change.statusMessage!, / 1 re-try run\(s\) remaining\.$/);
  });

  test('the retry comes at the next scheduled run if that is sooner than the retry delay', () => {
    const soon = now + 5 * MINUTE;
    assert.equal(onRunFailed(facts({ nextRunAt: soon }), 'x', now, policy).pendingAutomaticAt, soon);
    assert.equal(onRunFailed(facts({ nextRunAt: now + policy.retryDelayMs + 1 }), 'x', now, policy).pendingAutomaticAt, now + policy.retryDelayMs);
    assert.equal(onRunFailed(facts({ nextRunAt: null }), 'x', now, policy).pendingAutomaticAt, now + policy.retryDelayMs);
    assert.equal(onRunFailed(facts(), 'x', now, { ...policy, retryDelayMs: HOUR }).pendingAutomaticAt, now + HOUR);
  });

  test('third consecutive failure pauses a recurring job and cancels its pending run', () => {
    const change = onRunFailed(facts({ consecutiveFailures: 2 }), 'ServerError: nope.', now, policy);
    assert.equal(change.state, 'PAUSED_ON_FAILURE');
    assert.equal(change.consecutiveFailures, 3);
    assert.equal(change.pausedAt, now);
    assert.equal(change.pendingAutomaticAt, null);
    assert.match(change.statusMessage!, /paused after 3 consecutive failed runs/);
    assert.match(change.statusMessage!, /ServerError: nope\./);
    assert.match(change.statusMessage!, /within 4 days/);
  });

  test('third consecutive failure fails a one-time job', () => {
    const change = onRunFailed(once({ consecutiveFailures: 2 }), 'ServerError: nope.', now, policy);
    assert.equal(change.state, 'FAILED');
    assert.equal(change.consecutiveFailures, 3);
    assert.equal(change.pendingAutomaticAt, null);
    assert.equal(change.pausedAt, undefined);
    assert.match(change.statusMessage!, /failed after 3 failed run\(s\).*ServerError: nope\./);
  });

  test('a one-time job with retries left retries after the delay', () => {
    const change = onRunFailed(once(), 'x', now, policy);
    assert.equal(change.state, 'ACTIVE');
    assert.equal(change.pendingAutomaticAt, now + policy.retryDelayMs);
  });

  test('the limit comes from the policy', () => {
    assert.equal(onRunFailed(facts(), 'x', now, { ...policy, maxConsecutiveFailures: 1 }).state, 'PAUSED_ON_FAILURE');
    const five = { ...policy, maxConsecutiveFailures: 5 };
    assert.match(onRunFailed(facts({ consecutiveFailures: 2 }), 'x', now, five).statusMessage!, /2 re-try run\(s\) remaining/);
  });
});

describe('onResume', () => {
  test('a paused job becomes ACTIVE with failures forgiven and its next run placed', () => {
    const paused = facts({ state: 'PAUSED_ON_FAILURE', consecutiveFailures: 3, pausedAt: T0, nextRunAt: null });
    assert.deepEqual(onResume(paused, T0 + DAY), {
      state: 'ACTIVE',
      consecutiveFailures: 0,
      pausedAt: null,
      statusMessage: null,
      pendingAutomaticAt: T0 + DAY,
    });
    assert.equal(onResume(paused, null).pendingAutomaticAt, null);
  });

  test('only a paused job can be resumed', () => {
    assert.throws(() => onResume(facts({ state: 'ACTIVE' }), T0), IllegalTransition);
    assert.throws(() => onResume(facts({ state: 'DELETED' }), T0), IllegalTransition);
  });
});

describe('decideExpiry / nextExpiryAt', () => {
  const pausedAt = T0 + 10 * DAY;
  const paused = facts({ state: 'PAUSED_ON_FAILURE', pausedAt, nextRunAt: null });

  test('a paused job is deleted 4 days after it paused, not a moment before', () => {
    assert.deepEqual(decideExpiry(paused, pausedAt + 4 * DAY - 1, policy), { kind: 'none' });
    const decision = decideExpiry(paused, pausedAt + 4 * DAY, policy);
    assert.equal(decision.kind, 'delete');
    assert.ok(decision.kind === 'delete');
    assert.match(decision.reason, /paused on failure for more than 4 days/);
    assert.equal(nextExpiryAt(paused, policy), pausedAt + 4 * DAY);
  });

  test('a job is deleted 90 days after its first replication', () => {
    for (const state of ['PENDING', 'ACTIVE'] as const) {
      const job = facts({ state, firstReplicationAt: T0 });
      assert.deepEqual(decideExpiry(job, T0 + 90 * DAY - 1, policy), { kind: 'none' });
      const decision = decideExpiry(job, T0 + 90 * DAY, policy);
      assert.ok(decision.kind === 'delete');
      assert.match(decision.reason, /90-day replication limit/);
      assert.equal(nextExpiryAt(job, policy), T0 + 90 * DAY);
    }
  });

  test('a paused job near its 90 days expires at whichever comes first', () => {
    const late = facts({ state: 'PAUSED_ON_FAILURE', firstReplicationAt: T0, pausedAt: T0 + 88 * DAY });
    assert.equal(nextExpiryAt(late, policy), T0 + 90 * DAY);
    const decision = decideExpiry(late, T0 + 90 * DAY, policy);
    assert.ok(decision.kind === 'delete');
    assert.match(decision.reason, /90-day/);
    assert.equal(nextExpiryAt(paused, policy), pausedAt + 4 * DAY);
  });

  test('a job that never replicated does not age out; terminal jobs never expire', () => {
    const neverRan = facts({ state: 'PENDING', firstReplicationAt: null });
    assert.deepEqual(decideExpiry(neverRan, T0 + 365 * DAY, policy), { kind: 'none' });
    assert.equal(nextExpiryAt(neverRan, policy), null);
    for (const state of ['COMPLETED', 'FAILED', 'DELETED', 'DELETING'] as const) {
      const job = facts({ state, firstReplicationAt: T0, pausedAt: T0 });
      assert.deepEqual(decideExpiry(job, T0 + 365 * DAY, policy), { kind: 'none' }, state);
      assert.equal(nextExpiryAt(job, policy), null, state);
    }
  });

  test('the limits come from the policy', () => {
    const short = { ...policy, pausedJobExpiryMs: HOUR, jobLifetimeMs: DAY };
    assert.equal(decideExpiry(paused, pausedAt + HOUR, short).kind, 'delete');
    assert.equal(decideExpiry(facts(), T0 + DAY, short).kind, 'delete');
  });
});

describe('imagesToRetire', () => {
  const newestFirst = ['ami-4', 'ami-3', 'ami-2', 'ami-1'];

  test('keeps the newest N and retires the rest, oldest last', () => {
    assert.deepEqual(imagesToRetire(newestFirst, 2), ['ami-2', 'ami-1']);
    assert.deepEqual(imagesToRetire(newestFirst, 1), ['ami-3', 'ami-2', 'ami-1']);
    assert.deepEqual(imagesToRetire(newestFirst, 3), ['ami-1']);
  });

  test('nothing to retire at or under the limit, or with 0 (keep all)', () => {
    assert.deepEqual(imagesToRetire(newestFirst, 4), []);
    assert.deepEqual(imagesToRetire(newestFirst, 270), []);
    assert.deepEqual(imagesToRetire(newestFirst, 0), []);
    assert.deepEqual(imagesToRetire([], 2), []);
  });
});

describe('onDemandAllowed (rolling 24 h window)', () => {
  const now = T0 + 10 * DAY;

  test('two on-demand runs per 24 h', () => {
    assert.equal(onDemandAllowed([], now, policy), true);
    assert.equal(onDemandAllowed([now - HOUR], now, policy), true);
    assert.equal(onDemandAllowed([now - 2 * HOUR, now - HOUR], now, policy), false);
    assert.equal(onDemandAllowed([now, now], now, policy), false);
  });

  test('a run drops out of the window exactly 24 h after it started', () => {
    assert.equal(onDemandAllowed([now - 24 * HOUR + 1, now - HOUR], now, policy), false);
    assert.equal(onDemandAllowed([now - 24 * HOUR, now - HOUR], now, policy), true);
    assert.equal(onDemandAllowed([now - 3 * DAY, now - 2 * DAY, now - 25 * HOUR], now, policy), true);
  });

  test('the quota and window come from the policy', () => {
    assert.equal(onDemandAllowed([now - HOUR, now - 2 * HOUR], now, { ...policy, onDemandRunsPerWindow: 3 }), true);
    assert.equal(onDemandAllowed([now - 2 * HOUR], now, { ...policy, onDemandRunsPerWindow: 1, onDemandWindowMs: HOUR }), true);
    assert.equal(onDemandAllowed([now - 30 * MINUTE], now, { ...policy, onDemandRunsPerWindow: 1, onDemandWindowMs: HOUR }), false);
  });
});

describe('onDemandQuota (what GetOnDemandQuota shows and StartOnDemandReplicationRun applies)', () => {
  const now = T0 + 10 * DAY;

  test('used counts the runs in the window; nextAvailableAt only once the quota is used up', () => {
    assert.deepEqual(onDemandQuota([], now, policy), { limit: 2, used: 0, windowMs: 24 * HOUR, nextAvailableAt: null });
    assert.deepEqual(onDemandQuota([now - 25 * HOUR, now - HOUR], now, policy), { limit: 2, used: 1, windowMs: 24 * HOUR, nextAvailableAt: null });
    // Used up: the next run may start when the older of the two leaves the window, whatever order they come in.
    const full = onDemandQuota([now - HOUR, now - 5 * HOUR], now, policy);
    assert.deepEqual(full, { limit: 2, used: 2, windowMs: 24 * HOUR, nextAvailableAt: now - 5 * HOUR + 24 * HOUR });
    const three = onDemandQuota([now - 2 * HOUR, now - HOUR, now - 3 * HOUR], now, { ...policy, onDemandRunsPerWindow: 2 });
    assert.equal(three.nextAvailableAt, now - 2 * HOUR + 24 * HOUR, 'with more runs than the limit, the one that keeps it full');
  });

  test('onDemandAllowed is the quota not used up, at every point of a window', () => {
    const starts = [now - 23 * HOUR, now - 2 * HOUR];
    for (let t = now - HOUR; t <= now + 24 * HOUR; t += HOUR) {
      const quota = onDemandQuota(starts, t, policy);
      assert.equal(onDemandAllowed(starts, t, policy), quota.used < quota.limit);
      if (quota.nextAvailableAt !== null) assert.equal(onDemandAllowed(starts, quota.nextAvailableAt, policy), true);
    }
  });
});

describe('EXPIRY_RULES (the data decideExpiry, nextExpiryAt and the scheduler queries share)', () => {
  test('every rule deletes exactly at its time, and nextExpiryAt names the earliest rule that applies', () => {
    for (const rule of EXPIRY_RULES) {
      for (const state of rule.states) {
        const job = facts({ state, pausedAt: null, firstReplicationAt: null, [rule.since]: T0 });
        const at = T0 + rule.lifetime(policy);
        assert.equal(nextExpiryAt(job, policy), at, `${rule.since} ${state}`);
        assert.deepEqual(decideExpiry(job, at - 1, policy), { kind: 'none' });
        assert.deepEqual(decideExpiry(job, at, policy), { kind: 'delete', reason: rule.reason });
      }
    }
    // States no rule names never expire.
    for (const state of ['COMPLETED', 'FAILED', 'DELETED', 'DELETING'] as const) {
      const job = facts({ state, pausedAt: T0, firstReplicationAt: T0 });
      assert.equal(nextExpiryAt(job, policy), null, state);
      assert.deepEqual(decideExpiry(job, T0 + 1000 * DAY, policy), { kind: 'none' }, state);
    }
  });
});
