/**
 * The time-driven steps the scheduler applies to runs and jobs: expired leases, due AUTOMATIC runs that must be
 * MISSED, job expiry and finishing deletions, and the next moment any of them has work. The rules are the domain's
 * (replicationRun.ts, schedule.ts, jobLifecycle.ts EXPIRY_RULES); the queries find the rows those rules apply to.
 */
import { decideExpiry, EXPIRY_RULES, type ExpiryRule } from '../domain/jobLifecycle.ts';
import { leaseExpired, leaseExpiryMessage } from '../domain/replicationRun.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import type { FerryEvent } from './events.ts';
import { applyJobChange, factsOf, jobForChange, lockJobOfRun } from './jobChanges.ts';
import { cancelJob } from './jobs.ts';
import { recordFailure, settleDueAutomaticRun } from './runs.ts';
import * as runs from '../store/runs/index.ts';
import * as jobs from '../store/jobs/index.ts';

/** The jobs column each expiry rule counts from. */
const SINCE_COLUMN = { pausedAt: 'paused_at', firstReplicationAt: 'first_replication_at' } as const satisfies Record<ExpiryRule['since'], jobs.JobClockColumn>;

/**
 * Scheduler step. A run whose lease ran out (its connector died or lost the network) fails with a message that
 * says so; the failure counts toward the job's consecutive failures like any other, so a retry run follows
 * after the retry delay, and a connector that comes back resumes the work there.
 */
export async function expireLeases(core: Core, now: number): Promise<number> {
  const expired = await runs.leaseExpiredBefore(core.db, now);
  for (const run of expired) {
    await inTransaction(core, async (tx, emit) => {
      await jobForChange(tx, core, run.replication_job_id);
      const current = await runs.get(tx, run.replication_run_id);
      if (!current || !leaseExpired({ state: current.state, leaseExpiresAt: current.lease_expires_at }, now)) return;
      await recordFailure(tx, core, current, leaseExpiryMessage(current.connector_id, current.lease_expires_at!), now, emit);
    });
  }
  return expired.length;
}

/**
 * Scheduler step: due AUTOMATIC runs that must be skipped become MISSED promptly, even if no connector asks.
 * Two indexed queries find them: runs past their `miss_at` (the following slot), and due runs of jobs that
 * have another run ACTIVE (driven by the few active runs, not by the pending ones).
 */
export async function settleDueRuns(core: Core, now: number): Promise<void> {
  const ids = await runs.missCandidates(core.db, now);
  for (const replicationRunId of ids) {
    await inTransaction(core, async (tx, emit) => {
      const job = await lockJobOfRun(tx, core, replicationRunId);
      const run = await runs.get(tx, replicationRunId);
      if (!job || !run || run.state !== 'PENDING') return;
      if (job.state !== 'PENDING' && job.state !== 'ACTIVE') return;
      await settleDueAutomaticRun(tx, job, run, now, emit);
    });
  }
}

/** Scheduler step: jobs past an expiry rule (4 days paused, 90 days since the first run) are deleted; DELETING jobs finish. */
export async function expireJobs(core: Core, now: number): Promise<void> {
  const candidates = await jobs.idsInStates(core.db, ['DELETING']);
  for (const rule of EXPIRY_RULES) {
    candidates.push(...(await jobs.idsInStates(core.db, rule.states, { column: SINCE_COLUMN[rule.since], atOrBefore: now - rule.lifetime(core.policy) })));
  }
  for (const candidate of new Set(candidates)) {
    await inTransaction(core, (tx, emit) => expireJobIn(tx, emit, core, candidate, now));
  }
}

/** One job's step of expireJobs inside the caller's transaction: a DELETING job finishes, an expired one is deleted. */
export async function expireJobIn(tx: Tx, emit: (e: FerryEvent) => void, core: Core, replicationJobId: string, now: number): Promise<void> {
  const job = await jobForChange(tx, core, replicationJobId);
  if (!job) throw new Error(`Replication job ${replicationJobId} is gone from the store.`);
  if (job.state === 'DELETING') {
    await applyJobChange(tx, job, { state: 'DELETED', statusMessage: job.status_message?.replace(/^Deleting/, 'Deleted') ?? 'Deleted' }, now, emit);
    return;
  }
  const decision = decideExpiry(factsOf(job), now, core.policy);
  if (decision.kind === 'delete') await cancelJob(tx, job, 'DELETED', decision.reason, now, emit);
}

/** The earliest future moment at which one of the steps above has work, so the scheduler can sleep until then. */
export async function nextWakeAt(core: Core, now: number): Promise<number | null> {
  const run = await runs.nextRunTimes(core.db, now);
  // A run falling due can be MISSED at once if its job has an active run; a lease is over just after its end.
  const times = [run.nextDue, run.nextMiss, run.nextLeaseEnd === null ? null : run.nextLeaseEnd + 1];
  if (await jobs.anyInState(core.db, 'DELETING')) times.push(now);
  for (const rule of EXPIRY_RULES) {
    for (const state of rule.states) {
      const first = await jobs.earliest(core.db, state, SINCE_COLUMN[rule.since]);
      if (first !== null) times.push(first + rule.lifetime(core.policy));
    }
  }
  const finite = times.filter((t): t is number => t !== null && Number.isFinite(t));
  return finite.length ? Math.min(...finite) : null;
}
