/** Replication jobs: reads by id and tenant, the writes of their lifecycle and settings, and the lookups the scheduler's expiry steps start from. */
import type { Updateable } from 'kysely';
import { NON_TERMINAL_JOB_STATES } from '../../domain/enums.ts';
import type { JobChange } from '../../domain/jobLifecycle.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { JobsTable } from '../schema.ts';
import type { JobRow } from '../rows.ts';
import type { Executor } from '../executor.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

export function get(db: Executor, replicationJobId: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('replication_job_id', '=', replicationJobId).executeTakeFirst();
}

export async function setNextRunAt(db: Executor, replicationJobId: string, nextRunAt: number | null, now: number): Promise<void> {
  await db.updateTable('jobs').set({ next_run_at: nextRunAt, updated_at: now }).where('replication_job_id', '=', replicationJobId).execute();
}

/** The job columns a time-driven rule counts from (domain/jobLifecycle.ts EXPIRY_RULES' `since`). */
export type JobClockColumn = 'paused_at' | 'first_replication_at';

/** Ids of the jobs in `states` (all of them, when `column` is given, only those whose `column` is at or before `atOrBefore`). */
export async function idsInStates(db: Executor, states: readonly string[], since?: { column: JobClockColumn; atOrBefore: number }): Promise<string[]> {
  let query = db.selectFrom('jobs').select('replication_job_id').where('state', 'in', states);
  if (since) query = query.where(since.column, '<=', since.atOrBefore);
  return (await query.execute()).map((r) => r.replication_job_id);
}

export async function anyInState(db: Executor, state: string): Promise<boolean> {
  return (await db.selectFrom('jobs').select('replication_job_id').where('state', '=', state).limit(1).executeTakeFirst()) !== undefined;
}

/**
 * The earliest `column` among jobs in `state` (one indexed min: an index on (state, column) answers it at once; it
 * may hold only the rows with the column set, migration 15, hence `is not null`, which min ignores anyway).
 */
export async function earliest(db: Executor, state: string, column: JobClockColumn): Promise<number | null> {
  const row = await db.selectFrom('jobs').select((eb) => eb.fn.min(column).as('t')).where('state', '=', state).where(column, 'is not', null).executeTakeFirst();
  return row?.t == null ? null : Number(row.t);
}

/** A job looked up only within its tenant. */
export function getInTenant(db: Executor, tenant: Tenant, replicationJobId: string): Promise<JobRow | undefined> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('replication_job_id', '=', replicationJobId)
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .executeTakeFirst();
}

/**
 * A job read to be changed: where transactions run side by side (`rowLocks`: PostgreSQL, READ COMMITTED) its row
 * stays locked (`FOR UPDATE`) until the caller's transaction ends, so what the caller decides from it (and from its
 * runs, read after this) still holds at commit; a second writer of the job waits here and then reads what the first
 * committed. SQLite's one writer already runs them one after the other (and has no FOR UPDATE). Writers of a job
 * take this lock before they touch its runs or the tenant's job count, so they never wait on each other in a circle.
 */
export function getForChange(db: Executor, replicationJobId: string, rowLocks: boolean, tenant?: Tenant): Promise<JobRow | undefined> {
  let query = db.selectFrom('jobs').selectAll().where('replication_job_id', '=', replicationJobId);
  if (tenant) query = query.where('account_id', '=', tenant.accountId).where('region', '=', tenant.region);
  return (rowLocks ? query.forUpdate() : query).executeTakeFirst();
}

/** getForChange of the job a run belongs to (a connector's report names the run only). */
export function getForChangeOfRun(db: Executor, replicationRunId: string, rowLocks: boolean): Promise<JobRow | undefined> {
  const query = db
    .selectFrom('jobs')
    .selectAll()
    .where('replication_job_id', '=', (eb) => eb.selectFrom('runs').select('runs.replication_job_id').where('runs.replication_run_id', '=', replicationRunId));
  return (rowLocks ? query.forUpdate() : query).executeTakeFirst();
}

/** The job's state as stored now (a caller's row may be older). */
export async function storedState(db: Executor, replicationJobId: string): Promise<string> {
  const row = await db.selectFrom('jobs').select('state').where('replication_job_id', '=', replicationJobId).executeTakeFirstOrThrow();
  return row.state;
}

/** Writes a lifecycle change (domain/jobLifecycle.ts JobChange): only the fields it names, and the update time. */
export async function applyChange(db: Executor, replicationJobId: string, change: JobChange, now: number): Promise<void> {
  const patch: Updateable<JobsTable> = { updated_at: now };
  if (change.state !== undefined) patch.state = change.state;
  if (change.statusMessage !== undefined) patch.status_message = change.statusMessage;
  if (change.consecutiveFailures !== undefined) patch.consecutive_failures = change.consecutiveFailures;
  if (change.firstReplicationAt !== undefined) patch.first_replication_at = change.firstReplicationAt;
  if (change.pausedAt !== undefined) patch.paused_at = change.pausedAt;
  if (change.latestAmiId !== undefined) patch.latest_ami_id = change.latestAmiId;
  if (change.pendingAutomaticAt !== undefined) patch.next_run_at = change.pendingAutomaticAt;
  await db.updateTable('jobs').set(patch).where('replication_job_id', '=', replicationJobId).execute();
}

const insertJob = compiledOnce('jobs.insert', (db, job: Omit<JobRow, 'seq'>) => db.insertInto('jobs').values(job));

/** A new job (its sequence is the store's). Every column is given, so the statement is compiled once. */
export async function insert(db: Executor, job: Omit<JobRow, 'seq'>): Promise<void> {
  await db.executeQuery(insertJob(db, job));
}

const nonTerminalJobOfServer = compiledOnce('jobs.nonTerminalOfServer', (db, p: { serverId: string }) =>
  db.selectFrom('jobs').select(['replication_job_id', 'state']).where('server_id', '=', p.serverId).where('state', 'in', NON_TERMINAL_JOB_STATES).limit(1),
);

/** The job a server has that is not yet over, if any (a server has at most one). */
export async function nonTerminalOfServer(db: Executor, serverId: string): Promise<Pick<JobRow, 'replication_job_id' | 'state'> | undefined> {
  return (await rowsOf(db, nonTerminalJobOfServer(db, { serverId })))[0];
}

/** What UpdateReplicationJob may change besides the schedule. */
export type JobSettings = Pick<JobRow, 'frequency' | 'license_type' | 'role_name' | 'description' | 'amis_to_keep' | 'encrypted' | 'kms_key_id'>;

export async function updateSettings(db: Executor, replicationJobId: string, settings: JobSettings, now: number): Promise<void> {
  await db.updateTable('jobs').set({ ...settings, updated_at: now }).where('replication_job_id', '=', replicationJobId).execute();
}

/** Re-anchors the job's schedule (and, when given, its next run). */
export async function setSchedule(db: Executor, replicationJobId: string, schedule: { anchor: number; nextRunAt?: number }): Promise<void> {
  const set = schedule.nextRunAt === undefined ? { schedule_anchor: schedule.anchor } : { schedule_anchor: schedule.anchor, next_run_at: schedule.nextRunAt };
  await db.updateTable('jobs').set(set).where('replication_job_id', '=', replicationJobId).execute();
}

const pointAtLatestRun = compiledOnce('jobs.setLatestRunSeq', (db, p: { replicationJobId: string; seq: number }) =>
  db.updateTable('jobs').set({ latest_run_seq: p.seq }).where('replication_job_id', '=', p.replicationJobId),
);

/** Points the job at its newest run (the list pages join the latest run by this sequence). */
export async function setLatestRunSeq(db: Executor, replicationJobId: string, seq: number): Promise<void> {
  await db.executeQuery(pointAtLatestRun(db, { replicationJobId, seq }));
}
