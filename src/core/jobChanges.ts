/** Applies a domain `JobChange` to the store, inside the caller's transaction. */
import type { Updateable } from 'kysely';
import type { JobsTable } from '../store/schema.ts';
import type { JobChange, JobFacts } from '../domain/jobLifecycle.ts';
import type { ReplicationJobState } from '../domain/enums.ts';
import { imagesToRetire } from '../domain/jobLifecycle.ts';
import { nextSlotAfter } from '../domain/schedule.ts';
import { newReplicationRunId } from '../lib/ids.ts';
import { freshId } from './uniqueId.ts';
import type { FerryEvent } from './events.ts';
import type { Tx } from './context.ts';
import type { JobRow } from '../store/rows.ts';
import { countJobTransition } from '../store/jobs/activeJobCounts.ts';

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

export async function applyJobChange(
  tx: Tx,
  job: JobRow,
  change: JobChange,
  now: number,
  emit: (e: FerryEvent) => void,
): Promise<void> {
  const patch: Updateable<JobsTable> = { updated_at: now };
  if (change.state !== undefined) patch.state = change.state;
  if (change.statusMessage !== undefined) patch.status_message = change.statusMessage;
  if (change.consecutiveFailures !== undefined) patch.consecutive_failures = change.consecutiveFailures;
  if (change.firstReplicationAt !== undefined) patch.first_replication_at = change.firstReplicationAt;
  if (change.pausedAt !== undefined) patch.paused_at = change.pausedAt;
  if (change.latestAmiId !== undefined) patch.latest_ami_id = change.latestAmiId;
  if (change.pendingAutomaticAt !== undefined) {
    patch.next_run_at = change.pendingAutomaticAt;
    await placePendingAutomaticRun(tx, job, change.pendingAutomaticAt, now, emit);
  }
  if (change.state !== undefined) {
    // The state as stored, not as the caller's row says: the per-account count must follow what really changed.
    const stored = await tx.selectFrom('jobs').select('state').where('replication_job_id', '=', job.replication_job_id).executeTakeFirstOrThrow();
    await countJobTransition(tx, { accountId: job.account_id, region: job.region }, stored.state, change.state);
  }
  await tx.updateTable('jobs').set(patch).where('replication_job_id', '=', job.replication_job_id).execute();
  if (change.state === 'FAILED') {
    // Spec §4.2: `replicationJobTerminated` = the server's job was deleted or failed.
    await tx
      .updateTable('servers')
      .set({ replication_job_terminated: 1, updated_at: now })
      .where('server_id', '=', job.server_id)
      .where('replication_job_id', '=', job.replication_job_id)
      .execute();
  }
  if (change.state !== undefined && change.state !== job.state) {
    emit({
      type: 'job.state',
      tenant: { accountId: job.account_id, region: job.region },
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
  const pending = await tx
    .selectFrom('runs')
    .select(['replication_run_id'])
    .where('replication_job_id', '=', job.replication_job_id)
    .where('state', '=', 'PENDING')
    .where('type', '=', 'AUTOMATIC')
    .executeTakeFirst();
  if (at === null) {
    // A run that never started leaves no trace: it was only a plan.
    if (pending) await tx.deleteFrom('runs').where('replication_run_id', '=', pending.replication_run_id).execute();
    return;
  }
  if (pending) {
    await tx
      .updateTable('runs')
      .set({ scheduled_start_time: at, miss_at: missAt(job, at), updated_at: now, encrypted: job.encrypted, kms_key_id: job.kms_key_id })
      .where('replication_run_id', '=', pending.replication_run_id)
      .execute();
    return;
  }
  const replicationRunId = await insertRun(tx, job, { type: 'AUTOMATIC', scheduledStartTime: at, description: job.description }, now);
  emit?.({
    type: 'run.state',
    tenant: { accountId: job.account_id, region: job.region },
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

export async function insertRun(
  tx: Tx,
  job: JobRow,
  run: { type: 'AUTOMATIC' | 'ON_DEMAND'; scheduledStartTime: number; description: string | null },
  now: number,
): Promise<string> {
  const replicationRunId = await freshId(tx, 'runs', 'replication_run_id', newReplicationRunId);
  const inserted = await tx
    .insertInto('runs')
    .values({
      replication_run_id: replicationRunId,
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
    })
    .returning('seq')
    .executeTakeFirstOrThrow();
  await tx.updateTable('jobs').set({ latest_run_seq: inserted.seq }).where('replication_job_id', '=', job.replication_job_id).execute();
  return replicationRunId;
}

/**
 * Applies `numberOfRecentAmisToKeep`: marks the images beyond the newest N as retired and queues their deletion
 * for the image store (drained by the scheduler, so a crash between the two never loses a deletion).
 */
export async function retireOldImages(tx: Tx, job: JobRow, keep: number, now: number): Promise<string[]> {
  if (keep <= 0) return [];
  const images = await tx
    .selectFrom('runs')
    .select(['ami_id'])
    .where('replication_job_id', '=', job.replication_job_id)
    .where('state', '=', 'COMPLETED')
    .where('ami_id', 'is not', null)
    .where('ami_deleted', '=', 0)
    .orderBy('completed_time', 'desc')
    .orderBy('seq', 'desc')
    .execute();
  const retire = imagesToRetire(
    images.map((r) => r.ami_id!),
    keep,
  );
  if (retire.length === 0) return [];
  await tx
    .updateTable('runs')
    .set({ ami_deleted: 1, updated_at: now })
    .where('replication_job_id', '=', job.replication_job_id)
    .where('ami_id', 'in', retire)
    .execute();
  await tx
    .insertInto('image_deletions')
    .values(
      retire.map((amiId) => ({
        account_id: job.account_id,
        region: job.region,
        replication_job_id: job.replication_job_id,
        ami_id: amiId,
        requested_at: now,
        done_at: null,
        attempts: 0,
        last_error: null,
      })),
    )
    .execute();
  return retire;
}
