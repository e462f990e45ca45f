/**
 * The replication job's lifecycle as pure transitions `(job, event, now) → change` (spec §4.3). The caller
 * applies the change to the store in one transaction; nothing here touches I/O.
 */
import type { Policy } from './policy.ts';
import { nextSlotAfter, type Cadence } from './schedule.ts';
import type { ReplicationJobState } from './enums.ts';

export interface JobFacts extends Cadence {
  state: ReplicationJobState;
  runOnce: boolean;
  nextRunAt: number | null;
  consecutiveFailures: number;
  firstReplicationAt: number | null;
  pausedAt: number | null;
}

export interface JobChange {
  state?: ReplicationJobState;
  statusMessage?: string | null;
  consecutiveFailures?: number;
  firstReplicationAt?: number;
  pausedAt?: number | null;
  /**
   * Where the job's single pending AUTOMATIC run should be: a time creates or moves it, null cancels it,
   * undefined leaves it as it is. `nextRunAt` on the job mirrors it.
   */
  pendingAutomaticAt?: number | null;
  latestAmiId?: string;
}

export class IllegalTransition extends Error {}

/** A connector started (claimed) a run. */
export function onRunStarted(job: JobFacts, run: { type: string; scheduledStartTime: number }, now: number): JobChange {
  if (job.state !== 'PENDING' && job.state !== 'ACTIVE') {
    throw new IllegalTransition(`A run cannot start while the job is ${job.state}.`);
  }
  const change: JobChange = { state: 'ACTIVE' };
  if (job.firstReplicationAt === null) change.firstReplicationAt = now;
  if (run.type === 'AUTOMATIC') {
    change.pendingAutomaticAt = job.runOnce ? null : nextSlotAfter(job, Math.max(run.scheduledStartTime, job.seedTime));
  }
  return change;
}

export function onRunCompleted(job: JobFacts, amiId: string): JobChange {
  if (job.runOnce) {
    return { state: 'COMPLETED', consecutiveFailures: 0, statusMessage: null, pendingAutomaticAt: null, latestAmiId: amiId };
  }
  return { state: 'ACTIVE', consecutiveFailures: 0, statusMessage: null, latestAmiId: amiId };
}

/**
 * A run failed. Until the limit of consecutive failures, the job stays ACTIVE and a retry run comes after
 * `retryDelayMs` (or at the next scheduled run if that is sooner). At the limit, a recurring job pauses
 * (PAUSED_ON_FAILURE, resumable for `pausedJobExpiryMs`) and a one-time job fails.
 */
export function onRunFailed(job: JobFacts, reason: string, now: number, policy: Policy): JobChange {
  const failures = job.consecutiveFailures + 1;
  const remaining = policy.maxConsecutiveFailures - failures;
  if (remaining <= 0) {
    if (job.runOnce) {
      return {
        state: 'FAILED',
        consecutiveFailures: failures,
        statusMessage: `Replication job failed after ${failures} failed run(s). Last error: ${reason}`,
        pendingAutomaticAt: null,
      };
    }
    return {
      state: 'PAUSED_ON_FAILURE',
      consecutiveFailures: failures,
      pausedAt: now,
      statusMessage:
        `Replication job paused after ${failures} consecutive failed runs. Last error: ${reason} ` +
        'Resume it with UpdateReplicationJob (nextReplicationRunStartTime) or StartOnDemandReplicationRun within 4 days, or it is deleted.',
      pendingAutomaticAt: null,
    };
  }
  const retryAt = now + policy.retryDelayMs;
  const pendingAutomaticAt = job.nextRunAt === null ? retryAt : Math.min(job.nextRunAt, retryAt);
  return {
    state: 'ACTIVE',
    consecutiveFailures: failures,
    statusMessage: `Replication run failed: ${reason} ${remaining} re-try run(s) remaining.`,
    pendingAutomaticAt,
  };
}

/** Resume a PAUSED_ON_FAILURE job: failures are forgiven and the schedule restarts at `nextRunAt`. */
export function onResume(job: JobFacts, nextRunAt: number | null): JobChange {
  if (job.state !== 'PAUSED_ON_FAILURE') throw new IllegalTransition(`Job is ${job.state}, not paused.`);
  return {
    state: 'ACTIVE',
    consecutiveFailures: 0,
    pausedAt: null,
    statusMessage: null,
    pendingAutomaticAt: nextRunAt,
  };
}

export type ExpiryDecision = { kind: 'none' } | { kind: 'delete'; reason: string };

/** Whether a job has outlived its 90-day service time or its 4-day pause. */
export function decideExpiry(job: JobFacts, now: number, policy: Policy): ExpiryDecision {
  if (job.state === 'PAUSED_ON_FAILURE' && job.pausedAt !== null && now >= job.pausedAt + policy.pausedJobExpiryMs) {
    return { kind: 'delete', reason: 'Deleted: the job stayed paused on failure for more than 4 days without being resumed.' };
  }
  if (
    (job.state === 'PENDING' || job.state === 'ACTIVE' || job.state === 'PAUSED_ON_FAILURE') &&
    job.firstReplicationAt !== null &&
    now >= job.firstReplicationAt + policy.jobLifetimeMs
  ) {
    return { kind: 'delete', reason: 'Deleted: the server reached the 90-day replication limit since its first replication.' };
  }
  return { kind: 'none' };
}

/** The earliest time `decideExpiry` could change its answer for this job, for the scheduler's wake-up. */
export function nextExpiryAt(job: JobFacts, policy: Policy): number | null {
  const times: number[] = [];
  if (job.state === 'PAUSED_ON_FAILURE' && job.pausedAt !== null) times.push(job.pausedAt + policy.pausedJobExpiryMs);
  if (job.firstReplicationAt !== null && ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'].includes(job.state)) {
    times.push(job.firstReplicationAt + policy.jobLifetimeMs);
  }
  return times.length ? Math.min(...times) : null;
}

/**
 * Retention (`numberOfRecentAmisToKeep`): given the job's surviving images newest first, the ones to delete.
 * 0 keeps every image.
 */
export function imagesToRetire(imagesNewestFirst: readonly string[], keep: number): string[] {
  if (keep <= 0) return [];
  return imagesNewestFirst.slice(keep);
}

/** The rolling on-demand quota (spec §6.5): whether one more on-demand run is allowed. */
export function onDemandAllowed(onDemandStartTimes: readonly number[], now: number, policy: Policy): boolean {
  const recent = onDemandStartTimes.filter((t) => t > now - policy.onDemandWindowMs).length;
  return recent < policy.onDemandRunsPerWindow;
}
