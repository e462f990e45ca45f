/**
 * Keeps every app's statuses current, transactionally: `refreshApp` derives `replicationStatus` from the app's jobs
 * and runs and `launchStatus` from its launch rows (pure rules in domain/appReplicationStatus.ts and
 * appLaunchPlan.ts), stores them and emits `app.state` when one changed. `appStatusHook` runs it before the commit of
 * every transaction that changed a job, a run or an instance of an app, so an app's status commits with the change
 * that moved it — and fires autoLaunch the first time the app is fully replicated.
 */
import { sql } from 'kysely';
import { appReplicationStatus, reachedFirstReplication, type ServerJobFacts, type ServerReplicationFacts } from '../../domain/appReplicationStatus.ts';
import { launchStep, terminateStep, type PlannedInstance, type PlannedState } from '../../domain/appLaunchPlan.ts';
import type { AppLaunchStatus, ReplicationPhase } from '../../domain/appEnums.ts';
import type { FerryEvent } from '../events.ts';
import type { BeforeCommitHook, Core, Tx } from '../context.ts';
import { appByIdForChange, loadLaunchRows, loadMembers, type AppRow, type InstanceRow, type MemberRow } from './appRecords.ts';
import { launchConfigurationGaps, launchReadiness, planLaunchIn } from './launchPlanning.ts';
import { recordInstanceState } from './instanceRows.ts';
import { purgeApp } from './appPurge.ts';
import { becameLaunched, queueAppValidations } from './appValidationQueue.ts';
import { selectAppIdsOfJobs } from '../../store/apps/appQueries.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';
import { tenantOf } from '../../domain/tenant.ts';
import type { InstanceService } from '../../apps/ports.ts';

export interface RefreshOptions {
  /** Whether a launch subsystem is wired (autoLaunch fails with a message when not). */
  launchAvailable: boolean;
  /** Why not, when it is not (default: no launch subsystem at all). */
  unavailableReason?: string;
}

/** What an app's refresh may assume of launching, from the launch subsystem this node has (if any). */
export function refreshOptionsFor(instances: Pick<InstanceService, 'launchesNowhere'> | undefined): RefreshOptions {
  if (!instances) return { launchAvailable: false };
  return instances.launchesNowhere === undefined ? { launchAvailable: true } : { launchAvailable: false, unavailableReason: instances.launchesNowhere };
}

interface JobFactsRow {
  replication_job_id: string;
  state: string;
  status_message: string | null;
  completed_runs: number;
  active_runs: number;
  queued_runs: number;
  latest_completed_at: number | null;
  last_finished_state: string | null;
  last_finished_message: string | null;
}

/** One query per app: each job's state and what its runs did (counts capped at 2: only 0, 1 and "more" matter). */
async function jobFacts(tx: Tx, jobIds: readonly string[]): Promise<Map<string, ServerJobFacts>> {
  if (jobIds.length === 0) return new Map();
  const rows = await sql<JobFactsRow>`
    select j.replication_job_id, j.state, j.status_message,
      (select count(*) from (select 1 from runs r where r.replication_job_id = j.replication_job_id and r.state = 'COMPLETED' limit 2) as c) as completed_runs,
      (select count(*) from (select 1 from runs r where r.replication_job_id = j.replication_job_id and r.state = 'ACTIVE' limit 1) as a) as active_runs,
      (select count(*) from (select 1 from runs r where r.replication_job_id = j.replication_job_id and r.state = 'PENDING' and r.type = 'ON_DEMAND' limit 1) as q) as queued_runs,
      (select max(r.completed_time) from runs r where r.replication_job_id = j.replication_job_id and r.state = 'COMPLETED') as latest_completed_at,
      (select r.state from runs r where r.replication_job_id = j.replication_job_id and r.state in ('COMPLETED', 'FAILED') order by r.seq desc limit 1) as last_finished_state,
      (select r.status_message from runs r where r.replication_job_id = j.replication_job_id and r.state in ('COMPLETED', 'FAILED') order by r.seq desc limit 1) as last_finished_message
    from jobs j
    where j.replication_job_id in (${sql.join(jobIds)})`.execute(tx);
  return new Map(
    rows.rows.map((r) => [
      r.replication_job_id,
      {
        replicationJobId: r.replication_job_id,
        state: r.state,
        statusMessage: r.status_message,
        completedRuns: Number(r.completed_runs),
        activeRun: Number(r.active_runs) > 0,
        queuedRun: Number(r.queued_runs) > 0,
        lastFinished: (r.last_finished_state as ServerJobFacts['lastFinished']) ?? null,
        lastFinishedMessage: r.last_finished_message,
        latestCompletedAt: r.latest_completed_at === null ? null : Number(r.latest_completed_at),
      },
    ]),
  );
}

export const toPlanned = (row: InstanceRow): PlannedInstance => ({
  serverId: row.server_id,
  wave: row.wave,
  state: row.state as PlannedState,
  hasInstance: row.instance_id !== null,
  message: row.message,
});

async function launchView(tx: Tx, app: AppRow, members: readonly MemberRow[]): Promise<{ status: AppLaunchStatus; message: string | null }> {
  if (app.launch_phase === 'NONE') {
    const gaps = launchConfigurationGaps(app, members);
    if (gaps.length === 0) return { status: 'READY_FOR_LAUNCH', message: null };
    return { status: 'READY_FOR_CONFIGURATION', message: app.launch_configured === 1 ? `Not ready to launch: ${gaps.join('; ')}.` : null };
  }
  const rows = (await loadLaunchRows(tx, app)).map(toPlanned);
  return app.launch_phase === 'LAUNCH' ? launchStep(rows) : terminateStep(rows);
}

/**
 * Recomputes one app's statuses; stores and announces what changed since `before` (default: `app` as given, which
 * callers pass with their own changes applied). Returns the row as stored.
 */
export async function refreshApp(
  tx: Tx,
  app: AppRow,
  now: number,
  emit: (e: FerryEvent) => void,
  options: RefreshOptions,
  before: Pick<AppRow, 'status' | 'replication_status' | 'launch_status'> = app,
): Promise<AppRow> {
  let current = app;
  const members = await loadMembers(tx, app.app_id);
  const facts = await jobFacts(tx, members.map((m) => m.replication_job_id).filter((id): id is string => id !== null));
  const servers: ServerReplicationFacts[] = members.map((m) => ({
    serverId: m.server_id,
    configured: m.replication_parameters !== null,
    job: m.replication_job_id === null ? null : (facts.get(m.replication_job_id) ?? null),
  }));
  const replication = appReplicationStatus({ phase: current.replication_phase as ReplicationPhase, servers });
  let firstReplicatedAt = current.first_replicated_at;
  if (reachedFirstReplication({ firstReplicatedAt }, replication)) {
    firstReplicatedAt = now;
    if (current.auto_launch === 1 && current.launch_phase !== 'LAUNCH' && current.status === 'ACTIVE') current = await autoLaunch(tx, current, now, options);
  }
  const launch = await launchView(tx, current, members);
  const next = {
    replication_phase: replication.phase,
    replication_status: replication.status,
    replication_status_message: replication.message,
    latest_replication_time: replication.latestReplicationTime === null ? current.latest_replication_time : Math.max(replication.latestReplicationTime, current.latest_replication_time ?? 0),
    first_replicated_at: firstReplicatedAt,
    launch_status: launch.status,
    launch_status_message: launch.message,
    latest_launch_time: launch.status === 'LAUNCHED' && current.launch_status !== 'LAUNCHED' ? now : current.latest_launch_time,
  };
  if (becameLaunched(current.launch_status, next.launch_status)) await queueAppValidations(tx, current, now, emit);
  const changed = (Object.keys(next) as (keyof typeof next)[]).some((k) => next[k] !== current[k]);
  let stored: AppRow = changed ? { ...current, ...next } : current;
  if (changed) await updateAppRow(tx, app.app_id, next);
  if (stored.status === 'DELETING') stored = await finishDeletion(tx, stored, now);
  if (stored.status !== before.status || stored.replication_status !== before.replication_status || stored.launch_status !== before.launch_status) {
    emit({
      type: 'app.state',
      tenant: tenantOf(app),
      appId: app.app_id,
      status: stored.status,
      replicationStatus: stored.replication_status,
      launchStatus: stored.launch_status,
      previous: { status: before.status, replicationStatus: before.replication_status, launchStatus: before.launch_status },
    });
  }
  return stored;
}

async function autoLaunch(tx: Tx, app: AppRow, now: number, options: RefreshOptions): Promise<AppRow> {
  const readiness = await launchReadiness(tx, app);
  const failure = !options.launchAvailable
    ? `autoLaunch could not start: ${options.unavailableReason ?? 'this Ferry runs without a launch subsystem (libvirt)'}.`
    : readiness.problems.length > 0
      ? `autoLaunch could not start: ${readiness.problems.join('; ')}.`
      : null;
  return planLaunchIn(tx, app, readiness, now, failure);
}

/**
 * DeleteApp waits (status DELETING) for what it stopped: the app is removed once no launched instance is left, or
 * DELETE_FAILED when terminating them failed.
 */
async function finishDeletion(tx: Tx, app: AppRow, now: number): Promise<AppRow> {
  if (app.launch_status === 'TERMINATE_FAILED') {
    const patch = { status: 'DELETE_FAILED', status_message: `The app's instances could not be terminated: ${app.launch_status_message}`, updated_at: now };
    await updateAppRow(tx, app.app_id, patch);
    return { ...app, ...patch };
  }
  if (app.launch_status !== 'TERMINATED') return app;
  await purgeApp(tx, app.app_id);
  return { ...app, status: 'DELETED', status_message: null };
}

/** The before-commit hook: recompute the apps whose jobs, runs or instances changed in this transaction. */
export function appStatusHook(core: Core, options: () => RefreshOptions): BeforeCommitHook {
  return async (tx, events, emit) => {
    const jobIds = new Set<string>();
    const appIds = new Set<string>();
    const instanceEvents = events.filter((e): e is Extract<FerryEvent, { type: 'instance.state' }> => e.type === 'instance.state');
    // An instance's app is locked before its launch row changes (app, then launch rows, as every App operation and
    // the launch coordinator take them): the other order could wait in a circle with TerminateApp on PostgreSQL.
    for (const appId of [...new Set(instanceEvents.flatMap((e) => (e.appId ? [e.appId] : [])))].sort()) await appByIdForChange(tx, core, appId);
    for (const event of events) {
      if (event.type === 'job.state' || event.type === 'run.state') jobIds.add(event.replicationJobId);
    }
    for (const event of instanceEvents) {
      const appId = await recordInstanceState(tx, event, core.clock.now());
      if (appId) appIds.add(appId);
    }
    if (jobIds.size > 0) {
      for (const appId of await selectAppIdsOfJobs(tx, [...jobIds])) appIds.add(appId);
    }
    // Locked where transactions run side by side: two transactions changing two jobs of one app would each derive
    // the status from the other's job as it was before, and the later commit would store a status neither saw whole
    // (both servers failed, the app still REPLICATION_IN_PROGRESS). Behind the lock, the second reads the first's
    // commit. In app id order, after the jobs this transaction changed (locked by their writers first).
    for (const appId of [...appIds].sort()) {
      const app = await appByIdForChange(tx, core, appId);
      if (app) await refreshApp(tx, app, core.clock.now(), emit, options());
    }
  };
}
