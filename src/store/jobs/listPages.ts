/**
 * The compiled queries of the job and run list pages (GetReplicationJobs, GetReplicationRuns). They are compiled,
 * not run: the caller runs them on the store's committed-data reader (openStore.ts ReadRows).
 */
import type { CompiledQuery } from 'kysely';
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import type { JobRow, RunRow } from '../rows.ts';

/** The columns the list pages show (a page reads only these). */
const JOB_COLUMNS = [
  'seq',
  'replication_job_id',
  'server_id',
  'vm_server',
  'seed_time',
  'frequency',
  'run_once',
  'license_type',
  'role_name',
  'description',
  'amis_to_keep',
  'encrypted',
  'kms_key_id',
  'state',
  'status_message',
  'next_run_at',
  'latest_ami_id',
  'latest_run_seq',
] as const;

const RUN_COLUMNS = [
  'seq',
  'replication_run_id',
  'replication_job_id',
  'type',
  'state',
  'scheduled_start_time',
  'completed_time',
  'status_message',
  'stage',
  'stage_progress',
  'ami_id',
  'description',
  'encrypted',
  'kms_key_id',
] as const;
export type JobListRow = Pick<JobRow, (typeof JOB_COLUMNS)[number]>;
export type RunListRow = Pick<RunRow, (typeof RUN_COLUMNS)[number]>;

/** The tenant's jobs after sequence `after`, in order (or only the one asked for). */
export function jobsPage(db: Executor, page: Tenant & { after?: number; replicationJobId?: string; limit: number }): CompiledQuery<JobListRow> {
  let query = db.selectFrom('jobs').select(JOB_COLUMNS).where('account_id', '=', page.accountId).where('region', '=', page.region).orderBy('seq', 'asc').limit(page.limit);
  if (page.after !== undefined) query = query.where('seq', '>', page.after);
  if (page.replicationJobId !== undefined) query = query.where('replication_job_id', '=', page.replicationJobId);
  return query.compile();
}

export function jobInTenant(db: Executor, tenant: Tenant, replicationJobId: string): CompiledQuery<JobListRow> {
  return db.selectFrom('jobs').select(JOB_COLUMNS).where('replication_job_id', '=', replicationJobId).where('account_id', '=', tenant.accountId).where('region', '=', tenant.region).compile();
}

/** Runs by their sequences (each job's latest run). */
export function runsBySeq(db: Executor, seqs: readonly number[]): CompiledQuery<RunListRow> {
  return db.selectFrom('runs').select(RUN_COLUMNS).where('seq', 'in', seqs).compile();
}

/** A job's runs before sequence `before`, newest first. */
export function runsPage(db: Executor, replicationJobId: string, before: number | undefined, limit: number): CompiledQuery<RunListRow> {
  let query = db.selectFrom('runs').select(RUN_COLUMNS).where('replication_job_id', '=', replicationJobId).orderBy('seq', 'desc').limit(limit);
  if (before !== undefined) query = query.where('seq', '<', before);
  return query.compile();
}
