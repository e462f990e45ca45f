/**
 * Writes a run's transitions (domain/replicationRun.ts) to the store, inside the caller's transaction: the one
 * place a run's state changes. It also finds the run a connector holds, by the one ownership rule.
 */
import { requireHeld, RunConflict, type RunChange, type RunFacts } from '../domain/replicationRun.ts';
import type { ReplicationRunState } from '../domain/enums.ts';
import type { Executor } from '../store/executor.ts';
import * as runs from '../store/runs/index.ts';
import type { ConnectorRow, JobRow, RunRow } from '../store/rows.ts';
import type { Tx } from './context.ts';
import type { FerryEvent } from './events.ts';
import { tenantOf } from '../domain/tenant.ts';

export function runFacts(row: Pick<RunRow, 'replication_run_id' | 'state' | 'connector_id' | 'stage'>): RunFacts {
  return { replicationRunId: row.replication_run_id, state: row.state as ReplicationRunState, connectorId: row.connector_id, stage: row.stage };
}

/**
 * Applies a transition decided from `run` as it was read. A run changed since (a connector's progress racing its own
 * failure, or the lease sweep, on another connection) refuses the transition: the caller's transaction rolls back and
 * the request answers as for a run it no longer holds.
 */
export async function applyRunChange(tx: Tx, run: Pick<RunRow, 'replication_run_id' | 'state'>, change: RunChange, now: number): Promise<void> {
  if (!(await runs.applyChange(tx, run.replication_run_id, run.state, change, now))) {
    throw new RunConflict(`Run ${run.replication_run_id} changed while this request was applied (it is no longer ${run.state}); read it again.`);
  }
}

/** The run.state event of a run's transition. */
export function runEvent(job: JobRow, run: { replication_run_id: string; type: string }, state: string, statusMessage?: string | null): FerryEvent {
  return {
    type: 'run.state',
    tenant: tenantOf(job),
    replicationJobId: job.replication_job_id,
    replicationRunId: run.replication_run_id,
    runType: run.type,
    state,
    statusMessage,
  };
}

/** The run `connector` holds (domain/replicationRun.ts requireHeld), looked up in its own account and region. */
export async function heldRun(db: Executor, connector: ConnectorRow, replicationRunId: string): Promise<RunRow> {
  const run = await runs.getInTenant(db, tenantOf(connector), replicationRunId);
  return requireHeld(run && { ...runFacts(run), row: run }, replicationRunId, connector.connector_id).row;
}
