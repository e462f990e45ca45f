/**
 * An app's `replicationStatus` (spec §7 flows), derived from what its servers' replication jobs and runs really did —
 * never from time. Pure: the caller gathers the facts in the transaction that changed a job or run and stores the
 * result with it (core/apps/refreshApps.ts).
 *
 *   NONE      → READY_FOR_CONFIGURATION | READY_FOR_REPLICATION (every server has parameters)
 *   STARTED   → REPLICATION_PENDING (no run has started yet) → REPLICATION_IN_PROGRESS
 *               → REPLICATED | PARTIALLY_REPLICATED (some servers failed their first replication) | REPLICATION_FAILED
 *               then, once every server has an image: DELTA_REPLICATION_IN_PROGRESS (any later run active)
 *               → DELTA_REPLICATED | DELTA_REPLICATION_FAILED
 *   STOPPING  → REPLICATION_STOPPING until every job is gone, then REPLICATION_STOPPED (phase STOPPED)
 *
 * REPLICATION_STOP_FAILED is never produced: deleting a Ferry job cannot fail (its runs are cancelled in the same
 * transaction). CONFIGURATION_* and VALIDATION_IN_PROGRESS are never produced either: configuration is validated
 * synchronously by PutAppReplicationConfiguration.
 */
import type { AppReplicationStatus, ReplicationPhase } from './appEnums.ts';

export interface ServerJobFacts {
  replicationJobId: string;
  /** The job's ReplicationJobState. */
  state: string;
  statusMessage: string | null;
  /** Runs of the job that COMPLETED (each made an image). */
  completedRuns: number;
  /** A run of the job is ACTIVE right now. */
  activeRun: boolean;
  /**
   * An ON_DEMAND run waits to start (StartOnDemandAppReplication asked for it): the server counts as replicating.
   * A pending AUTOMATIC run does not — it is only the schedule, and nothing announces the moment it falls due.
   */
  queuedRun: boolean;
  /** The newest run that finished, COMPLETED or FAILED (null before any did), and its message. */
  lastFinished: 'COMPLETED' | 'FAILED' | null;
  lastFinishedMessage: string | null;
  /** completedTime of the newest COMPLETED run. */
  latestCompletedAt: number | null;
}

export interface ServerReplicationFacts {
  serverId: string;
  /** Whether PutAppReplicationConfiguration gave the server parameters. */
  configured: boolean;
  /** The job StartAppReplication made for the server, or null. */
  job: ServerJobFacts | null;
}

export interface AppReplicationFacts {
  phase: ReplicationPhase;
  servers: readonly ServerReplicationFacts[];
}

export interface AppReplicationView {
  status: AppReplicationStatus;
  message: string | null;
  /** The phase to store: STOPPING becomes STOPPED once every job is gone. */
  phase: ReplicationPhase;
  /** When every server has an image: the newest image's time; otherwise null. */
  latestReplicationTime: number | null;
}

/** Job states in which the job no longer runs (its server is free for a new job). */
const ENDED_JOB_STATES = new Set(['COMPLETED', 'FAILED', 'DELETED']);
const DELETED_JOB_STATES = new Set(['DELETING', 'DELETED']);
const FAILED_JOB_STATES = new Set(['FAILED', 'PAUSED_ON_FAILURE']);

type ServerClass = 'pending' | 'active' | 'failed' | 'replicated' | 'deltaFailed';

function classify(job: ServerJobFacts | null): { kind: ServerClass; note: string | null } {
  if (job === null) return { kind: 'pending', note: null };
  if (job.activeRun || job.queuedRun) return { kind: 'active', note: null };
  const replicated = job.completedRuns > 0;
  if (DELETED_JOB_STATES.has(job.state)) {
    return { kind: replicated ? 'deltaFailed' : 'failed', note: `its replication job ${job.replicationJobId} was deleted` };
  }
  const failed = job.lastFinished === 'FAILED' || FAILED_JOB_STATES.has(job.state);
  if (failed) {
    const note = job.lastFinishedMessage ?? job.statusMessage ?? `replication job ${job.replicationJobId} is ${job.state}`;
    return { kind: replicated ? 'deltaFailed' : 'failed', note };
  }
  return { kind: replicated ? 'replicated' : 'pending', note: null };
}

function describeFailures(servers: readonly ServerReplicationFacts[], kinds: readonly { kind: ServerClass; note: string | null }[]): string {
  return servers
    .map((s, i) => ({ id: s.serverId, ...kinds[i]! }))
    .filter((s) => s.kind === 'failed' || s.kind === 'deltaFailed')
    .map((s) => `${s.id}: ${s.note}`)
    .join('; ');
}

function notReplicating(facts: AppReplicationFacts): AppReplicationView {
  const total = facts.servers.length;
  const configured = facts.servers.filter((s) => s.configured).length;
  if (facts.phase === 'STOPPED') {
    return { status: 'REPLICATION_STOPPED', message: "Replication was stopped (StopAppReplication); the servers' images are kept.", phase: 'STOPPED', latestReplicationTime: null };
  }
  if (total === 0) return { status: 'READY_FOR_CONFIGURATION', message: 'The app has no servers: add some with UpdateApp.', phase: facts.phase, latestReplicationTime: null };
  if (configured < total) {
    const message = configured === 0 ? null : `${configured} of ${total} servers have replication parameters (PutAppReplicationConfiguration).`;
    return { status: 'READY_FOR_CONFIGURATION', message, phase: facts.phase, latestReplicationTime: null };
  }
  return { status: 'READY_FOR_REPLICATION', message: null, phase: facts.phase, latestReplicationTime: null };
}

export function appReplicationStatus(facts: AppReplicationFacts): AppReplicationView {
  if (facts.phase === 'NONE' || facts.phase === 'STOPPED') return notReplicating(facts);
  const { servers } = facts;
  if (facts.phase === 'STOPPING') {
    const live = servers.filter((s) => s.job !== null && !ENDED_JOB_STATES.has(s.job.state)).length;
    if (live === 0) return notReplicating({ ...facts, phase: 'STOPPED' });
    return { status: 'REPLICATION_STOPPING', message: `Deleting the replication jobs of ${live} server(s).`, phase: 'STOPPING', latestReplicationTime: null };
  }

  const kinds = servers.map((s) => classify(s.job));
  const count = (kind: ServerClass) => kinds.filter((k) => k.kind === kind).length;
  const total = servers.length;
  const everyServerHasImage = total > 0 && servers.every((s) => (s.job?.completedRuns ?? 0) > 0);
  const latestReplicationTime = everyServerHasImage ? Math.max(...servers.map((s) => s.job!.latestCompletedAt ?? 0)) : null;
  const view = (status: AppReplicationStatus, message: string | null): AppReplicationView => ({ status, message, phase: 'STARTED', latestReplicationTime });

  if (!everyServerHasImage) {
    const replicated = servers.filter((s) => (s.job?.completedRuns ?? 0) > 0).length;
    const progress = `${replicated} of ${total} servers replicated`;
    if (count('active') > 0) return view('REPLICATION_IN_PROGRESS', `${progress}; ${count('active')} replicating now or about to.`);
    if (count('pending') > 0) {
      const nothingStarted = servers.every((s) => s.job === null || (s.job.completedRuns === 0 && s.job.lastFinished === null));
      if (nothingStarted) return view('REPLICATION_PENDING', `Waiting for the first replication run of ${total} server(s).`);
      const failures = describeFailures(servers, kinds);
      return view('REPLICATION_IN_PROGRESS', `${progress}; ${count('pending')} waiting for a run.${failures ? ` Failed so far: ${failures}` : ''}`);
    }
    const failures = describeFailures(servers, kinds);
    return replicated > 0 ? view('PARTIALLY_REPLICATED', `${progress}. ${failures}`) : view('REPLICATION_FAILED', failures);
  }
  if (count('active') > 0) return view('DELTA_REPLICATION_IN_PROGRESS', `${count('active')} of ${total} servers replicating changes.`);
  if (count('deltaFailed') > 0) return view('DELTA_REPLICATION_FAILED', describeFailures(servers, kinds));
  if (servers.some((s) => s.job!.completedRuns > 1)) return view('DELTA_REPLICATED', null);
  return view('REPLICATED', null);
}

/** autoLaunch fires once: the first time every server of the app has an image and none failed. */
export function reachedFirstReplication(before: { firstReplicatedAt: number | null }, view: AppReplicationView): boolean {
  return before.firstReplicatedAt === null && (view.status === 'REPLICATED' || view.status === 'DELTA_REPLICATED');
}
