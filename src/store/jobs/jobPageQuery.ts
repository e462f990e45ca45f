/**
 * The GetReplicationJobs page as one joined query: each job with its latest run, as an array of column values in
 * the order of COLUMNS (operations/jobPageJson.ts writes each row as the wire's JSON text).
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../schema.ts';

export interface JobPageQuery {
  accountId: string;
  region: string;
  /** Only jobs after this sequence (the cursor). */
  after?: number;
  replicationJobId?: string;
  limit: number;
}

/** The page's columns, in the order of each row's array. */
const COLUMNS = [
  'jobs.seq',
  'jobs.replication_job_id',
  'jobs.server_id',
  'jobs.vm_server',
  'jobs.seed_time',
  'jobs.frequency',
  'jobs.run_once',
  'jobs.license_type',
  'jobs.role_name',
  'jobs.description',
  'jobs.amis_to_keep',
  'jobs.encrypted',
  'jobs.kms_key_id',
  'jobs.state',
  'jobs.status_message',
  'jobs.next_run_at',
  'jobs.latest_ami_id',
  'runs.replication_run_id',
  'runs.type',
  'runs.state',
  'runs.scheduled_start_time',
  'runs.completed_time',
  'runs.status_message',
  'runs.stage',
  'runs.stage_progress',
  'runs.ami_id',
  'runs.description',
  'runs.encrypted',
  'runs.kms_key_id',
] as const;

type Column = (typeof COLUMNS)[number];
const at = (column: Column): number => COLUMNS.indexOf(column);
/** Where each job column stands in a page row. */
export const J = {
  seq: at('jobs.seq'),
  id: at('jobs.replication_job_id'),
  serverId: at('jobs.server_id'),
  vmServer: at('jobs.vm_server'),
  seedTime: at('jobs.seed_time'),
  frequency: at('jobs.frequency'),
  runOnce: at('jobs.run_once'),
  licenseType: at('jobs.license_type'),
  roleName: at('jobs.role_name'),
  description: at('jobs.description'),
  amisToKeep: at('jobs.amis_to_keep'),
  encrypted: at('jobs.encrypted'),
  kmsKeyId: at('jobs.kms_key_id'),
  state: at('jobs.state'),
  statusMessage: at('jobs.status_message'),
  nextRunAt: at('jobs.next_run_at'),
  latestAmiId: at('jobs.latest_ami_id'),
};
/** Where each column of the job's latest run stands in a page row (all null when the job has none). */
export const R = {
  id: at('runs.replication_run_id'),
  type: at('runs.type'),
  state: at('runs.state'),
  scheduledStart: at('runs.scheduled_start_time'),
  completed: at('runs.completed_time'),
  statusMessage: at('runs.status_message'),
  stage: at('runs.stage'),
  stageProgress: at('runs.stage_progress'),
  amiId: at('runs.ami_id'),
  description: at('runs.description'),
  encrypted: at('runs.encrypted'),
  kmsKeyId: at('runs.kms_key_id'),
};

/** A page row: the values of COLUMNS, in order. */
export type JobPageRow = readonly unknown[];

/** Jobs of a tenant in sequence order, each with its latest run's columns (null when it has none). */
export function jobPageQuery(db: Kysely<Database>, q: JobPageQuery) {
  let query = db
    .selectFrom('jobs')
    .leftJoin('runs', 'runs.seq', 'jobs.latest_run_seq')
    .select([...COLUMNS])
    .where('jobs.account_id', '=', q.accountId)
    .where('jobs.region', '=', q.region)
    .orderBy('jobs.seq', 'asc')
    .limit(q.limit);
  if (q.after !== undefined) query = query.where('jobs.seq', '>', q.after);
  if (q.replicationJobId !== undefined) query = query.where('jobs.replication_job_id', '=', q.replicationJobId);
  return query;
}

type Slot = keyof JobPageQuery;
const SENTINEL_PREFIX = '\u0000ferry-page-slot:';
/** Per database and query variant (cursor or not, one job or not): the SQL and which input fills each parameter. */
const shapes = new WeakMap<object, Map<string, { sql: string; slots: Slot[] }>>();

/**
 * jobPageQuery compiled once per variant: building and compiling a 29-column query took about a tenth of a page's
 * time. The parameters are matched to their inputs through sentinel values at the first compilation.
 */
export function compiledJobPage(db: Kysely<Database>, q: JobPageQuery): CompiledQuery {
  const variant = `${q.after !== undefined}/${q.replicationJobId !== undefined}`;
  let byVariant = shapes.get(db);
  if (!byVariant) shapes.set(db, (byVariant = new Map()));
  let shape = byVariant.get(variant);
  if (!shape) {
    const slot = (name: Slot) => `${SENTINEL_PREFIX}${name}`;
    const compiled = jobPageQuery(db, {
      accountId: slot('accountId'),
      region: slot('region'),
      after: q.after === undefined ? undefined : (slot('after') as unknown as number),
      replicationJobId: q.replicationJobId === undefined ? undefined : slot('replicationJobId'),
      limit: slot('limit') as unknown as number,
    }).compile();
    const slots = compiled.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(SENTINEL_PREFIX)) throw new Error(`jobPageQuery has a parameter not taken from its input: ${String(p)}`);
      return p.slice(SENTINEL_PREFIX.length) as Slot;
    });
    shape = { sql: compiled.sql, slots };
    byVariant.set(variant, shape);
  }
  return CompiledQuery.raw(shape.sql, shape.slots.map((name) => q[name]));
}

export const rowSeq = (row: JobPageRow): number => row[J.seq] as number;
