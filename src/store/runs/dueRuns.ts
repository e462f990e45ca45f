/**
 * "Which runs are due for this connector" as one query: domain/replicationRun.ts isRunDueFor in SQL. Heartbeats
 * ask it (runsWaiting) and claims take from it, so a heartbeat never announces a run a claim would not hand out.
 * test/store/runs.test.ts and test/integration/dueRuns.test.ts hold the query to the rule.
 */
import { RUNNABLE_JOB_STATES } from '../../domain/replicationRun.ts';
import type { StoreCapabilities } from '../openStore.ts';
import type { Executor } from '../executor.ts';
import type { ConnectorRow, RunRow } from '../rows.ts';
import { inTenant } from '../tenancy.ts';
import { tenantOf } from '../../domain/tenant.ts';

/** What the rule reads of the connector asking. */
export type DueRunsConnector = Pick<ConnectorRow, 'connector_id' | 'account_id' | 'region' | 'vm_manager_id'>;

function dueQuery(db: Executor, connector: DueRunsConnector, now: number, limit: number) {
  return db
    .selectFrom('runs')
    .innerJoin('jobs', 'jobs.replication_job_id', 'runs.replication_job_id')
    .innerJoin('servers', 'servers.server_id', 'jobs.server_id')
    .where(inTenant(tenantOf(connector), 'runs'))
    .where('runs.state', '=', 'PENDING')
    .where('runs.scheduled_start_time', '<=', now)
    .where('jobs.state', 'in', RUNNABLE_JOB_STATES)
    .where((eb) => eb.or([eb('servers.connector_id', '=', connector.connector_id), eb('jobs.vm_manager_id', '=', connector.vm_manager_id ?? '')]))
    .orderBy('runs.type', 'desc') // ON_DEMAND sorts after AUTOMATIC ascending; descending puts it first
    .orderBy('runs.scheduled_start_time', 'asc')
    .orderBy('runs.seq', 'asc')
    .selectAll('runs')
    .limit(limit);
}

/** Up to `limit` runs due for `connector`, on-demand runs first, then by scheduled time. Reads only. */
export function listDue(db: Executor, connector: DueRunsConnector, now: number, limit: number): Promise<RunRow[]> {
  return dueQuery(db, connector, now, limit).execute();
}

/** Whether any run is due for `connector` (a heartbeat's runsWaiting). */
export async function anyDue(db: Executor, connector: DueRunsConnector, now: number): Promise<boolean> {
  return (await listDue(db, connector, now, 1)).length > 0;
}

/**
 * The due runs a claim may take, inside the claim's transaction. With skip-locked claims (PostgreSQL) the run rows
 * and their job rows are locked, and rows another claimer holds are skipped: two claimers never take the same run,
 * nor two runs of one job, and neither waits on the other. Without (SQLite), the transaction holds the one write
 * lock from its first statement (BEGIN IMMEDIATE), so claims are serialised and a plain read is exclusive already.
 */
export function claimDue(tx: Executor, capabilities: StoreCapabilities, connector: DueRunsConnector, now: number, limit: number): Promise<RunRow[]> {
  const query = dueQuery(tx, connector, now, limit);
  return (capabilities.skipLockedClaims ? query.forUpdate(['runs', 'jobs']).skipLocked() : query).execute();
}
