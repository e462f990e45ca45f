/**
 * Schedule arithmetic for AUTOMATIC runs. Slots are `seed + k·frequency` (k ≥ 0); every rule here is a pure
 * function of its arguments, so the scheduler's behaviour over days can be tested in milliseconds.
 */
import { HOUR } from '../lib/clock.ts';

export interface Cadence {
  seedTime: number;
  /** Hours between runs; null for a one-time job. */
  frequencyHours: number | null;
}

/** The first slot strictly after `t`, or null for a one-time job. */
export function nextSlotAfter(cadence: Cadence, t: number): number | null {
  if (cadence.frequencyHours === null) return null;
  const period = cadence.frequencyHours * HOUR;
  if (t < cadence.seedTime) return cadence.seedTime;
  const k = Math.floor((t - cadence.seedTime) / period) + 1;
  return cadence.seedTime + k * period;
}

/** The latest slot at or before `t` (the seed itself if `t` is before it). */
export function latestSlotAtOrBefore(cadence: Cadence, t: number): number {
  if (cadence.frequencyHours === null || t <= cadence.seedTime) return cadence.seedTime;
  const period = cadence.frequencyHours * HOUR;
  return cadence.seedTime + Math.floor((t - cadence.seedTime) / period) * period;
}

export type DueRunDecision =
  | { kind: 'wait' }
  | { kind: 'claimable' }
  /** Skip this run (it becomes MISSED) and put the job's next AUTOMATIC run at `nextRunAt`. */
  | { kind: 'miss'; reason: string; nextRunAt: number; slotsSkipped: number };

/**
 * What to do with a job's pending AUTOMATIC run at `now`.
 *
 * Skip-not-queue: a run that falls due while another run of the job is active is MISSED and the job moves to
 * its next slot. A due run that no connector has started by the time the following slot arrives (the service
 * or every connector was down) is MISSED too; the slots that passed meanwhile collapse into that one MISSED
 * record, and the job catches up with a single run at the latest slot that has already fallen due, which is
 * immediately claimable. One-time jobs never miss: their only run waits for a connector.
 */
export function decideDueAutomaticRun(
  cadence: Cadence,
  run: { scheduledStartTime: number },
  otherRunActive: boolean,
  now: number,
): DueRunDecision {
  if (now < run.scheduledStartTime) return { kind: 'wait' };
  if (cadence.frequencyHours === null) return { kind: 'claimable' };
  const following = nextSlotAfter(cadence, run.scheduledStartTime)!;
  if (otherRunActive) {
    const nextRunAt = nextSlotAfter(cadence, now)!;
    return {
      kind: 'miss',
      reason: 'Skipped: another replication run of this job was still active at the scheduled start time.',
      nextRunAt,
      slotsSkipped: slotsBetween(cadence, run.scheduledStartTime, nextRunAt),
    };
  }
  if (now < following) return { kind: 'claimable' };
  const catchUpAt = latestSlotAtOrBefore(cadence, now);
  const skipped = slotsBetween(cadence, run.scheduledStartTime, catchUpAt);
  return {
    kind: 'miss',
    reason:
      skipped > 1
        ? `Skipped: not started before the next scheduled run; ${skipped} scheduled runs fell due while no connector or service was available.`
        : 'Skipped: not started before the next scheduled run (no connector or service was available).',
    nextRunAt: catchUpAt,
    slotsSkipped: skipped,
  };
}

/** Number of slots in [from, to). */
function slotsBetween(cadence: Cadence, from: number, to: number): number {
  if (cadence.frequencyHours === null || to <= from) return 0;
  return Math.max(1, Math.round((to - from) / (cadence.frequencyHours * HOUR)));
}
