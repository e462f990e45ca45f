/**
 * Replication runs as connectors drive them: which runs are due for a connector, claiming them with a lease,
 * reporting progress, completing and failing. The rules are domain/replicationRun.ts's transitions; the time-driven
 * steps the scheduler applies are in core/schedulerSteps.ts.
 */
import { onRunCompleted as jobOnRunCompleted, onRunFailed as jobOnRunFailed, onRunStarted } from '../domain/jobLifecycle.ts';
import {
  checkProgressReport,
  isRepeatedCompletion,
  onRunClaimed,
  onRunCompleted,
  onRunFailed,
  onRunMissed,
  onRunProgress,
  requireHeld,
  type ProgressReport,
} from '../domain/replicationRun.ts';
import { decideDueAutomaticRun } from '../domain/schedule.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import { applyJobChange, factsOf, lockJobOfRun, placePendingAutomaticRun, retireOldImages } from './jobChanges.ts';
import { applyRunChange, heldRun, runEvent, runFacts } from './runChanges.ts';
import type { ConnectorRow, JobRow, RunRow } from '../store/rows.ts';
import type { Executor } from '../store/executor.ts';
import * as runs from '../store/runs/index.ts';
import * as jobs from '../store/jobs/index.ts';
import * as catalog from '../store/catalog/index.ts';
import type { FerryEvent } from './events.ts';
import type { RunAssignment } from '../domain/connectorCalls.ts';
import { ImageStoreError } from '../images/errors.ts';
import { finishedImageOfRun } from '../store/images/index.ts';
import { tenantOf } from '../domain/tenant.ts';


/** A run as a connector is handed it (domain/connectorCalls.ts). */
export type ClaimedRun = RunAssignment;

export async function jobById(tx: Executor, replicationJobId: string): Promise<JobRow> {
  const job = await jobs.get(tx, replicationJobId);
  if (!job) throw new Error(`Replication job ${replicationJobId} is gone from the store.`);
  return job;
}

/** Marks a due AUTOMATIC run MISSED and places the job's next one, if the schedule says so. Returns true if missed. */
export async function settleDueAutomaticRun(tx: Tx, job: JobRow, run: RunRow, now: number, emit: (e: FerryEvent) => void): Promise<boolean> {
  const decision = decideDueAutomaticRun(factsOf(job), { scheduledStartTime: run.scheduled_start_time }, await runs.hasActive(tx, job.replication_job_id), now);
  if (decision.kind !== 'miss') return false;
  await applyRunChange(tx, run, onRunMissed(runFacts(run), decision.reason), now);
  emit(runEvent(job, run, 'MISSED', decision.reason));
  await jobs.setNextRunAt(tx, job.replication_job_id, decision.nextRunAt, now);
  await placePendingAutomaticRun(tx, job, decision.nextRunAt, now, emit);
  return true;
}

/**
 * Up to `limit` runs due for `connector` (domain/replicationRun.ts isRunDueFor, as the runs repository's query), on-demand
 * runs first, then by scheduled time.
 */
export function listDueRuns(db: Executor, connector: ConnectorRow, now: number, limit: number): Promise<RunRow[]> {
  return runs.listDue(db, connector, now, limit);
}

/** Whether a run is due for the connector (what a heartbeat answers as runsWaiting): the claim's rule and query. */
export async function hasDueRun(core: Core, connector: ConnectorRow, now: number): Promise<boolean> {
  return runs.anyDue(core.db, connector, now);
}

/**
 * A connector takes up to `max` due runs of the jobs on its VM manager, one per job, on-demand runs first. Each
 * claimed run is ACTIVE with a lease the connector renews by reporting progress.
 */
export async function claimRuns(core: Core, connector: ConnectorRow, max: number): Promise<ClaimedRun[]> {
  const now = core.clock.now();
  return inTransaction(core, async (tx, emit) => {
    const candidates = await runs.claimDue(tx, core.capabilities, connector, now, Math.max(max, 1) * 4);
    const claimed: ClaimedRun[] = [];
    const busyJobs = new Set<string>();
    for (const run of candidates) {
      if (claimed.length >= max) break;
      if (busyJobs.has(run.replication_job_id)) continue;
      const job = await jobById(tx, run.replication_job_id);
      if (run.type === 'AUTOMATIC' && (await settleDueAutomaticRun(tx, job, run, now, emit))) continue;
      if (await runs.hasActive(tx, job.replication_job_id)) continue;
      busyJobs.add(job.replication_job_id);
      const change = onRunClaimed(runFacts(run), connector.connector_id, now, core.policy);
      await applyRunChange(tx, run, change, now);
      emit(runEvent(job, run, 'ACTIVE'));
      await applyJobChange(tx, job, onRunStarted(factsOf(job), { type: run.type, scheduledStartTime: run.scheduled_start_time }, now), now, emit);
      claimed.push(await assignmentOf(tx, { ...run, lease_expires_at: change.leaseExpiresAt ?? null }, job));
    }
    if (claimed.length) emit({ type: 'schedule.changed' });
    return claimed;
  });
}

async function assignmentOf(db: Executor, run: RunRow, job: JobRow): Promise<ClaimedRun> {
  const details = await catalog.serverDetails(db, job.server_id);
  return {
    replicationRunId: run.replication_run_id,
    replicationJobId: job.replication_job_id,
    type: run.type,
    serverId: job.server_id,
    vmServer: JSON.parse(job.vm_server) as RunAssignment['vmServer'],
    scheduledStartTime: run.scheduled_start_time,
    leaseExpiresAt: run.lease_expires_at ?? 0,
    encrypted: run.encrypted === 1,
    kmsKeyId: run.kms_key_id,
    licenseType: job.license_type,
    roleName: job.role_name,
    description: run.description,
    parentAmiId: job.latest_ami_id,
    serverDetails: details ? JSON.parse(details) : null,
    stage: run.stage,
    stageProgress: run.stage_progress,
  };
}

/**
 * The runs this connector holds as ACTIVE, so a restarted connector (or a restarted service with its embedded
 * connector) picks its work up again instead of waiting for the lease to expire.
 */
export async function activeRuns(core: Core, connector: ConnectorRow): Promise<ClaimedRun[]> {
  const held: ClaimedRun[] = [];
  for (const run of await runs.activeHeldBy(core.db, connector.connector_id)) {
    held.push(await assignmentOf(core.db, run, await jobById(core.db, run.replication_job_id)));
  }
  return held;
}

export async function reportProgress(core: Core, connector: ConnectorRow, replicationRunId: string, report: ProgressReport): Promise<{ leaseExpiresAt: number }> {
  const now = core.clock.now();
  // An impossible report is refused before the run is looked at (400 whoever holds the run).
  checkProgressReport(report);
  // Unsynced: progress lost to a power loss is simply reported again, so a run does not wait for an fsync per stage.
  return inTransaction(core, async (tx, emit) => {
    const run = await heldRun(tx, connector, replicationRunId);
    const change = onRunProgress(runFacts(run), report, now, core.policy);
    await applyRunChange(tx, run, change, now);
    emit({
      type: 'run.progress',
      tenant: tenantOf(run),
      replicationJobId: run.replication_job_id,
      replicationRunId,
      stage: report.stage,
      stageProgress: report.stageProgress,
    });
    emit({ type: 'schedule.changed' });
    return { leaseExpiresAt: change.leaseExpiresAt! };
  }, { synced: false });
}

/**
 * A run completes with the image it finished itself (image/finish), in its own account: nothing else can become
 * the job's latest image, the parent of its next run, or a target of its retention.
 */
async function requireOwnImage(tx: Tx, run: RunRow, amiId: string): Promise<void> {
  const finished = await finishedImageOfRun(tx, run.replication_run_id);
  if (!finished || finished.accountId !== run.account_id || finished.region !== run.region) {
    throw new ImageStoreError('Conflict', `Run ${run.replication_run_id} has no finished image: finish its image (image/finish) before completing it.`);
  }
  if (finished.amiId !== amiId) {
    throw new ImageStoreError('InvalidArgument', `Run ${run.replication_run_id} finished image ${finished.amiId}; it completes with that image only, not ${amiId}.`);
  }
}

export async function completeRun(core: Core, connector: ConnectorRow, replicationRunId: string, amiId: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    // The job first (every writer of a job locks it before its runs), then the run as it stands behind that lock.
    await lockJobOfRun(tx, core, replicationRunId);
    const found = await runs.getInTenant(tx, tenantOf(connector), replicationRunId);
    if (found && isRepeatedCompletion({ ...runFacts(found), amiId: found.ami_id }, connector.connector_id, amiId)) return;
    const run = requireHeld(found && { ...runFacts(found), row: found }, replicationRunId, connector.connector_id).row;
    await requireOwnImage(tx, run, amiId);
    await applyRunChange(tx, run, onRunCompleted(runFacts(run), amiId, now), now);
    const job = await jobById(tx, run.replication_job_id);
    emit(runEvent(job, run, 'COMPLETED', 'Completed'));
    await applyJobChange(tx, job, jobOnRunCompleted(factsOf(job), amiId), now, emit);
    await retireOldImages(tx, job, job.amis_to_keep, now);
    emit({ type: 'schedule.changed' });
  });
}

export async function failRun(core: Core, connector: ConnectorRow, replicationRunId: string, message: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, (tx, emit) => failRunIn(tx, emit, core, connector, replicationRunId, message, now));
}

/** A connector's failure report inside the caller's transaction. */
export async function failRunIn(tx: Tx, emit: (e: FerryEvent) => void, core: Core, connector: ConnectorRow, replicationRunId: string, message: string, now: number): Promise<void> {
  await lockJobOfRun(tx, core, replicationRunId);
  const run = await heldRun(tx, connector, replicationRunId);
  await recordFailure(tx, core, run, message, now, emit);
}

/**
 * Fails an ACTIVE run (reported by its connector, or its lease ran out) and lets its job count the failure. The
 * caller holds the job's lock (jobForChange / lockJobOfRun) and read `run` after taking it.
 */
export async function recordFailure(tx: Tx, core: Core, run: RunRow, message: string, now: number, emit: (e: FerryEvent) => void): Promise<void> {
  await applyRunChange(tx, run, onRunFailed(runFacts(run), message, now), now);
  const job = await jobById(tx, run.replication_job_id);
  emit(runEvent(job, run, 'FAILED', message));
  if (job.state === 'ACTIVE' || job.state === 'PENDING') {
    await applyJobChange(tx, job, jobOnRunFailed(factsOf(job), message, now, core.policy), now, emit);
  }
  emit({ type: 'schedule.changed' });
}
