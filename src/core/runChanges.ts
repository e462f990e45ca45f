/**
 * Writes a run's transitions (domain/replicationRun.ts) to the store, inside the caller's transaction: the one
 * place a run's state changes. It also finds the run a connector holds, by the one ownership rule.
 */
import type { Updateable } from 'kysely';
import { requireHeld, type RunChange, type RunFacts } from '../domain/replicationRun.ts';
import type { ReplicationRunState } from '../domain/enums.ts';
import type { RunsTable } from '../store/schema.ts';
import type { ConnectorRow, JobRow, RunRow } from '../store/rows.ts';
import type { Core, Tx } from './context.ts';
import type { FerryEvent } from './events.ts';

export function runFacts(row: Pick<RunRow, 'replication_run_id' | 'state' | 'connector_id' | 'stage'>): RunFacts {
  return { replicationRunId: row.replication_run_id, state: row.state as ReplicationRunState, connectorId: row.connector_id, stage: row.stage };
}

export async function applyRunChange(tx: Tx, replicationRunId: string, change: RunChange, now: number): Promise<void> {
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
  await tx.updateTable('runs').set(patch).where('replication_run_id', '=', replicationRunId).execute();
}

/** The run.state event of a run's transition. */
export function runEvent(job: JobRow, run: { replication_run_id: string; type: string }, state: string, statusMessage?: string | null): FerryEvent {
  return {
    type: 'run.state',
    tenant: { accountId: job.account_id, region: job.region },
    replicationJobId: job.replication_job_id,
    replicationRunId: run.replication_run_id,
    runType: run.type,
    state,
    statusMessage,
  };
}

/** The run `connector` holds (domain/replicationRun.ts requireHeld), looked up in its own account and region. */
export async function heldRun(db: Tx | Core['db'], connector: ConnectorRow, replicationRunId: string): Promise<RunRow> {
  const run = await db
    .selectFrom('runs')
    .selectAll()
    .where('replication_run_id', '=', replicationRunId)
    .where('account_id', '=', connector.account_id)
    .where('region', '=', connector.region)
    .executeTakeFirst();
  return requireHeld(run && { ...runFacts(run), row: run }, replicationRunId, connector.connector_id).row;
}
