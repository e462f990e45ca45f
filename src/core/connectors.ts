/** Connectors: issuing their tokens, registration, heartbeats and health, GetConnectors, DisassociateConnector. */
import { createHash } from 'node:crypto';
import { invalidParameter, notPermitted } from '../lib/errors.ts';
import { newConnectorId, newConnectorToken } from '../lib/ids.ts';
import type { Policy } from '../domain/policy.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import { type Tenant, tenantOf } from '../domain/tenant.ts';
import { connectorStatus } from '../domain/connectorHealth.ts';
import type { ConnectorRow, ServerRow } from '../store/rows.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { hasDueRun } from './runs.ts';
import type { Registration } from '../domain/connectorCalls.ts';
import * as connectors from '../store/connectors/index.ts';
import * as catalogStore from '../store/catalog/index.ts';

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** `ferry connectors register`: a connector identity and the one-time display of its token. */
export async function issueConnector(core: Core, tenant: Tenant, label: string | null): Promise<{ connectorId: string; token: string }> {
  const connectorId = newConnectorId();
  const token = newConnectorToken();
  await connectors.insertIssued(core.db, { ...tenant, connectorId, tokenHash: hashToken(token), label, now: core.clock.now() });
  return { connectorId, token };
}

/** The connector a bearer token belongs to; disassociated connectors' tokens no longer work. */
export async function connectorForToken(core: Core, token: string): Promise<ConnectorRow | undefined> {
  return connectors.byTokenHash(core.db, hashToken(token));
}

export async function registerConnector(core: Core, connector: ConnectorRow, reg: Registration): Promise<void> {
  const now = core.clock.now();
  await connectors.register(core.db, connector, reg, now);
  core.events.publish({ type: 'schedule.changed' });
}

export async function recordHeartbeat(
  core: Core,
  connector: ConnectorRow,
  report: { status?: 'HEALTHY' | 'UNHEALTHY'; message?: string },
): Promise<{ catalogImportRequested: boolean; runsWaiting: boolean }> {
  const now = core.clock.now();
  // Unsynced: a heartbeat lost to a power loss is simply the next one (connectors heartbeat every few seconds).
  await unsyncedTransaction(core.db, (tx) => connectors.heartbeat(tx, connector.connector_id, { status: report.status ?? 'HEALTHY', message: report.message ?? null }, now));
  const catalog = await catalogStore.importState(core.db, tenantOf(connector));
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
  const rows = await connectors.recentlySeen(tx, tenant, now - policy.connectorHeartbeatTimeoutMs, vmManagerId, reportedBy);
  return rows.some((row) => connectorStatus(row, now, policy) === 'HEALTHY');
}

/** Why a server cannot be replicated, or null when it can. */
export async function serverReplicability(tx: Tx, server: ServerRow): Promise<string | null> {
  if (server.replicable !== 1) return replicabilityOf(server, true);
  return replicabilityOf(server, await connectors.isAssociated(tx, server.connector_id));
}

/** serverReplicability's rule, given whether the server's connector exists and is still associated. */
export function replicabilityOf(server: ServerRow, connectorAssociated: boolean): string | null {
  if (server.replicable !== 1) return server.unsupported_reason ?? 'the connector reported it as not replicable.';
  if (!connectorAssociated) {
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
  const page = closePage(await connectors.page(core.db, tenant, cursor.after, cursor.limit + 1), cursor);
  return { connectors: page.items, nextToken: page.nextToken };
}

export async function disassociateConnector(core: Core, tenant: Tenant, connectorId: string): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const connector = await connectors.associatedInTenant(tx, tenant, connectorId);
    if (!connector) throw invalidParameter(`Connector ${connectorId} does not exist or is not associated.`);
    const serving = await connectors.aLiveJobServedBy(tx, connectorId);
    if (serving) {
      throw notPermitted(
        `Connector ${connectorId} still serves replication job ${serving}; delete or finish its jobs first.`,
      );
    }
    await connectors.disassociate(tx, connectorId, now);
    emit({ type: 'schedule.changed' });
  });
}

