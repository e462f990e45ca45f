/** Replication jobs: the rules of CreateReplicationJob … GetReplicationRuns (spec §6.1–§6.6). */
import { ServiceError, invalidParameter, missingParameter, notPermitted } from '../lib/errors.ts';
import { newReplicationJobId } from '../lib/ids.ts';
import { freshId } from './uniqueId.ts';
import { SERVER_TYPE_VIRTUAL_MACHINE } from '../domain/enums.ts';
import { onDemandAllowed, onResume } from '../domain/jobLifecycle.ts';
import { nextSlotAfter } from '../domain/schedule.ts';
import { onRunCancelled } from '../domain/replicationRun.ts';
import { applyRunChange, runFacts } from './runChanges.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import { type Tenant, tenantOf } from '../domain/tenant.ts';
import { applyJobChange, factsOf, insertRun, insertRunRow, jobForChange, placePendingAutomaticRun, retireOldImages } from './jobChanges.ts';
import { toVmServer } from './vmServer.ts';
import type { JobRow, JobView, RunView } from '../store/rows.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import { compiledJobPage, rowSeq, type JobPageRow } from '../store/jobs/jobPageQuery.ts';
import * as jobPages from '../store/jobs/listPages.ts';
import { hasHealthyConnectorFor, replicabilityOf, serverReplicability } from './connectors.ts';
import { validateJobKey } from '../kms/keys.ts';
import * as jobs from '../store/jobs/index.ts';
import * as runs from '../store/runs/index.ts';
import * as catalog from '../store/catalog/index.ts';
import type { FerryEvent } from './events.ts';

/** The settings both CreateReplicationJob and UpdateReplicationJob may give. */
interface JobSettingsInput {
  frequency?: number;
  licenseType?: string;
  roleName?: string;
  description?: string;
  numberOfRecentAmisToKeep?: number;
  encrypted?: boolean;
  kmsKeyId?: string;
}

export interface CreateJobInput extends JobSettingsInput {
  serverId: string;
  seedReplicationTime: Date;
  runOnce?: boolean;
}

export interface UpdateJobInput extends JobSettingsInput {
  replicationJobId: string;
  nextReplicationRunStartTime?: Date;
}

const CLOSED_FOR_CHANGES = ['DELETING', 'DELETED', 'FAILING', 'FAILED', 'COMPLETED'];

/** Seed / next-run times: not more than 30 days ahead; a past time means "now" (spec §9.6). */
function startTime(value: Date, member: string, core: Core, now: number): number {
  const ms = value.getTime();
  if (ms > now + core.policy.maxSeedAheadMs) {
    throw invalidParameter(`${member} must be at most 30 days in the future; got ${value.toISOString()}.`);
  }
  return Math.max(ms, now);
}

/**
 * The rules on a job's schedule alone (spec §6.1): `frequency` unless `runOnce`, a seed at most 30 days ahead. Shared
 * with the App operations (their per-server parameters), whose member names start with `path`. Returns the seed.
 */
export function checkJobSchedule(core: Core, input: Pick<CreateJobInput, 'runOnce' | 'frequency' | 'seedReplicationTime'>, now: number, path = ''): number {
  if (input.runOnce !== true && input.frequency === undefined) {
    throw missingParameter(`The request is missing the required parameter ${path}frequency (required unless runOnce is true).`);
  }
  return startTime(input.seedReplicationTime, `${path}seedReplicationTime`, core, now);
}

export async function createJob(core: Core, tenant: Tenant, input: CreateJobInput): Promise<string> {
  const now = core.clock.now();
  const seed = checkJobSchedule(core, input, now);
  return inTransaction(core, (tx, emit) => createJobIn(tx, emit, core, tenant, input, seed, now));
}

/**
 * CreateReplicationJob's work inside the caller's transaction (StartAppReplication creates an app's jobs in one):
 * every check from the server's existence on, then the job, its seed run and the server's link to it.
 */
export async function createJobIn(
  tx: Tx,
  emit: (e: FerryEvent) => void,
  core: Core,
  tenant: Tenant,
  input: CreateJobInput,
  seed: number,
  now: number,
  newJobId: () => string = newReplicationJobId,
): Promise<string> {
  const runOnce = input.runOnce === true;
  // Where several nodes' transactions run side by side, the tenant's creates take turns from here on.
  if (core.capabilities.sharedByNodes) await jobs.takeTurnForNewJob(tx, tenant);
  // One read for every check below (store/jobs/newJobFacts.ts); the checks keep their order.
  const facts = await jobs.newJobFacts(tx, tenant, input.serverId);
  if (!facts) throw invalidParameter(`Server ${input.serverId} does not exist in the server catalog.`);
  const server = facts.server;
  // The KMS key must exist (existence check, before state checks); encrypted without one uses the default key.
  await validateJobKey(tx, tenant, input.kmsKeyId, input.encrypted === true, now);
  if (facts.catalogStatus !== 'AVAILABLE') {
    throw notPermitted(`The server catalog is ${facts.catalogStatus}; import it (ImportServerCatalog) before creating replication jobs.`);
  }
  if (server.in_catalog !== 1) throw invalidParameter(`Server ${input.serverId} is no longer in the server catalog.`);

  const unreplicable = replicabilityOf(server, facts.connectorAssociated);
  if (unreplicable) throw new ServiceError('ServerCannotBeReplicatedException', `Server ${server.server_id} cannot be replicated: ${unreplicable}`);

  if (facts.liveJobId !== null) {
    throw new ServiceError(
      'ReplicationJobAlreadyExistsException',
      `Server ${server.server_id} already has replication job ${facts.liveJobId} (${await jobs.storedState(tx, facts.liveJobId)}).`,
    );
  }
  if (!(await hasHealthyConnectorFor(tx, tenant, server.vm_manager_id, now, core.policy, server.connector_id))) {
    throw new ServiceError(
      'NoConnectorsAvailableException',
      `No healthy connector is associated with VM manager ${server.vm_manager_id} (${server.vm_manager_name}).`,
    );
  }
  const count = facts.activeJobs;
  if (count >= core.policy.maxNonTerminalJobsPerAccount) {
    throw notPermitted(
      `The account already has ${count} replication jobs in progress; the limit is ${core.policy.maxNonTerminalJobsPerAccount}.`,
    );
  }

  const replicationJobId = await freshId(tx, 'jobs', 'replication_job_id', newJobId);
  const row: JobRow = {
    seq: 0,
    replication_job_id: replicationJobId,
    account_id: tenant.accountId,
    region: tenant.region,
    server_id: server.server_id,
    server_type: SERVER_TYPE_VIRTUAL_MACHINE,
    vm_server: JSON.stringify(toVmServer(server)),
    vm_manager_id: server.vm_manager_id,
    seed_time: seed,
    schedule_anchor: seed,
    frequency: runOnce ? null : input.frequency!,
    run_once: runOnce ? 1 : 0,
    license_type: input.licenseType ?? null,
    role_name: input.roleName ?? null,
    description: input.description ?? null,
    amis_to_keep: input.numberOfRecentAmisToKeep ?? 0,
    encrypted: input.encrypted ? 1 : 0,
    kms_key_id: input.kmsKeyId ?? null,
    state: 'PENDING',
    status_message: null,
    next_run_at: seed,
    latest_ami_id: null,
    latest_run_seq: null,
    consecutive_failures: 0,
    first_replication_at: null,
    paused_at: null,
    created_at: now,
    updated_at: now,
  };
  // The seed run first: the job is then inserted already pointing at it (no update of the new row after).
  const { replicationRunId: runId, seq: runSeq } = await insertRunRow(tx, row, { type: 'AUTOMATIC', scheduledStartTime: seed, description: row.description }, now);
  const { seq: _seq, ...values } = row;
  await jobs.insert(tx, { ...values, latest_run_seq: runSeq });
  await jobs.countJobTransition(tx, tenant, null, 'PENDING');
  await catalog.linkJob(tx, server.server_id, replicationJobId, now);
  emit({ type: 'job.state', tenant, replicationJobId, state: 'PENDING', previousState: null });
  emit({ type: 'run.state', tenant, replicationJobId, replicationRunId: runId, runType: 'AUTOMATIC', state: 'PENDING' });
  // The new job's first due moment is its seed run (its expiry is months later): a create with a seed ahead of the
  // scheduler's next tick costs no tick (one per create was about 5 % of a create's CPU in `npm run bench`).
  emit({ type: 'schedule.changed', notBefore: seed });
  return replicationJobId;
}

function findJob(tx: Tx, tenant: Tenant, replicationJobId: string): Promise<JobRow | undefined> {
  return jobs.getInTenant(tx, tenant, replicationJobId);
}

export async function updateJob(core: Core, tenant: Tenant, input: UpdateJobInput): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const job = await jobForChange(tx, core, input.replicationJobId, tenant);
    if (!job) throw new ServiceError('ReplicationJobNotFoundException', `Replication job ${input.replicationJobId} does not exist.`);
    if (input.frequency !== undefined && job.run_once === 1) {
      throw invalidParameter('frequency cannot be set on a one-time (runOnce) replication job.');
    }
    const nextRunAt =
      input.nextReplicationRunStartTime === undefined
        ? undefined
        : startTime(input.nextReplicationRunStartTime, 'nextReplicationRunStartTime', core, now);
    const encryptedAfter = input.encrypted ?? job.encrypted === 1;
    await validateJobKey(tx, tenant, input.kmsKeyId, encryptedAfter && job.kms_key_id === null, now);
    if (CLOSED_FOR_CHANGES.includes(job.state)) {
      throw notPermitted(`Replication job ${job.replication_job_id} is ${job.state} and can no longer be updated.`);
    }
    const server = await catalog.get(tx, job.server_id);
    const unreplicable = server ? await serverReplicability(tx, server) : 'its server is no longer known.';
    if (unreplicable) throw new ServiceError('ServerCannotBeReplicatedException', `Server ${job.server_id} cannot be replicated: ${unreplicable}`);

    await jobs.updateSettings(
      tx,
      job.replication_job_id,
      {
        frequency: input.frequency ?? job.frequency,
        license_type: input.licenseType ?? job.license_type,
        role_name: input.roleName ?? job.role_name,
        description: input.description ?? job.description,
        amis_to_keep: input.numberOfRecentAmisToKeep ?? job.amis_to_keep,
        encrypted: input.encrypted === undefined ? job.encrypted : input.encrypted ? 1 : 0,
        kms_key_id: input.kmsKeyId ?? job.kms_key_id,
      },
      now,
    );
    const updated = (await findJob(tx, tenant, job.replication_job_id))!;

    if (job.state === 'PAUSED_ON_FAILURE' && nextRunAt !== undefined) {
      await jobs.setSchedule(tx, job.replication_job_id, { anchor: nextRunAt });
      await applyJobChange(tx, { ...updated, schedule_anchor: nextRunAt }, onResume(factsOf(updated), nextRunAt), now, emit);
    } else if (job.run_once !== 1 && job.state !== 'PAUSED_ON_FAILURE' && (nextRunAt !== undefined || input.frequency !== undefined)) {
      // The schedule is re-anchored at the next run, so a new frequency applies from the run after it.
      const anchor = nextRunAt ?? job.next_run_at ?? nextSlotAfter(factsOf(updated), now) ?? now;
      await jobs.setSchedule(tx, job.replication_job_id, { anchor, nextRunAt: anchor });
      await placePendingAutomaticRun(tx, { ...updated, schedule_anchor: anchor }, anchor, now, emit);
    } else if (job.run_once === 1 && nextRunAt !== undefined && job.next_run_at !== null) {
      await jobs.setSchedule(tx, job.replication_job_id, { anchor: nextRunAt, nextRunAt });
      await placePendingAutomaticRun(tx, { ...updated, schedule_anchor: nextRunAt }, nextRunAt, now, emit);
    }
    if (input.numberOfRecentAmisToKeep !== undefined) await retireOldImages(tx, updated, input.numberOfRecentAmisToKeep, now);
    emit({ type: 'schedule.changed' });
  });
}

export async function deleteJob(core: Core, tenant: Tenant, replicationJobId: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, (tx, emit) => deleteJobIn(tx, emit, core, tenant, replicationJobId, now));
}

/** DeleteReplicationJob's rules and effects inside the caller's transaction. */
export async function deleteJobIn(tx: Tx, emit: (e: FerryEvent) => void, core: Core, tenant: Tenant, replicationJobId: string, now: number): Promise<void> {
  const job = await jobForChange(tx, core, replicationJobId, tenant);
  if (!job) throw new ServiceError('ReplicationJobNotFoundException', `Replication job ${replicationJobId} does not exist.`);
  if (job.state === 'DELETING' || job.state === 'DELETED') {
    throw notPermitted(`Replication job ${replicationJobId} is already ${job.state}.`);
  }
  await cancelJob(tx, job, 'DELETING', 'Deleting: the replication job was deleted.', now, emit);
  emit({ type: 'schedule.changed' });
}

/**
 * Ends a job: its pending and active runs are cancelled (DELETED), its server is freed for a new job, and the
 * job moves to `state` (DELETING is finished to DELETED by the scheduler). Images are kept (spec §6.4).
 */
export async function cancelJob(
  tx: Tx,
  job: JobRow,
  state: 'DELETING' | 'DELETED',
  message: string,
  now: number,
  emit: Parameters<typeof applyJobChange>[4],
): Promise<void> {
  const live = await runs.liveOf(tx, job.replication_job_id);
  const tenant = tenantOf(job);
  for (const run of live) {
    await applyRunChange(tx, run, onRunCancelled(runFacts(run), now), now);
    emit({ type: 'run.state', tenant, replicationJobId: job.replication_job_id, replicationRunId: run.replication_run_id, runType: run.type, state: 'DELETED' });
  }
  // The job's change (and with it the tenant's job count) before the server's row: the order creates and
  // DeleteServerCatalog lock them in (count, then servers), so an expiry beside either never waits in a circle.
  await applyJobChange(tx, job, { state, statusMessage: message, pendingAutomaticAt: null, pausedAt: null }, now, emit);
  await catalog.markJobTerminated(tx, job.server_id, job.replication_job_id, now);
}

export async function startOnDemandRun(
  core: Core,
  tenant: Tenant,
  input: { replicationJobId: string; description?: string },
): Promise<string> {
  const now = core.clock.now();
  return inTransaction(core, (tx, emit) => startOnDemandRunIn(tx, emit, core, tenant, input, now));
}

/** StartOnDemandReplicationRun's rules and effects inside the caller's transaction (StartOnDemandAppReplication). */
export async function startOnDemandRunIn(
  tx: Tx,
  emit: (e: FerryEvent) => void,
  core: Core,
  tenant: Tenant,
  input: { replicationJobId: string; description?: string },
  now: number,
): Promise<string> {
  // Locked first: the one-active-run, one-queued-run and 24-hour limit checks below read the job's runs after it.
  const job = await jobForChange(tx, core, input.replicationJobId, tenant);
  if (!job) throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
  if (CLOSED_FOR_CHANGES.includes(job.state)) {
    throw notPermitted(`Replication job ${job.replication_job_id} is ${job.state}; no new runs can start.`);
  }
  const recent = await runs.activeOrOnDemandOf(tx, job.replication_job_id);
  const active = recent.find((r) => r.state === 'ACTIVE');
  if (active) throw notPermitted(`Replication run ${active.replication_run_id} of this job is still active.`);
  const queued = recent.find((r) => r.state === 'PENDING' && r.type === 'ON_DEMAND');
  if (queued) throw notPermitted(`On-demand run ${queued.replication_run_id} of this job is already waiting to start.`);
  const onDemandTimes = recent.filter((r) => r.type === 'ON_DEMAND').map((r) => r.created_at);
  if (!onDemandAllowed(onDemandTimes, now, core.policy)) {
    throw new ServiceError(
      'ReplicationRunLimitExceededException',
      `Replication job ${job.replication_job_id} already had ${core.policy.onDemandRunsPerWindow} on-demand runs in the last 24 hours.`,
    );
  }
  if (job.state === 'PAUSED_ON_FAILURE') {
    const facts = factsOf(job);
    await applyJobChange(tx, job, onResume(facts, job.run_once === 1 ? null : nextSlotAfter(facts, now)), now, emit);
  }
  const runId = await insertRun(tx, job, { type: 'ON_DEMAND', scheduledStartTime: now, description: input.description ?? null }, now);
  emit({ type: 'run.state', tenant, replicationJobId: job.replication_job_id, replicationRunId: runId, runType: 'ON_DEMAND', state: 'PENDING' });
  emit({ type: 'schedule.changed' });
  return runId;
}

async function latestRuns(core: Core, jobs: readonly Pick<JobRow, 'latest_run_seq'>[]): Promise<Map<string, RunView>> {
  const seqs = jobs.map((j) => j.latest_run_seq).filter((seq): seq is number => seq !== null);
  if (seqs.length === 0) return new Map();
  const rows = await core.readRows(jobPages.runsBySeq(core.db, seqs));
  return new Map(rows.map((r) => [r.replication_job_id, r]));
}

/** A page of the tenant's jobs (or the one job asked for) with each job's latest run. */
export async function listJobs(
  core: Core,
  tenant: Tenant,
  input: PageRequest & { replicationJobId?: string },
): Promise<{ jobs: JobView[]; latestRuns: Map<string, RunView>; nextToken?: string }> {
  const cursor = openCursor(input, fingerprintOf('GetReplicationJobs', tenant, input.replicationJobId ?? null));
  const query = jobPages.jobsPage(core.db, { ...tenant, after: cursor.after, replicationJobId: input.replicationJobId, limit: cursor.limit + 1 });
  const rows = await core.readRows(query);
  if (input.replicationJobId !== undefined && rows.length === 0 && cursor.after === undefined) {
    throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
  }
  const page = closePage(rows, cursor);
  return { jobs: page.items, latestRuns: await latestRuns(core, page.items), nextToken: page.nextToken };
}

/**
 * listJobs as one joined query whose rows are arrays of column values (store/jobs/jobPageQuery.ts), for the page
 * GetReplicationJobs answers with. Same cursor, tokens and errors as listJobs.
 */
export type JobRowPage = { readonly rows: readonly JobPageRow[]; readonly nextToken?: string };

export async function listJobRows(core: Core, tenant: Tenant, input: PageRequest & { replicationJobId?: string }): Promise<JobRowPage> {
  const cursor = openCursor(input, fingerprintOf('GetReplicationJobs', tenant, input.replicationJobId ?? null));
  const query = compiledJobPage(core.db, { accountId: tenant.accountId, region: tenant.region, after: cursor.after, replicationJobId: input.replicationJobId, limit: cursor.limit + 1 });
  const rows = await core.readArrays(query);
  if (input.replicationJobId !== undefined && rows.length === 0 && cursor.after === undefined) {
    throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
  }
  // The same rows (the store kept them, nothing changed) give the same page: the query fixes tenant, cursor and limit.
  let result = pagesOfRows.get(rows);
  if (!result) {
    const page = closePage(rows.map((row) => ({ seq: rowSeq(row), row })), cursor);
    pagesOfRows.set(rows, (result = { rows: page.items.map((item) => item.row), nextToken: page.nextToken }));
  }
  return result;
}

/** Pages already cut from a result of readArrays, by that result. */
const pagesOfRows = new WeakMap<unknown[][], JobRowPage>();

/** A job and a page of its runs, newest first. */
export async function listRuns(
  core: Core,
  tenant: Tenant,
  input: PageRequest & { replicationJobId: string },
): Promise<{ job: JobView; latestRun: RunView | undefined; runs: RunView[]; nextToken?: string }> {
  const cursor = openCursor(input, fingerprintOf('GetReplicationRuns', tenant, input.replicationJobId));
  const [job] = await core.readRows(jobPages.jobInTenant(core.db, tenant, input.replicationJobId));
  if (!job) throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
  const query = jobPages.runsPage(core.db, job.replication_job_id, cursor.after, cursor.limit + 1);
  const page = closePage(await core.readRows(query), cursor);
  const latest = await latestRuns(core, [job]);
  return { job, latestRun: latest.get(job.replication_job_id), runs: page.items, nextToken: page.nextToken };
}
