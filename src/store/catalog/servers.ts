/** The server catalog's servers. */
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import type { ServerRow } from '../rows.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

type InTenant = { accountId: string; region: string };

/** The details JSON the connector reported for a server (null when it reported none or the server is unknown). */
export async function serverDetails(db: Executor, serverId: string): Promise<string | null> {
  const row = await db.selectFrom('servers').select('details').where('server_id', '=', serverId).executeTakeFirst();
  return row?.details ?? null;
}

const serverInTenant = compiledOnce('servers.getInTenant', (db, p: InTenant & { serverId: string }) =>
  db.selectFrom('servers').selectAll().where('server_id', '=', p.serverId).where('account_id', '=', p.accountId).where('region', '=', p.region),
);

/** A server looked up only within its tenant. */
export async function getInTenant(db: Executor, tenant: Tenant, serverId: string): Promise<ServerRow | undefined> {
  return (await rowsOf(db, serverInTenant(db, { accountId: tenant.accountId, region: tenant.region, serverId })))[0];
}

export function get(db: Executor, serverId: string): Promise<ServerRow | undefined> {
  return db.selectFrom('servers').selectAll().where('server_id', '=', serverId).executeTakeFirst();
}

/** The server's replication job is now `replicationJobId` (spec §4.2 replicationJobId, not terminated). */
export async function linkJob(db: Executor, serverId: string, replicationJobId: string, now: number): Promise<void> {
  await db.executeQuery(linkServerToJob(db, { serverId, replicationJobId, now }));
}

const linkServerToJob = compiledOnce('servers.linkJob', (db, p: { serverId: string; replicationJobId: string; now: number }) =>
  db.updateTable('servers').set({ replication_job_id: p.replicationJobId, replication_job_terminated: 0, updated_at: p.now }).where('server_id', '=', p.serverId),
);

/** Spec §4.2 `replicationJobTerminated`: the server's job was deleted or failed (only if it is still the server's job). */
export async function markJobTerminated(db: Executor, serverId: string, replicationJobId: string, now: number): Promise<void> {
  await db
    .updateTable('servers')
    .set({ replication_job_terminated: 1, updated_at: now })
    .where('server_id', '=', serverId)
    .where('replication_job_id', '=', replicationJobId)
    .execute();
}

/** The tenant's catalog status (NOT_IMPORTED until a first import). */
export async function catalogStatus(db: Executor, tenant: Tenant): Promise<string> {
  const [row] = await rowsOf(db, statusOfCatalog(db, { accountId: tenant.accountId, region: tenant.region }));
  return row?.status ?? 'NOT_IMPORTED';
}

const statusOfCatalog = compiledOnce('catalogs.status', (db, p: InTenant) =>
  db.selectFrom('catalogs').select('status').where('account_id', '=', p.accountId).where('region', '=', p.region),
);

/** What a heartbeat reads of the tenant's catalog: its status and when an import was last asked for. */
export function importState(db: Executor, tenant: Tenant): Promise<{ status: string; import_requested_at: number | null } | undefined> {
  return db.selectFrom('catalogs').select(['status', 'import_requested_at']).where('account_id', '=', tenant.accountId).where('region', '=', tenant.region).executeTakeFirst();
}
