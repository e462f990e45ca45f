import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideDueAutomaticRun, latestSlotAtOrBefore, nextSlotAfter, type Cadence } from '../../src/domain/schedule.ts';
import { DAY, HOUR, MINUTE } from '../../src/lib/clock.ts';

const T0 = Date.UTC(2026, 0, 1, 6);
const every = (frequencyHours: number | null, seedTime = T0): Cadence => ({ seedTime, frequencyHours });

describe('nextSlotAfter', () => {
  test('before the seed, the seed is the next slot', () => {
    assert.equal(nextSlotAfter(every(12), T0 - 5 * DAY), T0);
    assert.equal(nextSlotAfter(every(12), T0 - 1), T0);
  });

  test('is strictly after t: a slot exactly at t is not "next"', () => {
    assert.equal(nextSlotAfter(every(12), T0), T0 + 12 * HOUR);
    assert.equal(nextSlotAfter(every(12), T0 + 12 * HOUR), T0 + 24 * HOUR);
    assert.equal(nextSlotAfter(every(12), T0 + 12 * HOUR - 1), T0 + 12 * HOUR);
    assert.equal(nextSlotAfter(every(12), T0 + 12 * HOUR + 1), T0 + 24 * HOUR);
  });

  test('frequency 1 and 24', () => {
    assert.equal(nextSlotAfter(every(1), T0 + 90 * MINUTE), T0 + 2 * HOUR);
    assert.equal(nextSlotAfter(every(1), T0 + 2 * HOUR), T0 + 3 * HOUR);
    assert.equal(nextSlotAfter(every(24), T0 + 1), T0 + DAY);
    assert.equal(nextSlotAfter(every(24), T0 + 10 * DAY), T0 + 11 * DAY);
    assert.equal(nextSlotAfter(every(24), T0 + 10 * DAY - 1), T0 + 10 * DAY);
  });

  test('a one-time job has no next slot', () => {
    assert.equal(nextSlotAfter(every(null), T0 - HOUR), null);
    assert.equal(nextSlotAfter(every(null), T0 + HOUR), null);
  });
});

describe('latestSlotAtOrBefore', () => {
  test('the seed itself at or before the seed', () => {
    assert.equal(latestSlotAtOrBefore(every(12), T0 - DAY), T0);
    assert.equal(latestSlotAtOrBefore(every(12), T0), T0);
  });

  test('a slot exactly at t counts', () => {
    assert.equal(latestSlotAtOrBefore(every(12), T0 + 12 * HOUR), T0 + 12 * HOUR);
    assert.equal(latestSlotAtOrBefore(every(12), T0 + 12 * HOUR - 1), T0);
    assert.equal(latestSlotAtOrBefore(every(12), T0 + 12 * HOUR + 1), T0 + 12 * HOUR);
  });

  test('frequency 1 and 24', () => {
    assert.equal(latestSlotAtOrBefore(every(1), T0 + 5 * HOUR + 59 * MINUTE), T0 + 5 * HOUR);
    assert.equal(latestSlotAtOrBefore(every(24), T0 + 3 * DAY - 1), T0 + 2 * DAY);
    assert.equal(latestSlotAtOrBefore(every(24), T0 + 3 * DAY), T0 + 3 * DAY);
  });

  test('a one-time job only has its seed', () => {
    assert.equal(latestSlotAtOrBefore(every(null), T0 + 40 * DAY), T0);
  });

  test('agrees with nextSlotAfter: latest ≤ t < next, one period apart', () => {
    for (const frequency of [1, 5, 12, 24]) {
      for (let t = T0; t < T0 + 3 * DAY; t += 37 * MINUTE + 11) {
        const latest = latestSlotAtOrBefore(every(frequency), t);
        const next = nextSlotAfter(every(frequency), t)!;
        assert.ok(latest <= t && t < next, `frequency ${frequency}, t=${t}`);
        assert.equal(next - latest, frequency * HOUR);
        assert.equal((latest - T0) % (frequency * HOUR), 0);
      }
    }
  });
});

describe('decideDueAutomaticRun', () => {
  const cadence = every(12);

  test('waits until the scheduled start', () => {
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, false, T0 - 1), { kind: 'wait' });
    // Another run being active does not matter before the run is due.
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, true, T0 - 1), { kind: 'wait' });
  });

  test('claimable from exactly its start until just before the following slot', () => {
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, false, T0), { kind: 'claimable' });
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, false, T0 + 12 * HOUR - 1), { kind: 'claimable' });
  });

  test('missed because another run is active: the job moves to the next slot after now', () => {
    const decision = decideDueAutomaticRun(cadence, { scheduledStartTime: T0 + 12 * HOUR }, true, T0 + 12 * HOUR);
    assert.equal(decision.kind, 'miss');
    assert.ok(decision.kind === 'miss');
    assert.equal(decision.nextRunAt, T0 + 24 * HOUR);
    assert.equal(decision.slotsSkipped, 1);
    assert.match(decision.reason, /another replication run of this job was still active/);
  });

  test('missed because another run is active, noticed late: still the next slot strictly after now', () => {
    const decision = decideDueAutomaticRun(cadence, { scheduledStartTime: T0 + 12 * HOUR }, true, T0 + 24 * HOUR);
    assert.ok(decision.kind === 'miss');
    assert.equal(decision.nextRunAt, T0 + 36 * HOUR);
    assert.equal(decision.slotsSkipped, 2);
  });

  test('not started by the following slot (exactly at it): missed, the following slot is due now', () => {
    const decision = decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, false, T0 + 12 * HOUR);
    assert.ok(decision.kind === 'miss');
    assert.equal(decision.nextRunAt, T0 + 12 * HOUR);
    assert.equal(decision.slotsSkipped, 1);
    assert.match(decision.reason, /not started before the next scheduled run/);
    // …and that catch-up run is claimable at once.
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: decision.nextRunAt }, false, T0 + 12 * HOUR), { kind: 'claimable' });
  });

  test('after downtime, N skipped slots collapse into one miss and one catch-up at the latest due slot', () => {
    const now = T0 + 3 * 12 * HOUR + 5 * HOUR; // slots T0, +12h, +24h passed; +36h is the latest due
    const decision = decideDueAutomaticRun(cadence, { scheduledStartTime: T0 }, false, now);
    assert.ok(decision.kind === 'miss');
    assert.equal(decision.nextRunAt, T0 + 36 * HOUR);
    assert.equal(decision.slotsSkipped, 3);
    assert.match(decision.reason, /3 scheduled runs fell due/);
    assert.deepEqual(decideDueAutomaticRun(cadence, { scheduledStartTime: decision.nextRunAt }, false, now), { kind: 'claimable' });
  });

  test('a run off the grid (a retry) is missed at the next grid slot', () => {
    const retry = { scheduledStartTime: T0 + 15 * MINUTE };
    assert.deepEqual(decideDueAutomaticRun(cadence, retry, false, T0 + 12 * HOUR - 1), { kind: 'claimable' });
    const decision = decideDueAutomaticRun(cadence, retry, false, T0 + 12 * HOUR);
    assert.ok(decision.kind === 'miss');
    assert.equal(decision.nextRunAt, T0 + 12 * HOUR);
    assert.equal(decision.slotsSkipped, 1);
    // frequency 1: a retry at +15 min, then slots +1h and +2h passed; catch-up at +3h, three runs skipped.
    const hourly = decideDueAutomaticRun(every(1), retry, false, T0 + 3 * HOUR + 10 * MINUTE);
    assert.ok(hourly.kind === 'miss');
    assert.equal(hourly.nextRunAt, T0 + 3 * HOUR);
    assert.equal(hourly.slotsSkipped, 3);
  });

  test('frequency 1 and 24 boundaries', () => {
    assert.deepEqual(decideDueAutomaticRun(every(1), { scheduledStartTime: T0 }, false, T0 + HOUR - 1), { kind: 'claimable' });
    const hourly = decideDueAutomaticRun(every(1), { scheduledStartTime: T0 }, false, T0 + HOUR);
    assert.ok(hourly.kind === 'miss');
    assert.equal(hourly.nextRunAt, T0 + HOUR);
    const busyHourly = decideDueAutomaticRun(every(1), { scheduledStartTime: T0 + HOUR }, true, T0 + HOUR);
    assert.ok(busyHourly.kind === 'miss');
    assert.equal(busyHourly.nextRunAt, T0 + 2 * HOUR);

    assert.deepEqual(decideDueAutomaticRun(every(24), { scheduledStartTime: T0 }, false, T0 + DAY - 1), { kind: 'claimable' });
    const daily = decideDueAutomaticRun(every(24), { scheduledStartTime: T0 }, false, T0 + 5 * DAY + HOUR);
    assert.ok(daily.kind === 'miss');
    assert.equal(daily.nextRunAt, T0 + 5 * DAY);
    assert.equal(daily.slotsSkipped, 5);
  });

  test('one-time jobs never miss: their only run waits for a connector', () => {
    const once = every(null);
    assert.deepEqual(decideDueAutomaticRun(once, { scheduledStartTime: T0 }, false, T0 - 1), { kind: 'wait' });
    assert.deepEqual(decideDueAutomaticRun(once, { scheduledStartTime: T0 }, false, T0 + 60 * DAY), { kind: 'claimable' });
    assert.deepEqual(decideDueAutomaticRun(once, { scheduledStartTime: T0 }, true, T0 + 60 * DAY), { kind: 'claimable' });
  });
});
