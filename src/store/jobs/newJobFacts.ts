/**
 * What CreateReplicationJob checks before it writes, read in one statement: the server (within the tenant), the
 * tenant's catalog status, whether the server's connector is still associated, the server's job that is not yet
 * over (if any) and the tenant's count of such jobs. These were five lookups, each a round through the driver; the
 * checks themselves stay in core/jobs.ts, in their order (the API's errors and their order do not change).
 */
import { sql } from 'kysely';
import { NON_TERMINAL_JOB_STATES } from '../../domain/enums.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import type { ServerRow } from '../rows.ts';
import { NEVER_IMPORTED } from '../catalog/catalogs.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

export interface NewJobFacts {
  server: ServerRow;
  /** The tenant's catalog status (NOT_IMPORTED until a first import). */
  catalogStatus: string;
  /** Whether the connector that reported the server exists and is associated. */
  connectorAssociated: boolean;
  /** The id of the server's job that is not yet over, if any (a server has at most one). */
  liveJobId: string | null;
  /** The tenant's jobs that are not yet over (store/jobs/activeJobCounts.ts keeps the count). */
  activeJobs: number;
}

type Params = { accountId: string; region: string; serverId: string };

const factsOf = compiledOnce('jobs.newJobFacts', (db, p: Params) =>
  db
    .selectFrom('servers')
    .selectAll('servers')
    .select((eb) => [
      eb.selectFrom('catalogs').select('catalogs.status').where('catalogs.account_id', '=', p.accountId).where('catalogs.region', '=', p.region).as('catalog_status'),
      // 1/0 on both dialects (a bare EXISTS is a boolean on PostgreSQL, an integer on SQLite).
      eb
        .case()
        .when(eb.exists(eb.selectFrom('connectors').select(sql.lit(1).as('one')).whereRef('connectors.connector_id', '=', 'servers.connector_id').where('connectors.disassociated_at', 'is', null)))
        .then(sql.lit(1))
        .else(sql.lit(0))
        .end()
        .as('connector_associated'),
      eb
        .selectFrom('jobs')
        .select('jobs.replication_job_id')
        .whereRef('jobs.server_id', '=', 'servers.server_id')
        .where('jobs.state', 'in', NON_TERMINAL_JOB_STATES)
        .limit(1)
        .as('live_job_id'),
      eb
        .selectFrom('account_job_counts')
        .select('account_job_counts.active_jobs')
        .where('account_job_counts.account_id', '=', p.accountId)
        .where('account_job_counts.region', '=', p.region)
        .as('active_jobs'),
    ])
    .where('servers.server_id', '=', p.serverId)
    .where('servers.account_id', '=', p.accountId)
    .where('servers.region', '=', p.region),
);

/** The facts, or undefined when the tenant has no such server. */
export async function newJobFacts(db: Executor, tenant: Tenant, serverId: string): Promise<NewJobFacts | undefined> {
  const [row] = await rowsOf(db, factsOf(db, { accountId: tenant.accountId, region: tenant.region, serverId }));
  if (!row) return undefined;
  const { catalog_status, connector_associated, live_job_id, active_jobs, ...server } = row;
  return {
    server,
    catalogStatus: catalog_status ?? NEVER_IMPORTED.status,
    connectorAssociated: Number(connector_associated) === 1,
    liveJobId: live_job_id ?? null,
    activeJobs: Number(active_jobs ?? 0),
  };
}
