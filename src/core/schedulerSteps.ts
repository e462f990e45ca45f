/**
 * The time-driven steps the scheduler applies to runs and jobs: expired leases, due AUTOMATIC runs that must be
 * MISSED, job expiry and finishing deletions, and the next moment any of them has work. The rules are the domain's
 * (replicationRun.ts, schedule.ts, jobLifecycle.ts EXPIRY_RULES); the queries find the rows those rules apply to.
 */
import { decideExpiry, EXPIRY_RULES, type ExpiryRule } from '../domain/jobLifecycle.ts';
import { leaseExpired, leaseExpiryMessage } from '../domain/replicationRun.ts';
import { inTransaction, type Core } from './context.ts';
import { applyJobChange, factsOf } from './jobChanges.ts';
import { cancelJob } from './jobs.ts';
import { jobById, recordFailure, settleDueAutomaticRun } from './runs.ts';

/** The jobs column each expiry rule counts from. */
const SINCE_COLUMN = { pausedAt: 'paused_at', firstReplicationAt: 'first_replication_at' } as const satisfies Record<ExpiryRule['since'], string>;

/**
 * Scheduler step. A run whose lease ran out (its connector died or lost the network) fails with a message that
 * says so; the failure counts toward the job's consecutive failures like any other, so a retry run follows
 * after the retry delay, and a connector that comes back resumes the work there.
 */
export async function expireLeases(core: Core, now: number): Promise<number> {
  const expired = await core.db
    .selectFrom('runs')
    .selectAll()
    .where('state', '=', 'ACTIVE')
    .where('lease_expires_at', '<', now)
    .execute();
  for (const run of expired) {
    await inTransaction(core, async (tx, emit) => {
      const current = await tx.selectFrom('runs').selectAll().where('replication_run_id', '=', run.replication_run_id).executeTakeFirstOrThrow();
      if (!leaseExpired({ state: current.state, leaseExpiresAt: current.lease_expires_at }, now)) return;
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
  const pastSlot = await core.db
    .selectFrom('runs')
    .select('replication_run_id')
    .where('state', '=', 'PENDING')
    .where('miss_at', '<=', now)
    .execute();
  const blocked = await core.db
    .selectFrom('runs as active')
    .innerJoin('runs as pending', 'pending.replication_job_id', 'active.replication_job_id')
    .select('pending.replication_run_id')
    .where('active.state', '=', 'ACTIVE')
    .where('pending.state', '=', 'PENDING')
    .where('pending.type', '=', 'AUTOMATIC')
    .where('pending.scheduled_start_time', '<=', now)
    .execute();
  const ids = new Set([...pastSlot, ...blocked].map((r) => r.replication_run_id));
  for (const replicationRunId of ids) {
    await inTransaction(core, async (tx, emit) => {
      const run = await tx.selectFrom('runs').selectAll().where('replication_run_id', '=', replicationRunId).executeTakeFirst();
      if (!run || run.state !== 'PENDING') return;
      const job = await jobById(tx, run.replication_job_id);
      if (job.state !== 'PENDING' && job.state !== 'ACTIVE') return;
      await settleDueAutomaticRun(tx, job, run, now, emit);
    });
  }
}

/** Scheduler step: jobs past an expiry rule (4 days paused, 90 days since the first run) are deleted; DELETING jobs finish. */
export async function expireJobs(core: Core, now: number): Promise<void> {
  const select = () => core.db.selectFrom('jobs').select('replication_job_id');
  const candidates = [...(await select().where('state', '=', 'DELETING').execute())];
  for (const rule of EXPIRY_RULES) {
    candidates.push(...(await select().where('state', 'in', rule.states).where(SINCE_COLUMN[rule.since], '<=', now - rule.lifetime(core.policy)).execute()));
  }
  for (const candidate of new Set(candidates.map((c) => c.replication_job_id))) {
    await inTransaction(core, async (tx, emit) => {
      const job = await jobById(tx, candidate);
      if (job.state === 'DELETING') {
        await applyJobChange(tx, job, { state: 'DELETED', statusMessage: job.status_message?.replace(/^Deleting/, 'Deleted') ?? 'Deleted' }, now, emit);
        return;
      }
      const decision = decideExpiry(factsOf(job), now, core.policy);
      if (decision.kind === 'delete') await cancelJob(tx, job, 'DELETED', decision.reason, now, emit);
    });
  }
}

/** The earliest future moment at which one of the steps above has work, so the scheduler can sleep until then. */
export async function nextWakeAt(core: Core, now: number): Promise<number | null> {
  const min = async (query: Promise<{ t: unknown } | undefined>) => {
    const row = await query;
    return row?.t == null ? null : Number(row.t);
  };
  const times = [
    // A run falling due can be MISSED at once if its job has an active run.
    await min(
      core.db
        .selectFrom('runs')
        .select((eb) => eb.fn.min('scheduled_start_time').as('t'))
        .where('state', '=', 'PENDING')
        .where('scheduled_start_time', '>', now)
        .executeTakeFirst(),
    ),
    await min(core.db.selectFrom('runs').select((eb) => eb.fn.min('miss_at').as('t')).where('state', '=', 'PENDING').executeTakeFirst()),
    await min(core.db.selectFrom('runs').select((eb) => eb.fn.min('lease_expires_at').as('t')).where('state', '=', 'ACTIVE').executeTakeFirst()),
  ];
  const lease = times[2];
  if (lease !== null && lease !== undefined) times[2] = lease + 1;
  const deleting = await core.db.selectFrom('jobs').select('replication_job_id').where('state', '=', 'DELETING').limit(1).executeTakeFirst();
  if (deleting) times.push(now);
  // Each expiry rule, one indexed min() per state (an index on (state, column) answers `min where state =` at once).
  for (const rule of EXPIRY_RULES) {
    for (const state of rule.states) {
      const first = await min(
        core.db.selectFrom('jobs').select((eb) => eb.fn.min(SINCE_COLUMN[rule.since]).as('t')).where('state', '=', state).executeTakeFirst(),
      );
      if (first !== null) times.push(first + rule.lifetime(core.policy));
    }
  }
  const finite = times.filter((t): t is number => t !== null && Number.isFinite(t));
  return finite.length ? Math.min(...finite) : null;
}
