/**
 * Connectors: their identities and tokens (by hash), registration, heartbeats, and the lookups health and
 * GetConnectors read. Only associated connectors (not disassociated) are ever handed out by token or listed.
 */
import type { Registration } from '../../domain/connectorCalls.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import type { ConnectorRow } from '../rows.ts';
import { inTenant } from '../tenancy.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

/** A connector issued a token but not yet registered. */
export async function insertIssued(db: Executor, issued: Tenant & { connectorId: string; tokenHash: string; label: string | null; now: number }): Promise<void> {
  await db
    .insertInto('connectors')
    .values({
      connector_id: issued.connectorId,
      account_id: issued.accountId,
      region: issued.region,
      token_hash: issued.tokenHash,
      label: issued.label,
      created_at: issued.now,
      registered_at: null,
      vm_manager_type: null,
      vm_manager_name: null,
      vm_manager_id: null,
      version: null,
      capabilities: '[]',
      ip_address: null,
      mac_address: null,
      last_heartbeat_at: null,
      reported_status: null,
      status_message: null,
      disassociated_at: null,
      last_inventory_at: null,
    })
    .execute();
}

/** The associated connector whose token hashes to `tokenHash`. */
export function byTokenHash(db: Executor, tokenHash: string): Promise<ConnectorRow | undefined> {
  return db.selectFrom('connectors').selectAll().where('token_hash', '=', tokenHash).where('disassociated_at', 'is', null).executeTakeFirst();
}

/** Records a registration (the first one's time is kept) and counts it as a healthy heartbeat. */
export async function register(db: Executor, connector: Pick<ConnectorRow, 'connector_id' | 'registered_at'>, reg: Registration, now: number): Promise<void> {
  await db
    .updateTable('connectors')
    .set({
      registered_at: connector.registered_at ?? now,
      vm_manager_type: reg.vmManagerType,
      vm_manager_name: reg.vmManagerName,
      vm_manager_id: reg.vmManagerId,
      version: reg.version,
      capabilities: JSON.stringify(reg.capabilities),
      ip_address: reg.ipAddress ?? null,
      mac_address: reg.macAddress ?? null,
      last_heartbeat_at: now,
      reported_status: 'HEALTHY',
    })
    .where('connector_id', '=', connector.connector_id)
    .execute();
}

export async function heartbeat(db: Executor, connectorId: string, report: { status: string; message: string | null }, now: number): Promise<void> {
  await db
    .updateTable('connectors')
    .set({ last_heartbeat_at: now, reported_status: report.status, status_message: report.message })
    .where('connector_id', '=', connectorId)
    .execute();
}

/**
 * The tenant's associated, registered connectors that heartbeated at or after `heartbeatSince` and can serve VMs of
 * `vmManagerId` (registered with it, or `reportedBy`); null: of any VM manager. Health itself is the domain's call.
 */
export function recentlySeen(db: Executor, tenant: Tenant, heartbeatSince: number, vmManagerId: string | null, reportedBy?: string): Promise<ConnectorRow[]> {
  const values = { accountId: tenant.accountId, region: tenant.region, heartbeatSince };
  if (vmManagerId === null) return rowsOf(db, seenSince(db, values));
  return rowsOf(db, seenSinceServing(db, { ...values, vmManagerId, reportedBy: reportedBy ?? '' }));
}

type SeenSince = { accountId: string; region: string; heartbeatSince: number };
const seenSince = compiledOnce('connectors.recentlySeen', (db, p: SeenSince) =>
  db
    .selectFrom('connectors')
    .selectAll()
    .where(inTenant(p))
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .where('last_heartbeat_at', '>=', p.heartbeatSince),
);
const seenSinceServing = compiledOnce('connectors.recentlySeenServing', (db, p: SeenSince & { vmManagerId: string; reportedBy: string }) =>
  db
    .selectFrom('connectors')
    .selectAll()
    .where(inTenant(p))
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .where('last_heartbeat_at', '>=', p.heartbeatSince)
    .where((eb) => eb.or([eb('vm_manager_id', '=', p.vmManagerId), eb('connector_id', '=', p.reportedBy)])),
);

/** Whether the connector exists and is still associated. */
export async function isAssociated(db: Executor, connectorId: string): Promise<boolean> {
  const [row] = await rowsOf(db, associationOf(db, { connectorId }));
  return row !== undefined && row.disassociated_at === null;
}

/** The tenant's registered, associated connectors: the ones it sees. */
function associatedOf(db: Executor, tenant: Tenant) {
  return db.selectFrom('connectors').selectAll().where(inTenant(tenant)).where('registered_at', 'is not', null).where('disassociated_at', 'is', null);
}

const associationOf = compiledOnce('connectors.isAssociated', (db, p: { connectorId: string }) =>
  db.selectFrom('connectors').select(['disassociated_at']).where('connector_id', '=', p.connectorId),
);

/** A page of the tenant's registered, associated connectors in sequence after `after`. */
export function page(db: Executor, tenant: Tenant, after: number | undefined, limit: number): Promise<ConnectorRow[]> {
  let query = associatedOf(db, tenant).orderBy('seq', 'asc').limit(limit);
  if (after !== undefined) query = query.where('seq', '>', after);
  return query.execute();
}

/** All of the tenant's registered, associated connectors, in sequence. */
export function allAssociated(db: Executor, tenant: Tenant): Promise<ConnectorRow[]> {
  return associatedOf(db, tenant).orderBy('seq', 'asc').execute();
}

/** The tenant's registered, associated connector `connectorId`. */
export function associatedInTenant(db: Executor, tenant: Tenant, connectorId: string): Promise<ConnectorRow | undefined> {
  return associatedOf(db, tenant).where('connector_id', '=', connectorId).executeTakeFirst();
}

/** A job the connector's servers still have that is not over (PENDING, ACTIVE or PAUSED_ON_FAILURE), if any. */
export async function aLiveJobServedBy(db: Executor, connectorId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('jobs')
    .innerJoin('servers', 'servers.server_id', 'jobs.server_id')
    .select('jobs.replication_job_id')
    .where('servers.connector_id', '=', connectorId)
    .where('jobs.state', 'in', ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'])
    .limit(1)
    .executeTakeFirst();
  return row?.replication_job_id;
}

export async function disassociate(db: Executor, connectorId: string, now: number): Promise<void> {
  await db.updateTable('connectors').set({ disassociated_at: now }).where('connector_id', '=', connectorId).execute();
}

/** The connector reported its inventory at `now`. */
export async function markInventoried(db: Executor, connectorId: string, now: number): Promise<void> {
  await db.updateTable('connectors').set({ last_inventory_at: now }).where('connector_id', '=', connectorId).execute();
}

/**
 * A connector of the tenant an import still waits for, if any: registered, associated, heartbeating since
 * `heartbeatSince`, not reporting itself UNHEALTHY, and with no inventory since `since`.
 */
export async function anAwaitedReporter(db: Executor, tenant: Tenant, heartbeatSince: number, since: number): Promise<string | undefined> {
  const row = await db
    .selectFrom('connectors')
    .select('connector_id')
    .where(inTenant(tenant))
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .where('last_heartbeat_at', '>=', heartbeatSince)
    .where('reported_status', '!=', 'UNHEALTHY')
    .where((eb) => eb.or([eb('last_inventory_at', 'is', null), eb('last_inventory_at', '<', since)]))
    .limit(1)
    .executeTakeFirst();
  return row?.connector_id;
}

/** Whether any connector of the tenant reported an inventory at or after `since`. */
export async function anyInventorySince(db: Executor, tenant: Tenant, since: number): Promise<boolean> {
  const row = await db.selectFrom('connectors').select('connector_id').where(inTenant(tenant)).where('last_inventory_at', '>=', since).limit(1).executeTakeFirst();
  return row !== undefined;
}
