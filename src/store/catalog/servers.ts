/** The server catalog's servers. */
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import { inTenant } from '../tenancy.ts';
import type { ServerRow } from '../rows.ts';

/** The details JSON the connector reported for a server (null when it reported none or the server is unknown). */
export async function serverDetails(db: Executor, serverId: string): Promise<string | null> {
  const row = await db.selectFrom('servers').select('details').where('server_id', '=', serverId).executeTakeFirst();
  return row?.details ?? null;
}

/** A server looked up only within its tenant. */
export function getInTenant(db: Executor, tenant: Tenant, serverId: string): Promise<ServerRow | undefined> {
  return db.selectFrom('servers').selectAll().where('server_id', '=', serverId).where(inTenant(tenant)).executeTakeFirst();
}

export function get(db: Executor, serverId: string): Promise<ServerRow | undefined> {
  return db.selectFrom('servers').selectAll().where('server_id', '=', serverId).executeTakeFirst();
}

/** The server's replication job is now `replicationJobId` (spec §4.2 replicationJobId, not terminated). */
export async function linkJob(db: Executor, serverId: string, replicationJobId: string, now: number): Promise<void> {
  await db.updateTable('servers').set({ replication_job_id: replicationJobId, replication_job_terminated: 0, updated_at: now }).where('server_id', '=', serverId).execute();
}

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
  const row = await db.selectFrom('catalogs').select('status').where(inTenant(tenant)).executeTakeFirst();
  return row?.status ?? 'NOT_IMPORTED';
}

/** What a heartbeat reads of the tenant's catalog: its status and when an import was last asked for. */
export function importState(db: Executor, tenant: Tenant): Promise<{ status: string; import_requested_at: number | null } | undefined> {
  return db.selectFrom('catalogs').select(['status', 'import_requested_at']).where(inTenant(tenant)).executeTakeFirst();
}
