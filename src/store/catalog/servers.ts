/** The server catalog's servers: lookups, job links, the connectors' reports, GetServers' page. */
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import { inTenant } from '../tenancy.ts';
import type { ServerRow } from '../rows.ts';
import type { Database } from '../schema.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

/** The details JSON the connector reported for a server (null when it reported none or the server is unknown). */
export async function serverDetails(db: Executor, serverId: string): Promise<string | null> {
  const row = await db.selectFrom('servers').select('details').where('server_id', '=', serverId).executeTakeFirst();
  return row?.details ?? null;
}

const serverInTenant = compiledOnce('servers.getInTenant', (db, p: Tenant & { serverId: string }) =>
  db.selectFrom('servers').selectAll().where('server_id', '=', p.serverId).where(inTenant(p)),
);

/** A server looked up only within its tenant. */
export async function getInTenant(db: Executor, tenant: Tenant, serverId: string): Promise<ServerRow | undefined> {
  return (await rowsOf(db, serverInTenant(db, { accountId: tenant.accountId, region: tenant.region, serverId })))[0];
}

export function get(db: Executor, serverId: string): Promise<ServerRow | undefined> {
  return db.selectFrom('servers').selectAll().where('server_id', '=', serverId).executeTakeFirst();
}

/** The servers of these ids that exist, by id. */
export async function getMany(db: Executor, serverIds: readonly string[]): Promise<Map<string, ServerRow>> {
  if (serverIds.length === 0) return new Map();
  const rows = await db.selectFrom('servers').selectAll().where('server_id', 'in', [...serverIds]).execute();
  return new Map(rows.map((r) => [r.server_id, r]));
}

/** The VM names of these servers, by server id. */
export async function vmNamesOf(db: Executor, serverIds: readonly string[]): Promise<Map<string, string>> {
  if (serverIds.length === 0) return new Map();
  const rows = await db.selectFrom('servers').select(['server_id', 'vm_name']).where('server_id', 'in', [...serverIds]).execute();
  return new Map(rows.map((r) => [r.server_id, r.vm_name]));
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

/** What a connector reports of a VM (the tenant, the server id and the job link are the catalog's). */
export type ReportedServer = Omit<Database['servers'], 'seq' | 'server_id' | 'account_id' | 'region' | 'replication_job_id' | 'replication_job_terminated'>;

/**
 * Writes reported VMs in one statement: new ones are inserted under `freshIds` (one each, in order), known ones
 * (by their (vmManagerId, vmId)) updated, so their server ids stay.
 */
export async function upsertReported(db: Executor, tenant: Tenant, servers: readonly ReportedServer[], freshIds: readonly string[]): Promise<void> {
  if (servers.length === 0) return;
  await db
    .insertInto('servers')
    .values(
      servers.map((server, i) => ({
        ...server,
        server_id: freshIds[i]!,
        account_id: tenant.accountId,
        region: tenant.region,
        replication_job_id: null,
        replication_job_terminated: null,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['account_id', 'region', 'vm_manager_id', 'vm_id']).doUpdateSet((eb) => ({
        connector_id: eb.ref('excluded.connector_id'),
        vm_manager_name: eb.ref('excluded.vm_manager_name'),
        vm_manager_type: eb.ref('excluded.vm_manager_type'),
        vm_name: eb.ref('excluded.vm_name'),
        vm_path: eb.ref('excluded.vm_path'),
        replicable: eb.ref('excluded.replicable'),
        unsupported_reason: eb.ref('excluded.unsupported_reason'),
        in_catalog: eb.ref('excluded.in_catalog'),
        details: eb.ref('excluded.details'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** Which of `serverIds` some server already has (any tenant: server ids are unique across the store). */
export async function takenIds(db: Executor, serverIds: readonly string[]): Promise<Set<string>> {
  if (serverIds.length === 0) return new Set();
  const rows = await db.selectFrom('servers').select('server_id').where('server_id', 'in', [...serverIds]).execute();
  return new Set(rows.map((r) => r.server_id));
}

/** Takes servers out of the catalog (their rows, ids and job links stay). */
export async function removeFromCatalog(db: Executor, serverIds: readonly string[], now: number): Promise<void> {
  if (serverIds.length === 0) return;
  await db.updateTable('servers').set({ in_catalog: 0, updated_at: now }).where('server_id', 'in', [...serverIds]).execute();
}

/** Takes every server of the tenant out of the catalog (DeleteServerCatalog). */
export async function removeTenantFromCatalog(db: Executor, tenant: Tenant, now: number): Promise<void> {
  await db.updateTable('servers').set({ in_catalog: 0, updated_at: now }).where(inTenant(tenant)).execute();
}

/**
 * A page of the tenant's catalog servers the connector serves (it reported them, or they are of its VM manager),
 * in sequence after `after`: what an inventory compares with what the connector reports now.
 */
export function servedPage(
  db: Executor,
  tenant: Tenant,
  connector: { connector_id: string; vm_manager_id: string | null },
  after: number,
  limit: number,
): Promise<Pick<ServerRow, 'seq' | 'server_id' | 'vm_id' | 'vm_manager_id'>[]> {
  return db
    .selectFrom('servers')
    .select(['seq', 'server_id', 'vm_id', 'vm_manager_id'])
    .where(inTenant(tenant))
    .where('in_catalog', '=', 1)
    .where('seq', '>', after)
    .where((eb) => eb.or([eb('connector_id', '=', connector.connector_id), eb('vm_manager_id', '=', connector.vm_manager_id ?? '')]))
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** A VM address filter of GetServers: a term matches what it names (nothing named: every server). */
export interface VmAddressFilter {
  vmManagerId?: string;
  vmId?: string;
}

/** A page of the tenant's catalog servers in sequence after `after`, matching any of `filters` (none: all). */
export function catalogPage(db: Executor, tenant: Tenant, page: { after?: number; limit: number; filters: readonly VmAddressFilter[] }): Promise<ServerRow[]> {
  let query = db.selectFrom('servers').selectAll().where(inTenant(tenant)).where('in_catalog', '=', 1).orderBy('seq', 'asc').limit(page.limit);
  if (page.after !== undefined) query = query.where('seq', '>', page.after);
  if (page.filters.length) {
    query = query.where((eb) =>
      eb.or(
        page.filters.map((f) => {
          const parts = [];
          if (f.vmManagerId !== undefined) parts.push(eb('vm_manager_id', '=', f.vmManagerId));
          if (f.vmId !== undefined) parts.push(eb('vm_id', '=', f.vmId));
          return parts.length ? eb.and(parts) : eb.lit(true);
        }),
      ),
    );
  }
  return query.execute();
}
