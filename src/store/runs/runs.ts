/**
 * The runs of replication jobs: reads by id and owner, the one write of a run's transition (domain/replicationRun.ts
 * RunChange), and the lookups the scheduler's time-driven steps start from.
 */
import type { Updateable } from 'kysely';
import type { RunChange } from '../../domain/replicationRun.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';
import type { RunRow } from '../rows.ts';
import type { RunsTable } from '../schema.ts';
import { inTenant } from '../tenancy.ts';

export function get(db: Executor, replicationRunId: string): Promise<RunRow | undefined> {
  return db.selectFrom('runs').selectAll().where('replication_run_id', '=', replicationRunId).executeTakeFirst();
}

/** A run looked up only within its tenant (a connector never sees another account's runs). */
export function getInTenant(db: Executor, tenant: Tenant, replicationRunId: string): Promise<RunRow | undefined> {
  return db
    .selectFrom('runs')
    .selectAll()
    .where('replication_run_id', '=', replicationRunId)
    .where(inTenant(tenant))
    .executeTakeFirst();
}

/**
 * Writes a transition: only the fields the change names, and the update time, if the run is still in the state the
 * transition was decided from (`fromState`). Returns false when it is not: another transaction changed the run in
 * between (PostgreSQL's writers do not wait for each other's reads, as SQLite's single writer does).
 */
export async function applyChange(db: Executor, replicationRunId: string, fromState: string, change: RunChange, now: number): Promise<boolean> {
  const patch: Updateable<RunsTable> = { updated_at: now };
  if (change.state !== undefined) patch.state = change.state;
  if (change.statusMessage !== undefined) patch.status_message = change.statusMessage;
  if (change.startedAt !== undefined) patch.started_at = change.startedAt;
  if (change.connectorId !== undefined) patch.connector_id = change.connectorId;
  if (change.leaseExpiresAt !== undefined) patch.lease_expires_at = change.leaseExpiresAt;
  if (change.stage !== undefined) patch.stage = change.stage;
  if (change.stageProgress !== undefined) patch.stage_progress = change.stageProgress;
  if (change.progress !== undefined) patch.progress = JSON.stringify(change.progress);
  if (change.amiId !== undefined) patch.ami_id = change.amiId;
  if (change.completedTime !== undefined) patch.completed_time = change.completedTime;
  const result = await db.updateTable('runs').set(patch).where('replication_run_id', '=', replicationRunId).where('state', '=', fromState).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Whether the job has an ACTIVE run (other than `except`). */
export async function hasActive(db: Executor, replicationJobId: string, except?: string): Promise<boolean> {
  let query = db.selectFrom('runs').select('replication_run_id').where('replication_job_id', '=', replicationJobId).where('state', '=', 'ACTIVE');
  if (except) query = query.where('replication_run_id', '!=', except);
  return (await query.limit(1).executeTakeFirst()) !== undefined;
}

/** The ACTIVE runs a connector holds, oldest first. */
export function activeHeldBy(db: Executor, connectorId: string): Promise<RunRow[]> {
  return db.selectFrom('runs').selectAll().where('state', '=', 'ACTIVE').where('connector_id', '=', connectorId).orderBy('seq').execute();
}

/** ACTIVE runs whose lease ran out before `now`. */
export function leaseExpiredBefore(db: Executor, now: number): Promise<RunRow[]> {
  return db.selectFrom('runs').selectAll().where('state', '=', 'ACTIVE').where('lease_expires_at', '<', now).execute();
}

/**
 * PENDING runs that may have to be MISSED now: past their `miss_at` (the following slot), or due AUTOMATIC runs of
 * jobs with another run ACTIVE (found from the few active runs, not the many pending ones). Both queries are indexed.
 */
export async function missCandidates(db: Executor, now: number): Promise<string[]> {
  const pastSlot = await db.selectFrom('runs').select('replication_run_id').where('state', '=', 'PENDING').where('miss_at', '<=', now).execute();
  const blocked = await db
    .selectFrom('runs as active')
    .innerJoin('runs as pending', 'pending.replication_job_id', 'active.replication_job_id')
    .select('pending.replication_run_id')
    .where('active.state', '=', 'ACTIVE')
    .where('pending.state', '=', 'PENDING')
    .where('pending.type', '=', 'AUTOMATIC')
    .where('pending.scheduled_start_time', '<=', now)
    .execute();
  return [...new Set([...pastSlot, ...blocked].map((r) => r.replication_run_id))];
}

/** The next moments the scheduler's run steps have work: a pending run falling due, a miss slot, a lease running out. */
export async function nextRunTimes(db: Executor, now: number): Promise<{ nextDue: number | null; nextMiss: number | null; nextLeaseEnd: number | null }> {
  const min = async (query: Promise<{ t: unknown } | undefined>) => {
    const row = await query;
    return row?.t == null ? null : Number(row.t);
  };
  return {
    nextDue: await min(
      db.selectFrom('runs').select((eb) => eb.fn.min('scheduled_start_time').as('t')).where('state', '=', 'PENDING').where('scheduled_start_time', '>', now).executeTakeFirst(),
    ),
    nextMiss: await min(db.selectFrom('runs').select((eb) => eb.fn.min('miss_at').as('t')).where('state', '=', 'PENDING').executeTakeFirst()),
    // `is not null` lets the partial runs_lease index (migration 15) answer the min.
    nextLeaseEnd: await min(db.selectFrom('runs').select((eb) => eb.fn.min('lease_expires_at').as('t')).where('state', '=', 'ACTIVE').where('lease_expires_at', 'is not', null).executeTakeFirst()),
  };
}

/** A run to insert: every column but the store's sequence. */
export type NewRun = Omit<RunRow, 'seq'>;

/** Inserts a run and returns its sequence (the order of a job's runs). */
export async function insert(db: Executor, run: NewRun): Promise<number> {
  const [inserted] = await rowsOf(db, insertRun(db, run));
  return inserted!.seq;
}

/** Every column is given (nulls included), so the statement is compiled once. */
const insertRun = compiledOnce('runs.insert', (db, run: NewRun) => db.insertInto('runs').values(run).returning('seq'));

/**
 * Inserts a run unless its id is taken, and returns its sequence (undefined when the id was taken: draw another).
 * The unique index answers the question a lookup before the insert would have asked, in the same statement.
 */
export async function insertIfIdFree(db: Executor, run: NewRun): Promise<number | undefined> {
  const [inserted] = await rowsOf(db, insertRunIfIdFree(db, run));
  return inserted?.seq;
}

const insertRunIfIdFree = compiledOnce('runs.insertIfIdFree', (db, run: NewRun) =>
  db.insertInto('runs').values(run).onConflict((oc) => oc.column('replication_run_id').doNothing()).returning('seq'),
);

/** The job's PENDING AUTOMATIC run (a job has at most one). */
export async function pendingAutomaticOf(db: Executor, replicationJobId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('runs')
    .select('replication_run_id')
    .where('replication_job_id', '=', replicationJobId)
    .where('state', '=', 'PENDING')
    .where('type', '=', 'AUTOMATIC')
    .executeTakeFirst();
  return row?.replication_run_id;
}

/** Removes a run outright (only a PENDING run that never started: it was only a plan). */
export async function remove(db: Executor, replicationRunId: string): Promise<void> {
  await db.deleteFrom('runs').where('replication_run_id', '=', replicationRunId).execute();
}

/** Moves a pending run to a new time and copies the job's current encryption settings onto it. */
export async function reschedule(
  db: Executor,
  replicationRunId: string,
  plan: Pick<RunRow, 'scheduled_start_time' | 'miss_at' | 'encrypted' | 'kms_key_id'>,
  now: number,
): Promise<void> {
  await db.updateTable('runs').set({ ...plan, updated_at: now }).where('replication_run_id', '=', replicationRunId).execute();
}

/** The job's PENDING and ACTIVE runs. */
export function liveOf(db: Executor, replicationJobId: string): Promise<Pick<RunRow, 'replication_run_id' | 'type' | 'state' | 'connector_id' | 'stage'>[]> {
  return db
    .selectFrom('runs')
    .select(['replication_run_id', 'type', 'state', 'connector_id', 'stage'])
    .where('replication_job_id', '=', replicationJobId)
    .where('state', 'in', ['PENDING', 'ACTIVE'])
    .execute();
}

/** The job's ACTIVE runs and all its ON_DEMAND ones (what StartOnDemandReplicationRun's limits read). */
export function activeOrOnDemandOf(db: Executor, replicationJobId: string): Promise<Pick<RunRow, 'replication_run_id' | 'state' | 'type' | 'created_at'>[]> {
  return db
    .selectFrom('runs')
    .select(['replication_run_id', 'state', 'type', 'created_at'])
    .where('replication_job_id', '=', replicationJobId)
    .where((eb) => eb.or([eb('state', '=', 'ACTIVE'), eb('type', '=', 'ON_DEMAND')]))
    .execute();
}

/** The image a run produced (null: none, or no such run). */
export async function amiOf(db: Executor, replicationRunId: string): Promise<string | null> {
  const row = await db.selectFrom('runs').select('ami_id').where('replication_run_id', '=', replicationRunId).executeTakeFirst();
  return row?.ami_id ?? null;
}

/** When the job's on-demand runs created after `after` were created (the on-demand quota's window). */
export async function onDemandCreatedAfter(db: Executor, replicationJobId: string, after: number): Promise<number[]> {
  const rows = await db.selectFrom('runs').select('created_at').where('replication_job_id', '=', replicationJobId).where('type', '=', 'ON_DEMAND').where('created_at', '>', after).execute();
  return rows.map((r) => r.created_at);
}

/** The images of the job's completed runs that are not retired, newest first. */
export async function keptImagesOf(db: Executor, replicationJobId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('runs')
    .select(['ami_id'])
    .where('replication_job_id', '=', replicationJobId)
    .where('state', '=', 'COMPLETED')
    .where('ami_id', 'is not', null)
    .where('ami_deleted', '=', 0)
    .orderBy('completed_time', 'desc')
    .orderBy('seq', 'desc')
    .execute();
  return rows.map((r) => r.ami_id!);
}

/**
 * Marks the job's runs' images `amiIds` retired and queues their deletion for the image store in the same
 * transaction (drained by the scheduler, so a crash between the two never loses a deletion).
 */
export async function retireImages(db: Executor, job: Pick<RunRow, 'replication_job_id' | 'account_id' | 'region'>, amiIds: readonly string[], now: number): Promise<void> {
  if (amiIds.length === 0) return;
  await db.updateTable('runs').set({ ami_deleted: 1, updated_at: now }).where('replication_job_id', '=', job.replication_job_id).where('ami_id', 'in', amiIds).execute();
  await db
    .insertInto('image_deletions')
    .values(
      amiIds.map((amiId) => ({
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
}
