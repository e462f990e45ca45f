/**
 * GetReplicationJobs pages written as JSON text straight from the rows. A page of 50 jobs is about 42 kB of JSON;
 * mapping rows to the SDK shapes (toJob, which parses each job's stored vmServer JSON and wraps every timestamp in
 * an EpochDate) and then stringifying the objects cost more than the query itself. Here one joined query reads
 * each job with its latest run as an array of column values, and each row becomes its JSON text at once: strings
 * go through JSON.stringify, the stored vmServer (JSON that Ferry itself wrote) is spliced in as is.
 *
 * A job's text is a pure function of its row, so it is memoised per job with the row's values: the next page that
 * shows the same row unchanged reuses the text (a compare of 29 values instead of writing about 850 bytes of
 * JSON), and any change to the job or to its latest run makes a new text. Bounded (MEMO_JOBS rows).
 *
 * The text must parse to exactly what toJob gives (members absent when toJob leaves them undefined, the same
 * epoch seconds): test/unit/jobPageEncoding.test.ts compares the two on a matrix of rows.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

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
const J = {
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
const R = {
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

const str = JSON.stringify as (value: string) => string;
/** AWS JSON timestamps: epoch seconds with millisecond precision (as EpochDate writes them). */
const seconds = (ms: number): string => String(Math.round(ms) / 1000);
const optional = (name: string, value: unknown): string => (value === null ? '' : `,"${name}":${str(value as string)}`);
const optionalTime = (name: string, ms: unknown): string => (ms === null ? '' : `,"${name}":${seconds(ms as number)}`);

function runJson(row: JobPageRow): string {
  if (row[R.id] === null) return '[]';
  const stage =
    row[R.state] === 'ACTIVE' && row[R.stage] !== null
      ? `,"stageDetails":{"stage":${str(row[R.stage] as string)}${optional('stageProgress', row[R.stageProgress])}}`
      : '';
  return (
    `[{"replicationRunId":${str(row[R.id] as string)},"state":${str(row[R.state] as string)},"type":${str(row[R.type] as string)}` +
    `,"scheduledStartTime":${seconds(row[R.scheduledStart] as number)},"encrypted":${row[R.encrypted] === 1}${stage}` +
    optional('statusMessage', row[R.statusMessage]) +
    optional('amiId', row[R.amiId]) +
    optionalTime('completedTime', row[R.completed]) +
    optional('description', row[R.description]) +
    optional('kmsKeyId', row[R.kmsKeyId]) +
    '}]'
  );
}

/** One job of a GetReplicationJobs page as JSON text. */
export function jobJson(row: JobPageRow): string {
  const schedule = row[J.runOnce] === 1 ? ',"runOnce":true' : row[J.frequency] === null ? '' : `,"frequency":${row[J.frequency] as number}`;
  return (
    `{"replicationJobId":${str(row[J.id] as string)},"serverId":${str(row[J.serverId] as string)},"serverType":"VIRTUAL_MACHINE"` +
    `,"vmServer":${row[J.vmServer] as string},"seedReplicationTime":${seconds(row[J.seedTime] as number)},"state":${str(row[J.state] as string)}` +
    `,"numberOfRecentAmisToKeep":${row[J.amisToKeep] as number},"encrypted":${row[J.encrypted] === 1}${schedule}` +
    optionalTime('nextReplicationRunStartTime', row[J.nextRunAt]) +
    optional('licenseType', row[J.licenseType]) +
    optional('roleName', row[J.roleName]) +
    optional('latestAmiId', row[J.latestAmiId]) +
    optional('statusMessage', row[J.statusMessage]) +
    optional('description', row[J.description]) +
    optional('kmsKeyId', row[J.kmsKeyId]) +
    `,"replicationRunList":${runJson(row)}}`
  );
}

const MEMO_JOBS = 10_000;

/** jobJson with the memo described at the top; one per database. */
export class JobJsonMemo {
  readonly #texts = new Map<number, { row: JobPageRow; json: string }>();

  json(row: JobPageRow): string {
    const seq = rowSeq(row);
    const known = this.#texts.get(seq);
    if (known && sameValues(known.row, row)) return known.json;
    const json = jobJson(row);
    if (known) this.#texts.delete(seq);
    else if (this.#texts.size >= MEMO_JOBS) this.#texts.delete(this.#texts.keys().next().value!);
    this.#texts.set(seq, { row, json });
    return json;
  }
}

function sameValues(a: JobPageRow, b: JobPageRow): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return a.length === b.length;
}

const memos = new WeakMap<object, JobJsonMemo>();
export function jobJsonMemo(db: object): JobJsonMemo {
  let memo = memos.get(db);
  if (!memo) memos.set(db, (memo = new JobJsonMemo()));
  return memo;
}
