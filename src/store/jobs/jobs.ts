/** Replication jobs by id, and the lookups the scheduler's expiry steps start from. */
import type { JobRow } from '../rows.ts';
import type { Executor } from '../executor.ts';

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

/** The earliest `column` among jobs in `state` (one indexed min: an index on (state, column) answers it at once). */
export async function earliest(db: Executor, state: string, column: JobClockColumn): Promise<number | null> {
  const row = await db.selectFrom('jobs').select((eb) => eb.fn.min(column).as('t')).where('state', '=', state).executeTakeFirst();
  return row?.t == null ? null : Number(row.t);
}
