/** Applies a domain `JobChange` to the store, inside the caller's transaction. */
import type { JobChange, JobFacts } from '../domain/jobLifecycle.ts';
import type { ReplicationJobState } from '../domain/enums.ts';
import { imagesToRetire } from '../domain/jobLifecycle.ts';
import { nextSlotAfter } from '../domain/schedule.ts';
import { newReplicationRunId } from '../lib/ids.ts';
import type { FerryEvent } from './events.ts';
import type { Core, Tx } from './context.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { JobRow } from '../store/rows.ts';
import * as jobs from '../store/jobs/index.ts';
import * as runs from '../store/runs/index.ts';
import * as catalog from '../store/catalog/index.ts';
import { tenantOf } from '../domain/tenant.ts';

export function factsOf(row: JobRow): JobFacts {
  return {
    state: row.state as ReplicationJobState,
    seedTime: row.schedule_anchor,
    frequencyHours: row.run_once === 1 ? null : row.frequency,
    runOnce: row.run_once === 1,
    nextRunAt: row.next_run_at,
    consecutiveFailures: row.consecutive_failures,
    firstReplicationAt: row.first_replication_at,
    pausedAt: row.paused_at,
  };
}

/**
 * The job, read to be changed and locked against every other writer of it until `tx` ends where the store's
 * transactions run side by side (store/jobs getForChange). Every path that decides a change of a job from its state
 * or its runs reads it here first; with `tenant`, only within that tenant.
 */
export function jobForChange(tx: Tx, core: Pick<Core, 'capabilities'>, replicationJobId: string, tenant?: Tenant): Promise<JobRow | undefined> {
  return jobs.getForChange(tx, replicationJobId, core.capabilities.sharedByNodes === true, tenant);
}

/** jobForChange of the job a run belongs to, for paths that start from the run (a connector's report, a lease). */
export function lockJobOfRun(tx: Tx, core: Pick<Core, 'capabilities'>, replicationRunId: string): Promise<JobRow | undefined> {
  return jobs.getForChangeOfRun(tx, replicationRunId, core.capabilities.sharedByNodes === true);
}

export async function applyJobChange(
  tx: Tx,
  job: JobRow,
  change: JobChange,
  now: number,
  emit: (e: FerryEvent) => void,
): Promise<void> {
  if (change.pendingAutomaticAt !== undefined) await placePendingAutomaticRun(tx, job, change.pendingAutomaticAt, now, emit);
  if (change.state !== undefined) {
    // The state as stored, not as the caller's row says: the per-account count must follow what really changed.
    const stored = await jobs.storedState(tx, job.replication_job_id);
    await jobs.countJobTransition(tx, tenantOf(job), stored, change.state);
  }
  await jobs.applyChange(tx, job.replication_job_id, change, now);
  // Spec §4.2: `replicationJobTerminated` = the server's job was deleted or failed.
  if (change.state === 'FAILED') await catalog.markJobTerminated(tx, job.server_id, job.replication_job_id, now);
  if (change.state !== undefined && change.state !== job.state) {
    emit({
      type: 'job.state',
      tenant: tenantOf(job),
      replicationJobId: job.replication_job_id,
      state: change.state,
      previousState: job.state,
      statusMessage: change.statusMessage ?? job.status_message,
    });
  }
}

/** Creates, moves or (with null) removes the job's single pending AUTOMATIC run. */
export async function placePendingAutomaticRun(
  tx: Tx,
  job: JobRow,
  at: number | null,
  now: number,
  emit?: (e: FerryEvent) => void,
): Promise<void> {
  const pending = await runs.pendingAutomaticOf(tx, job.replication_job_id);
  if (at === null) {
    // A run that never started leaves no trace: it was only a plan.
    if (pending) await runs.remove(tx, pending);
    return;
  }
  if (pending) {
    await runs.reschedule(tx, pending, { scheduled_start_time: at, miss_at: missAt(job, at), encrypted: job.encrypted, kms_key_id: job.kms_key_id }, now);
    return;
  }
  const replicationRunId = await insertRun(tx, job, { type: 'AUTOMATIC', scheduledStartTime: at, description: job.description }, now);
  emit?.({
    type: 'run.state',
    tenant: tenantOf(job),
    replicationJobId: job.replication_job_id,
    replicationRunId,
    runType: 'AUTOMATIC',
    state: 'PENDING',
  });
}

/** When a pending AUTOMATIC run of `job` scheduled at `at` is skipped if still unstarted (one-time jobs: never). */
function missAt(job: JobRow, at: number): number | null {
  return job.run_once === 1 ? null : nextSlotAfter(factsOf(job), at);
}

/** A new PENDING run of `job`, pointed at by the job as its latest. */
export async function insertRun(
  tx: Tx,
  job: JobRow,
  run: { type: 'AUTOMATIC' | 'ON_DEMAND'; scheduledStartTime: number; description: string | null },
  now: number,
): Promise<string> {
  const { replicationRunId, seq } = await insertRunRow(tx, job, run, now);
  await jobs.setLatestRunSeq(tx, job.replication_job_id, seq);
  return replicationRunId;
}

/**
 * The run's row alone, under a fresh id (drawn again while the insert finds it taken), with its sequence: a new job
 * is inserted after its first run and carries the sequence itself instead of being updated to it.
 */
export async function insertRunRow(
  tx: Tx,
  job: JobRow,
  run: { type: 'AUTOMATIC' | 'ON_DEMAND'; scheduledStartTime: number; description: string | null },
  now: number,
): Promise<{ replicationRunId: string; seq: number }> {
  const row: runs.NewRun = {
    replication_run_id: '',
    replication_job_id: job.replication_job_id,
    account_id: job.account_id,
    region: job.region,
    type: run.type,
    state: 'PENDING',
    scheduled_start_time: run.scheduledStartTime,
    started_at: null,
    completed_time: null,
    status_message: null,
    stage: null,
    stage_progress: null,
    ami_id: null,
    ami_deleted: 0,
    description: run.description,
    encrypted: job.encrypted,
    kms_key_id: job.kms_key_id,
    connector_id: null,
    lease_expires_at: null,
    miss_at: run.type === 'AUTOMATIC' ? missAt(job, run.scheduledStartTime) : null,
    progress: null,
    created_at: now,
    updated_at: now,
  };
  for (;;) {
    row.replication_run_id = newReplicationRunId();
    const seq = await runs.insertIfIdFree(tx, row);
    if (seq !== undefined) return { replicationRunId: row.replication_run_id, seq };
  }
}

/**
 * Applies `numberOfRecentAmisToKeep`: marks the images beyond the newest N as retired and queues their deletion
 * for the image store (drained by the scheduler, so a crash between the two never loses a deletion).
 */
export async function retireOldImages(tx: Tx, job: JobRow, keep: number, now: number): Promise<string[]> {
  if (keep <= 0) return [];
  const retire = imagesToRetire(await runs.keptImagesOf(tx, job.replication_job_id), keep);
  await runs.retireImages(tx, job, retire, now);
  return retire;
}
