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

/**
 * The expiry rules as data: a job in one of `states` is deleted `lifetime(policy)` after its `since` time. decideExpiry
 * and nextExpiryAt read them, and so do the scheduler's queries (core/jobExpiry.ts), so all three agree.
 */
export interface ExpiryRule {
  since: 'pausedAt' | 'firstReplicationAt';
  states: readonly ReplicationJobState[];
  lifetime(policy: Policy): number;
  reason: string;
}

export const EXPIRY_RULES: readonly ExpiryRule[] = [
  {
    since: 'pausedAt',
    states: ['PAUSED_ON_FAILURE'],
    lifetime: (policy) => policy.pausedJobExpiryMs,
    reason: 'Deleted: the job stayed paused on failure for more than 4 days without being resumed.',
  },
  {
    since: 'firstReplicationAt',
    states: ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'],
    lifetime: (policy) => policy.jobLifetimeMs,
    reason: 'Deleted: the server reached the 90-day replication limit since its first replication.',
  },
];

/** When `rule` deletes this job, or null when it does not apply to it. */
function expiresAt(rule: ExpiryRule, job: JobFacts, policy: Policy): number | null {
  const since = job[rule.since];
  return since !== null && rule.states.includes(job.state) ? since + rule.lifetime(policy) : null;
}

/** Whether a job has outlived its 90-day service time or its 4-day pause (the first rule that applies). */
export function decideExpiry(job: JobFacts, now: number, policy: Policy): ExpiryDecision {
  for (const rule of EXPIRY_RULES) {
    const at = expiresAt(rule, job, policy);
    if (at !== null && now >= at) return { kind: 'delete', reason: rule.reason };
  }
  return { kind: 'none' };
}

/** The earliest time `decideExpiry` could change its answer for this job, for the scheduler's wake-up. */
export function nextExpiryAt(job: JobFacts, policy: Policy): number | null {
  const times = EXPIRY_RULES.map((rule) => expiresAt(rule, job, policy)).filter((t): t is number => t !== null);
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

export interface OnDemandQuota {
  limit: number;
  /** On-demand runs started within the rolling window. */
  used: number;
  windowMs: number;
  /** When the next on-demand run becomes possible, if the quota is used up; null otherwise. */
  nextAvailableAt: number | null;
}

/**
 * The rolling on-demand quota (spec §6.5): at most `onDemandRunsPerWindow` on-demand runs start in any
 * `onDemandWindowMs`, counted from each run's start. StartOnDemandReplicationRun and Ferry's GetOnDemandQuota read it.
 */
export function onDemandQuota(onDemandStartTimes: readonly number[], now: number, policy: Policy): OnDemandQuota {
  const { onDemandRunsPerWindow: limit, onDemandWindowMs: windowMs } = policy;
  const recent = onDemandStartTimes.filter((t) => t > now - windowMs).sort((a, b) => a - b);
  // Used up: the next one may start when the oldest run that still keeps the count at the limit leaves the window.
  const nextAvailableAt = limit > 0 && recent.length >= limit ? recent[recent.length - limit]! + windowMs : null;
  return { limit, used: recent.length, windowMs, nextAvailableAt };
}

/** Whether one more on-demand run is allowed now. */
export function onDemandAllowed(onDemandStartTimes: readonly number[], now: number, policy: Policy): boolean {
  const quota = onDemandQuota(onDemandStartTimes, now, policy);
  return quota.used < quota.limit;
}
