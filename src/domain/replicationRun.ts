/**
 * The replication run's lifecycle as pure transitions `(run, event, now) → change` (spec §4.4), the way
 * jobLifecycle.ts does it for jobs: who may move a run, from which state, and what the move sets. The caller
 * writes the change in its transaction (core/runChanges.ts is the only writer of a run's state); nothing here
 * touches I/O.
 *
 *   PENDING ──claim──▶ ACTIVE ──complete──▶ COMPLETED
 *      │                 │ └──progress──▶ ACTIVE (stage forward, lease renewed)
 *      │                 └──fail (or lease expired)──▶ FAILED
 *      ├──miss──▶ MISSED
 *      └──cancel (job deleted; ACTIVE too)──▶ DELETED
 */
import { invalidParameter } from '../lib/errors.ts';
import { IllegalTransition } from './jobLifecycle.ts';
import type { Policy } from './policy.ts';
import type { ReplicationJobState, ReplicationRunState } from './enums.ts';

/** The stages of a run, in order (spec §4.4); progress may only move forward. */
export const RUN_STAGES = ['Validating', 'Snapshotting', 'Uploading', 'Converting', 'Creating AMI'] as const;
export type RunStage = (typeof RUN_STAGES)[number];

/** Longest stageProgress: it is shown as is (`42%`, `Completed`), in stageDetails and the console. */
export const MAX_STAGE_PROGRESS_LENGTH = 64;

/** Longest failure message a connector may record (statusMessage). */
export const MAX_FAILURE_MESSAGE_LENGTH = 2000;

/** What the transitions read of a run. */
export interface RunFacts {
  replicationRunId: string;
  state: ReplicationRunState;
  connectorId: string | null;
  stage: string | null;
}

/** What a transition sets; absent members stay as they are. */
export interface RunChange {
  state?: ReplicationRunState;
  statusMessage?: string | null;
  startedAt?: number;
  connectorId?: string;
  leaseExpiresAt?: number | null;
  stage?: string | null;
  stageProgress?: string | null;
  progress?: { bytesDone?: number; bytesTotal?: number; bytesPerSecond?: number; at: number };
  amiId?: string;
  completedTime?: number;
}

export interface ProgressReport {
  stage: string;
  stageProgress: string;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
}

/** Thrown when a connector acts on a run that is not (or no longer) its own: it must stop working on it. */
export class RunConflict extends Error {}

/**
 * Why `connectorId` may not act on this run, or null when it holds it: a connector holds a run it claimed while
 * the run is ACTIVE. (The run is looked up in the connector's own account and region; one it cannot see does not
 * exist for it.)
 */
export function notHeldReason(run: RunFacts | undefined, replicationRunId: string, connectorId: string): string | null {
  if (!run) return `Run ${replicationRunId} does not exist.`;
  if (run.state !== 'ACTIVE' || run.connectorId !== connectorId) {
    return `Run ${replicationRunId} is ${run.state} and no longer held by this connector; stop working on it.`;
  }
  return null;
}

/** The run as its holder may act on it; throws RunConflict otherwise. */
export function requireHeld<T extends RunFacts>(run: T | undefined, replicationRunId: string, connectorId: string): T {
  const reason = notHeldReason(run, replicationRunId, connectorId);
  if (reason !== null) throw new RunConflict(reason);
  return run!;
}

function from(run: RunFacts, allowed: readonly ReplicationRunState[], event: string): void {
  if (!allowed.includes(run.state)) throw new IllegalTransition(`Run ${run.replicationRunId} cannot ${event}: it is ${run.state}.`);
}

/** A connector claimed the run: ACTIVE, under a lease it renews by reporting progress. */
export function onRunClaimed(run: RunFacts, connectorId: string, now: number, policy: Policy): RunChange {
  from(run, ['PENDING'], 'be claimed');
  return { state: 'ACTIVE', startedAt: now, connectorId, leaseExpiresAt: now + policy.runLeaseMs, statusMessage: 'Starting' };
}

/** A report that says something impossible is refused whole: progress is honest or absent. */
export function checkProgressReport(report: ProgressReport): void {
  if (!RUN_STAGES.includes(report.stage as RunStage)) {
    throw invalidParameter(`Unknown stage ${JSON.stringify(report.stage.slice(0, 40))}; stages are ${RUN_STAGES.join(', ')}.`);
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

/** The holder reported progress: the stage moves forward (never back) and the lease is renewed. */
export function onRunProgress(run: RunFacts, report: ProgressReport, now: number, policy: Policy): RunChange {
  checkProgressReport(report);
  from(run, ['ACTIVE'], 'report progress');
  const previous = run.stage === null ? -1 : RUN_STAGES.indexOf(run.stage as RunStage);
  if (RUN_STAGES.indexOf(report.stage as RunStage) < previous) {
    throw invalidParameter(`Progress must move forward: the run is already at stage ${run.stage}.`);
  }
  return {
    stage: report.stage,
    stageProgress: report.stageProgress,
    statusMessage: report.stage,
    leaseExpiresAt: now + policy.runLeaseMs,
    progress: { bytesDone: report.bytesDone, bytesTotal: report.bytesTotal, bytesPerSecond: report.bytesPerSecond, at: now },
  };
}

const ENDED = { stage: null, stageProgress: null, leaseExpiresAt: null } as const;

/**
 * Whether a completion is one this connector already made: its first answer was lost (a node killed after the commit,
 * a dropped connection), so it asks again. The same holder completing with the same image is told it is done, not
 * that the run is no longer its own: the run ended as it says, and it must log and report it as completed.
 */
export function isRepeatedCompletion(run: RunFacts & { amiId: string | null }, connectorId: string, amiId: string): boolean {
  return run.state === 'COMPLETED' && run.connectorId === connectorId && run.amiId === amiId;
}

export function onRunCompleted(run: RunFacts, amiId: string, now: number): RunChange {
  from(run, ['ACTIVE'], 'complete');
  return { state: 'COMPLETED', amiId, completedTime: now, statusMessage: 'Completed', ...ENDED };
}

/** The holder reported a failure, or its lease ran out (leaseExpiryMessage says why). */
export function onRunFailed(run: RunFacts, message: string, now: number): RunChange {
  from(run, ['ACTIVE'], 'fail');
  return { state: 'FAILED', statusMessage: message, completedTime: now, ...ENDED };
}

/** Whether an ACTIVE run's lease has run out at `now`. */
export function leaseExpired(run: { state: string; leaseExpiresAt: number | null }, now: number): boolean {
  return run.state === 'ACTIVE' && run.leaseExpiresAt !== null && run.leaseExpiresAt < now;
}

export function leaseExpiryMessage(connectorId: string | null, leaseExpiresAt: number): string {
  return `Connector ${connectorId} stopped reporting progress; the run's lease expired at ${new Date(leaseExpiresAt).toISOString()}.`;
}

/** A due AUTOMATIC run was skipped (schedule.ts decides when). */
export function onRunMissed(run: RunFacts, reason: string): RunChange {
  from(run, ['PENDING'], 'be missed');
  return { state: 'MISSED', statusMessage: reason };
}

/** The job was deleted: its pending and active runs end with it. */
export function onRunCancelled(run: RunFacts, now: number): RunChange {
  from(run, ['PENDING', 'ACTIVE'], 'be cancelled');
  return { state: 'DELETED', statusMessage: 'Cancelled: the replication job was deleted.', leaseExpiresAt: null, completedTime: now };
}

/** Jobs in these states can have a run started; a due run of a job in any other state waits. */
export const RUNNABLE_JOB_STATES: readonly ReplicationJobState[] = ['PENDING', 'ACTIVE'];

/** What "a run is due for this connector" reads of a candidate run, its job and the job's server. */
export interface DueRunCandidate {
  runState: string;
  scheduledStartTime: number;
  jobState: string;
  /** The connector that reported the job's server. */
  serverConnectorId: string;
  /** The VM manager of the job's server. */
  jobVmManagerId: string;
}

/**
 * A run is due for a connector when it is PENDING, its time has come, its job can run, and the connector serves
 * its server: it reported the server, or it registered with the server's VM manager. Heartbeats (runsWaiting)
 * and claims ask exactly this; the runs repository's query (store/runs/dueRuns.ts) implements it.
 */
export function isRunDueFor(connector: { connectorId: string; vmManagerId: string | null }, candidate: DueRunCandidate, now: number): boolean {
  return (
    candidate.runState === 'PENDING' &&
    candidate.scheduledStartTime <= now &&
    RUNNABLE_JOB_STATES.includes(candidate.jobState as ReplicationJobState) &&
    (candidate.serverConnectorId === connector.connectorId || candidate.jobVmManagerId === (connector.vmManagerId ?? ''))
  );
}
