/**
 * Replication runs as connectors drive them — claim with a lease, report progress, complete, fail — and the
 * time-driven steps the scheduler applies: due AUTOMATIC runs (MISSED when skipped), expired leases, job
 * expiry, finishing deletions.
 */
import { ServiceError, invalidParameter } from '../lib/errors.ts';
import { decideExpiry, onRunCompleted, onRunFailed, onRunStarted } from '../domain/jobLifecycle.ts';
import { decideDueAutomaticRun } from '../domain/schedule.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import { applyJobChange, factsOf, placePendingAutomaticRun, retireOldImages } from './jobChanges.ts';
import { cancelJob } from './jobs.ts';
import type { ConnectorRow, JobRow, RunRow } from '../store/rows.ts';
import type { FerryEvent } from './events.ts';
import type { ImageDb } from '../images/db.ts';
import { ImageStoreError } from '../images/errors.ts';
import { finishedImageOfRun } from '../images/imageRuns.ts';

/** The stages of a run, in order (spec §4.4); progress may only move forward. */
export const STAGES = ['Validating', 'Snapshotting', 'Uploading', 'Converting', 'Creating AMI'] as const;

export class RunConflict extends Error {}

export interface ClaimedRun {
  replicationRunId: string;
  replicationJobId: string;
  type: string;
  serverId: string;
  vmServer: unknown;
  scheduledStartTime: number;
  leaseExpiresAt: number;
  encrypted: boolean;
  kmsKeyId: string | null;
  licenseType: string | null;
  roleName: string | null;
  description: string | null;
  /** The job's newest image, the parent an incremental run builds on. */
  parentAmiId: string | null;
  serverDetails: unknown;
  /** Where a run already under way stands (a restarted connector resumes it): progress never goes back. */
  stage: string | null;
  stageProgress: string | null;
}

function runEvent(job: JobRow, run: { replication_run_id: string; type: string }, state: string, statusMessage?: string | null): FerryEvent {
  return {
    type: 'run.state',
    tenant: { accountId: job.account_id, region: job.region },
    replicationJobId: job.replication_job_id,
    replicationRunId: run.replication_run_id,
    runType: run.type,
    state,
    statusMessage,
  };
}

async function jobById(tx: Tx, replicationJobId: string): Promise<JobRow> {
  return tx.selectFrom('jobs').selectAll().where('replication_job_id', '=', replicationJobId).executeTakeFirstOrThrow();
}

async function hasActiveRun(tx: Tx, replicationJobId: string, except?: string): Promise<boolean> {
  let query = tx
    .selectFrom('runs')
    .select('replication_run_id')
    .where('replication_job_id', '=', replicationJobId)
    .where('state', '=', 'ACTIVE');
  if (except) query = query.where('replication_run_id', '!=', except);
  return (await query.limit(1).executeTakeFirst()) !== undefined;
}

/** Marks a due AUTOMATIC run MISSED and places the job's next one, if the schedule says so. Returns true if missed. */
async function settleDueAutomaticRun(tx: Tx, job: JobRow, run: RunRow, now: number, emit: (e: FerryEvent) => void): Promise<boolean> {
  const decision = decideDueAutomaticRun(factsOf(job), { scheduledStartTime: run.scheduled_start_time }, await hasActiveRun(tx, job.replication_job_id), now);
  if (decision.kind !== 'miss') return false;
  await tx
    .updateTable('runs')
    .set({ state: 'MISSED', status_message: decision.reason, updated_at: now })
    .where('replication_run_id', '=', run.replication_run_id)
    .execute();
  emit(runEvent(job, run, 'MISSED', decision.reason));
  await tx.updateTable('jobs').set({ next_run_at: decision.nextRunAt, updated_at: now }).where('replication_job_id', '=', job.replication_job_id).execute();
  await placePendingAutomaticRun(tx, job, decision.nextRunAt, now, emit);
  return true;
}

/**
 * A connector takes up to `max` due runs of the jobs on its VM manager, one per job, on-demand runs first. Each
 * claimed run is ACTIVE with a lease the connector renews by reporting progress.
 */
export async function claimRuns(core: Core, connector: ConnectorRow, max: number): Promise<ClaimedRun[]> {
  const now = core.clock.now();
  return inTransaction(core, async (tx, emit) => {
    const candidates = await tx
      .selectFrom('runs')
      .innerJoin('jobs', 'jobs.replication_job_id', 'runs.replication_job_id')
      .selectAll('runs')
      .where('runs.account_id', '=', connector.account_id)
      .where('runs.region', '=', connector.region)
      .where('runs.state', '=', 'PENDING')
      .where('runs.scheduled_start_time', '<=', now)
      .innerJoin('servers', 'servers.server_id', 'jobs.server_id')
      .where((eb) => eb.or([eb('servers.connector_id', '=', connector.connector_id), eb('jobs.vm_manager_id', '=', connector.vm_manager_id ?? '')]))
      .where('jobs.state', 'in', ['PENDING', 'ACTIVE'])
      .orderBy('runs.type', 'desc') // ON_DEMAND sorts after AUTOMATIC ascending; descending puts it first
      .orderBy('runs.scheduled_start_time', 'asc')
      .orderBy('runs.seq', 'asc')
      .limit(Math.max(max, 1) * 4)
      .execute();
    const claimed: ClaimedRun[] = [];
    const busyJobs = new Set<string>();
    for (const run of candidates) {
      if (claimed.length >= max) break;
      if (busyJobs.has(run.replication_job_id)) continue;
      const job = await jobById(tx, run.replication_job_id);
      if (run.type === 'AUTOMATIC' && (await settleDueAutomaticRun(tx, job, run, now, emit))) continue;
      if (await hasActiveRun(tx, job.replication_job_id)) continue;
      busyJobs.add(job.replication_job_id);
      const leaseExpiresAt = now + core.policy.runLeaseMs;
      await tx
        .updateTable('runs')
        .set({
          state: 'ACTIVE',
          started_at: now,
          connector_id: connector.connector_id,
          lease_expires_at: leaseExpiresAt,
          status_message: 'Starting',
          updated_at: now,
        })
        .where('replication_run_id', '=', run.replication_run_id)
        .execute();
      emit(runEvent(job, run, 'ACTIVE'));
      await applyJobChange(tx, job, onRunStarted(factsOf(job), { type: run.type, scheduledStartTime: run.scheduled_start_time }, now), now, emit);
      claimed.push(await assignmentOf(tx, { ...run, lease_expires_at: leaseExpiresAt }, job));
    }
    if (claimed.length) emit({ type: 'schedule.changed' });
    return claimed;
  });
}

async function assignmentOf(tx: Tx | Core['db'], run: RunRow, job: JobRow): Promise<ClaimedRun> {
  const server = await tx.selectFrom('servers').select(['details']).where('server_id', '=', job.server_id).executeTakeFirst();
  return {
    replicationRunId: run.replication_run_id,
    replicationJobId: job.replication_job_id,
    type: run.type,
    serverId: job.server_id,
    vmServer: JSON.parse(job.vm_server),
    scheduledStartTime: run.scheduled_start_time,
    leaseExpiresAt: run.lease_expires_at ?? 0,
    encrypted: run.encrypted === 1,
    kmsKeyId: run.kms_key_id,
    licenseType: job.license_type,
    roleName: job.role_name,
    description: run.description,
    parentAmiId: job.latest_ami_id,
    serverDetails: server?.details ? JSON.parse(server.details) : null,
    stage: run.stage,
    stageProgress: run.stage_progress,
  };
}

/**
 * The runs this connector holds as ACTIVE, so a restarted connector (or a restarted service with its embedded
 * connector) picks its work up again instead of waiting for the lease to expire.
 */
export async function activeRuns(core: Core, connector: ConnectorRow): Promise<ClaimedRun[]> {
  const rows = await core.db
    .selectFrom('runs')
    .selectAll()
    .where('state', '=', 'ACTIVE')
    .where('connector_id', '=', connector.connector_id)
    .orderBy('seq')
    .execute();
  const runs: ClaimedRun[] = [];
  for (const run of rows) {
    const job = await core.db.selectFrom('jobs').selectAll().where('replication_job_id', '=', run.replication_job_id).executeTakeFirstOrThrow();
    runs.push(await assignmentOf(core.db, run, job));
  }
  return runs;
}

async function ownedActiveRun(tx: Tx, connector: ConnectorRow, replicationRunId: string): Promise<RunRow> {
  const run = await tx
    .selectFrom('runs')
    .selectAll()
    .where('replication_run_id', '=', replicationRunId)
    .where('account_id', '=', connector.account_id)
    .where('region', '=', connector.region)
    .executeTakeFirst();
  if (!run) throw new RunConflict(`Run ${replicationRunId} does not exist.`);
  if (run.state !== 'ACTIVE' || run.connector_id !== connector.connector_id) {
    throw new RunConflict(`Run ${replicationRunId} is ${run.state} and no longer held by this connector; stop working on it.`);
  }
  return run;
}

export interface ProgressReport {
  stage: string;
  stageProgress: string;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
}

/** Longest stageProgress: it is shown as is (`42%`, `Completed`), in stageDetails and the console. */
export const MAX_STAGE_PROGRESS_LENGTH = 64;

/** A report that says something impossible is refused whole: progress is honest or absent. */
function checkProgressReport(report: ProgressReport): void {
  if (!STAGES.includes(report.stage as (typeof STAGES)[number])) {
    throw invalidParameter(`Unknown stage ${JSON.stringify(report.stage.slice(0, 40))}; stages are ${STAGES.join(', ')}.`);
  }
  if (report.stageProgress.length > MAX_STAGE_PROGRESS_LENGTH) {
    throw invalidParameter(`stageProgress must be at most ${MAX_STAGE_PROGRESS_LENGTH} characters long; got ${report.stageProgress.length}.`);
  }
  for (const name of ['bytesDone', 'bytesTotal'] as const) {
    const value = report[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw invalidParameter(`${name} must be a non-negative integer.`);
  }
  const perSecond = report.bytesPerSecond;
  if (perSecond !== undefined && !(Number.isFinite(perSecond) && perSecond >= 0 && perSecond <= Number.MAX_SAFE_INTEGER)) {
    throw invalidParameter('bytesPerSecond must be a non-negative number.');
  }
  if (report.bytesDone !== undefined && report.bytesTotal !== undefined && report.bytesDone > report.bytesTotal) {
    throw invalidParameter(`bytesDone (${report.bytesDone}) cannot exceed bytesTotal (${report.bytesTotal}).`);
  }
}

export async function reportProgress(core: Core, connector: ConnectorRow, replicationRunId: string, report: ProgressReport): Promise<{ leaseExpiresAt: number }> {
  const now = core.clock.now();
  checkProgressReport(report);
  const stageIndex = STAGES.indexOf(report.stage as (typeof STAGES)[number]);
  // Unsynced: progress lost to a power loss is simply reported again, so a run does not wait for an fsync per stage.
  return inTransaction(core, async (tx, emit) => {
    const run = await ownedActiveRun(tx, connector, replicationRunId);
    const previous = run.stage === null ? -1 : STAGES.indexOf(run.stage as (typeof STAGES)[number]);
    if (stageIndex < previous) {
      throw new ServiceError('InvalidParameterException', `Progress must move forward: the run is already at stage ${run.stage}.`);
    }
    const leaseExpiresAt = now + core.policy.runLeaseMs;
    await tx
      .updateTable('runs')
      .set({
        stage: report.stage,
        stage_progress: report.stageProgress,
        status_message: report.stage,
        lease_expires_at: leaseExpiresAt,
        progress: JSON.stringify({ bytesDone: report.bytesDone, bytesTotal: report.bytesTotal, bytesPerSecond: report.bytesPerSecond, at: now }),
        updated_at: now,
      })
      .where('replication_run_id', '=', replicationRunId)
      .execute();
    emit({
      type: 'run.progress',
      tenant: { accountId: run.account_id, region: run.region },
      replicationJobId: run.replication_job_id,
      replicationRunId,
      stage: report.stage,
      stageProgress: report.stageProgress,
    });
    emit({ type: 'schedule.changed' });
    return { leaseExpiresAt };
  }, { synced: false });
}

/**
 * A run completes with the image it finished itself (image/finish), in its own account: nothing else can become
 * the job's latest image, the parent of its next run, or a target of its retention.
 */
async function requireOwnImage(tx: Tx, run: RunRow, amiId: string): Promise<void> {
  const finished = await finishedImageOfRun(tx as unknown as ImageDb, run.replication_run_id);
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
    const run = await ownedActiveRun(tx, connector, replicationRunId);
    await requireOwnImage(tx, run, amiId);
    await tx
      .updateTable('runs')
      .set({ state: 'COMPLETED', ami_id: amiId, completed_time: now, status_message: 'Completed', stage: null, stage_progress: null, lease_expires_at: null, updated_at: now })
      .where('replication_run_id', '=', replicationRunId)
      .execute();
    const job = await jobById(tx, run.replication_job_id);
    emit(runEvent(job, run, 'COMPLETED', 'Completed'));
    await applyJobChange(tx, job, onRunCompleted(factsOf(job), amiId), now, emit);
    await retireOldImages(tx, job, job.amis_to_keep, now);
    emit({ type: 'schedule.changed' });
  });
}

export async function failRun(core: Core, connector: ConnectorRow, replicationRunId: string, message: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const run = await ownedActiveRun(tx, connector, replicationRunId);
    await recordFailure(tx, core, run, message, now, emit);
  });
}

async function recordFailure(tx: Tx, core: Core, run: RunRow, message: string, now: number, emit: (e: FerryEvent) => void): Promise<void> {
  await tx
    .updateTable('runs')
    .set({ state: 'FAILED', status_message: message, completed_time: now, stage: null, stage_progress: null, lease_expires_at: null, updated_at: now })
    .where('replication_run_id', '=', run.replication_run_id)
    .execute();
  const job = await jobById(tx, run.replication_job_id);
  emit(runEvent(job, run, 'FAILED', message));
  if (job.state === 'ACTIVE' || job.state === 'PENDING') {
    await applyJobChange(tx, job, onRunFailed(factsOf(job), message, now, core.policy), now, emit);
  }
  emit({ type: 'schedule.changed' });
}

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
      if (current.state !== 'ACTIVE' || (current.lease_expires_at ?? Infinity) >= now) return;
      const message = `Connector ${current.connector_id} stopped reporting progress; the run's lease expired at ${new Date(current.lease_expires_at!).toISOString()}.`;
      await recordFailure(tx, core, current, message, now, emit);
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

/** Scheduler step: paused jobs past 4 days and jobs past 90 days are deleted; DELETING jobs finish. */
export async function expireJobs(core: Core, now: number): Promise<void> {
  const { pausedJobExpiryMs, jobLifetimeMs } = core.policy;
  const select = () => core.db.selectFrom('jobs').select('replication_job_id');
  const candidates = [
    ...(await select().where('state', '=', 'DELETING').execute()),
    ...(await select().where('state', '=', 'PAUSED_ON_FAILURE').where('paused_at', '<=', now - pausedJobExpiryMs).execute()),
    ...(await select()
      .where('state', 'in', ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'])
      .where('first_replication_at', '<=', now - jobLifetimeMs)
      .execute()),
  ];
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
  const paused = await min(
    core.db.selectFrom('jobs').select((eb) => eb.fn.min('paused_at').as('t')).where('state', '=', 'PAUSED_ON_FAILURE').executeTakeFirst(),
  );
  if (paused !== null) times.push(paused + core.policy.pausedJobExpiryMs);
  for (const state of ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'] as const) {
    const first = await min(
      core.db.selectFrom('jobs').select((eb) => eb.fn.min('first_replication_at').as('t')).where('state', '=', state).executeTakeFirst(),
    );
    if (first !== null) times.push(first + core.policy.jobLifetimeMs);
  }
  const finite = times.filter((t): t is number => t !== null && Number.isFinite(t));
  return finite.length ? Math.min(...finite) : null;
}
