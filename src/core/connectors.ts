/** Connectors: issuing their tokens, registration, heartbeats and health, GetConnectors, DisassociateConnector. */
import { createHash } from 'node:crypto';
import { invalidParameter, notPermitted } from '../lib/errors.ts';
import { newConnectorId, newConnectorToken } from '../lib/ids.ts';
import type { Policy } from '../domain/policy.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import type { Tenant } from '../domain/tenant.ts';
import { connectorStatus } from '../domain/connectorHealth.ts';
import type { ConnectorRow, ServerRow } from '../store/rows.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { hasDueRun } from './runs.ts';
import type { Registration } from '../domain/connectorCalls.ts';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** `ferry connectors register`: a connector identity and the one-time display of its token. */
export async function issueConnector(core: Core, tenant: Tenant, label: string | null): Promise<{ connectorId: string; token: string }> {
  const connectorId = newConnectorId();
  const token = newConnectorToken();
  await core.db
    .insertInto('connectors')
    .values({
      connector_id: connectorId,
      account_id: tenant.accountId,
      region: tenant.region,
      token_hash: hashToken(token),
      label,
      created_at: core.clock.now(),
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
  return { connectorId, token };
}

/** The connector a bearer token belongs to; disassociated connectors' tokens no longer work. */
export async function connectorForToken(core: Core, token: string): Promise<ConnectorRow | undefined> {
  return core.db
    .selectFrom('connectors')
    .selectAll()
    .where('token_hash', '=', hashToken(token))
    .where('disassociated_at', 'is', null)
    .executeTakeFirst();
}

export async function registerConnector(core: Core, connector: ConnectorRow, reg: Registration): Promise<void> {
  const now = core.clock.now();
  await core.db
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
  core.events.publish({ type: 'schedule.changed' });
}

export async function recordHeartbeat(
  core: Core,
  connector: ConnectorRow,
  report: { status?: 'HEALTHY' | 'UNHEALTHY'; message?: string },
): Promise<{ catalogImportRequested: boolean; runsWaiting: boolean }> {
  const now = core.clock.now();
  // Unsynced: a heartbeat lost to a power loss is simply the next one (connectors heartbeat every few seconds).
  await unsyncedTransaction(core.db, (tx) =>
    tx
      .updateTable('connectors')
      .set({ last_heartbeat_at: now, reported_status: report.status ?? 'HEALTHY', status_message: report.message ?? null })
      .where('connector_id', '=', connector.connector_id)
      .execute(),
  );
  const catalog = await core.db
    .selectFrom('catalogs')
    .select(['status', 'import_requested_at'])
    .where('account_id', '=', connector.account_id)
    .where('region', '=', connector.region)
    .executeTakeFirst();
  const catalogImportRequested =
    catalog?.status === 'IMPORTING' &&
    (connector.last_inventory_at === null || connector.last_inventory_at < (catalog.import_requested_at ?? 0));
  // The claim's own rule: a connector told runs are waiting finds one when it claims.
  return { catalogImportRequested, runsWaiting: await hasDueRun(core, connector, now) };
}

/**
 * Whether a healthy connector can serve VMs of `vmManagerId` (null: any VM manager) — one registered with that
 * manager, or `reportedBy`, the connector that reported the server.
 */
export async function hasHealthyConnectorFor(
  tx: Tx,
  tenant: Tenant,
  vmManagerId: string | null,
  now: number,
  policy: Policy,
  reportedBy?: string,
): Promise<boolean> {
  let query = tx
    .selectFrom('connectors')
    .selectAll()
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .where('last_heartbeat_at', '>=', now - policy.connectorHeartbeatTimeoutMs);
  if (vmManagerId !== null) {
    query = query.where((eb) =>
      eb.or([eb('vm_manager_id', '=', vmManagerId), eb('connector_id', '=', reportedBy ?? '')]),
    );
  }
  const rows = await query.execute();
  return rows.some((row) => connectorStatus(row, now, policy) === 'HEALTHY');
}

/** Why a server cannot be replicated, or null when it can. */
export async function serverReplicability(tx: Tx, server: ServerRow): Promise<string | null> {
  if (server.replicable !== 1) return server.unsupported_reason ?? 'the connector reported it as not replicable.';
  const connector = await tx
    .selectFrom('connectors')
    .select(['disassociated_at'])
    .where('connector_id', '=', server.connector_id)
    .executeTakeFirst();
  if (!connector || connector.disassociated_at !== null) {
    return `its connector ${server.connector_id} was disassociated; re-import the catalog through an associated connector.`;
  }
  return null;
}

export async function listConnectors(
  core: Core,
  tenant: Tenant,
  input: PageRequest,
): Promise<{ connectors: ConnectorRow[]; nextToken?: string }> {
  const cursor = openCursor(input, fingerprintOf('GetConnectors', tenant));
  let query = core.db
    .selectFrom('connectors')
    .selectAll()
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .orderBy('seq', 'asc')
    .limit(cursor.limit + 1);
  if (cursor.after !== undefined) query = query.where('seq', '>', cursor.after);
  const page = closePage(await query.execute(), cursor);
  return { connectors: page.items, nextToken: page.nextToken };
}

export async function disassociateConnector(core: Core, tenant: Tenant, connectorId: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const connector = await tx
      .selectFrom('connectors')
      .selectAll()
      .where('connector_id', '=', connectorId)
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .where('registered_at', 'is not', null)
      .where('disassociated_at', 'is', null)
      .executeTakeFirst();
    if (!connector) throw invalidParameter(`Connector ${connectorId} does not exist or is not associated.`);
    const serving = await tx
      .selectFrom('jobs')
      .innerJoin('servers', 'servers.server_id', 'jobs.server_id')
      .select('jobs.replication_job_id')
      .where('servers.connector_id', '=', connectorId)
      .where('jobs.state', 'in', ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE'])
      .limit(1)
      .executeTakeFirst();
    if (serving) {
      throw notPermitted(
        `Connector ${connectorId} still serves replication job ${serving.replication_job_id}; delete or finish its jobs first.`,
      );
    }
    await tx.updateTable('connectors').set({ disassociated_at: now }).where('connector_id', '=', connectorId).execute();
    emit({ type: 'schedule.changed' });
  });
}

