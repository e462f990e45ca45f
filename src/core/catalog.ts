/** The server catalog: ImportServerCatalog, DeleteServerCatalog, GetServers, and connectors' inventory uploads. */
import type { Server, VmServerAddress } from '@aws-sdk/client-sms';
import { ServiceError, invalidParameter, notPermitted } from '../lib/errors.ts';
import { newServerId } from '../lib/ids.ts';
import { freshId } from './uniqueId.ts';
import { epochDate } from '../protocol/awsJson.ts';
import { inTransaction, type Core, type Tenant, type Tx } from './context.ts';
import { hasHealthyConnectorFor } from './connectors.ts';
import { toServer, type ConnectorRow } from './mappers.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import type { FerryEvent } from './events.ts';

interface CatalogRow {
  status: string;
  last_modified_on: number | null;
  import_requested_at: number | null;
  status_before_import: string | null;
}

async function readCatalog(tx: Tx | Core['db'], tenant: Tenant): Promise<CatalogRow> {
  const row = await tx
    .selectFrom('catalogs')
    .select(['status', 'last_modified_on', 'import_requested_at', 'status_before_import'])
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .executeTakeFirst();
  return row ?? { status: 'NOT_IMPORTED', last_modified_on: null, import_requested_at: null, status_before_import: null };
}

async function writeCatalog(tx: Tx, tenant: Tenant, row: CatalogRow): Promise<void> {
  await tx
    .insertInto('catalogs')
    .values({ account_id: tenant.accountId, region: tenant.region, ...row })
    .onConflict((oc) => oc.columns(['account_id', 'region']).doUpdateSet(row))
    .execute();
}

export async function importCatalog(core: Core, tenant: Tenant): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const catalog = await readCatalog(tx, tenant);
    if (catalog.status === 'IMPORTING') return; // a repeat call while importing is a no-op success
    if (!(await hasHealthyConnectorFor(tx, tenant, null, now, core.policy))) {
      throw new ServiceError('NoConnectorsAvailableException', 'No healthy connector is associated with this account and region.');
    }
    await writeCatalog(tx, tenant, { ...catalog, status: 'IMPORTING', import_requested_at: now, status_before_import: catalog.status });
    emit({ type: 'catalog.state', tenant, status: 'IMPORTING' });
    emit({ type: 'schedule.changed' });
  });
}

export async function deleteCatalog(core: Core, tenant: Tenant): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const catalog = await readCatalog(tx, tenant);
    if (catalog.status === 'IMPORTING') throw notPermitted('The server catalog is being imported; try again when the import has finished.');
    await tx
      .updateTable('servers')
      .set({ in_catalog: 0, updated_at: now })
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .execute();
    await writeCatalog(tx, tenant, { status: 'DELETED', last_modified_on: now, import_requested_at: null, status_before_import: null });
    emit({ type: 'catalog.state', tenant, status: 'DELETED' });
  });
}

export interface VmManagerRef {
  vmManagerId: string;
  vmManagerName: string;
  vmManagerType: string;
}

export interface InventoryEntry {
  /** The VM manager the VM belongs to, when a connector serves several (default: the one it registered with). */
  manager?: VmManagerRef;
  vmId: string;
  vmName: string;
  vmPath: string;
  replicable: boolean;
  reason?: string;
  details?: unknown;
}

/**
 * A connector's VM list. Server ids stay stable per (vmManagerId, vmId) across re-imports; VMs the connector no
 * longer reports leave the catalog. The import completes when every healthy connector has reported since it began.
 */
export async function applyInventory(core: Core, connector: ConnectorRow, vms: InventoryEntry[]): Promise<{ status: string; servers: number }> {
  const now = core.clock.now();
  const tenant = { accountId: connector.account_id, region: connector.region };
  return inTransaction(core, async (tx, emit) => {
    const catalog = await readCatalog(tx, tenant);
    if (catalog.status !== 'IMPORTING') {
      throw notPermitted(`No catalog import is in progress (the catalog is ${catalog.status}); inventory is accepted only during ImportServerCatalog.`);
    }
    const previous = await tx
      .selectFrom('servers')
      .select(['server_id', 'vm_id', 'vm_manager_id', 'connector_id', 'in_catalog'])
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .where((eb) => eb.or([eb('connector_id', '=', connector.connector_id), eb('vm_manager_id', '=', connector.vm_manager_id ?? '')]))
      .execute();
    const key = (vmManagerId: string, vmId: string) => `${vmManagerId}\u0000${vmId}`;
    const seen = new Set<string>();
    for (const vm of vms) {
      const manager = vm.manager ?? {
        vmManagerId: connector.vm_manager_id!,
        vmManagerName: connector.vm_manager_name!,
        vmManagerType: connector.vm_manager_type!,
      };
      const vmKey = key(manager.vmManagerId, vm.vmId);
      if (seen.has(vmKey)) continue;
      seen.add(vmKey);
      const fields = {
        connector_id: connector.connector_id,
        vm_manager_name: manager.vmManagerName,
        vm_manager_type: manager.vmManagerType,
        vm_name: vm.vmName,
        vm_path: vm.vmPath,
        replicable: vm.replicable ? 1 : 0,
        unsupported_reason: vm.replicable ? null : (vm.reason ?? 'The connector cannot replicate this VM.'),
        in_catalog: 1,
        details: vm.details === undefined ? null : JSON.stringify(vm.details),
        updated_at: now,
      };
      // Server ids are stable per (vmManagerId, vmId) in the tenant, whichever connector reports the VM.
      const existing = await tx
        .selectFrom('servers')
        .select('server_id')
        .where('account_id', '=', tenant.accountId)
        .where('region', '=', tenant.region)
        .where('vm_manager_id', '=', manager.vmManagerId)
        .where('vm_id', '=', vm.vmId)
        .executeTakeFirst();
      if (existing) {
        await tx.updateTable('servers').set(fields).where('server_id', '=', existing.server_id).execute();
      } else {
        await tx
          .insertInto('servers')
          .values({
            server_id: await freshId(tx, 'servers', 'server_id', newServerId),
            account_id: tenant.accountId,
            region: tenant.region,
            vm_manager_id: manager.vmManagerId,
            vm_id: vm.vmId,
            replication_job_id: null,
            replication_job_terminated: null,
            ...fields,
          })
          .execute();
      }
    }
    const gone = previous.filter((s) => s.in_catalog === 1 && !seen.has(key(s.vm_manager_id, s.vm_id))).map((s) => s.server_id);
    if (gone.length) {
      await tx.updateTable('servers').set({ in_catalog: 0, updated_at: now }).where('server_id', 'in', gone).execute();
    }
    await tx.updateTable('connectors').set({ last_inventory_at: now }).where('connector_id', '=', connector.connector_id).execute();

    const status = (await everyHealthyConnectorReported(tx, core, tenant, catalog.import_requested_at ?? now, now)) ? 'AVAILABLE' : 'IMPORTING';
    if (status === 'AVAILABLE') await finishImport(tx, tenant, now, emit);
    return { status, servers: seen.size };
  });
}

async function everyHealthyConnectorReported(tx: Tx, core: Core, tenant: Tenant, since: number, now: number): Promise<boolean> {
  const pending = await tx
    .selectFrom('connectors')
    .select('connector_id')
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('registered_at', 'is not', null)
    .where('disassociated_at', 'is', null)
    .where('last_heartbeat_at', '>=', now - core.policy.connectorHeartbeatTimeoutMs)
    .where('reported_status', '!=', 'UNHEALTHY')
    .where((eb) => eb.or([eb('last_inventory_at', 'is', null), eb('last_inventory_at', '<', since)]))
    .limit(1)
    .executeTakeFirst();
  return pending === undefined;
}

async function finishImport(tx: Tx, tenant: Tenant, now: number, emit: (e: FerryEvent) => void): Promise<void> {
  await writeCatalog(tx, tenant, { status: 'AVAILABLE', last_modified_on: now, import_requested_at: null, status_before_import: null });
  emit({ type: 'catalog.state', tenant, status: 'AVAILABLE' });
}

/**
 * Scheduler step: an import that has waited `catalogImportTimeoutMs` finishes with what arrived (AVAILABLE if any
 * connector reported) or falls back to the catalog's previous status.
 */
export async function expireCatalogImports(core: Core, now: number): Promise<void> {
  const stale = await core.db
    .selectFrom('catalogs')
    .selectAll()
    .where('status', '=', 'IMPORTING')
    .where('import_requested_at', '<=', now - core.policy.catalogImportTimeoutMs)
    .execute();
  for (const row of stale) {
    const tenant = { accountId: row.account_id, region: row.region };
    await inTransaction(core, async (tx, emit) => {
      const reported = await tx
        .selectFrom('connectors')
        .select('connector_id')
        .where('account_id', '=', tenant.accountId)
        .where('region', '=', tenant.region)
        .where('last_inventory_at', '>=', row.import_requested_at ?? now)
        .limit(1)
        .executeTakeFirst();
      if (reported) return finishImport(tx, tenant, now, emit);
      const fallback = row.status_before_import ?? 'NOT_IMPORTED';
      core.log.warn({ tenant, fallback }, 'catalog import timed out: no connector reported its inventory');
      await writeCatalog(tx, tenant, { status: fallback, last_modified_on: row.last_modified_on, import_requested_at: null, status_before_import: null });
      emit({ type: 'catalog.state', tenant, status: fallback });
    });
  }
}

export async function nextCatalogDeadline(core: Core): Promise<number | null> {
  const row = await core.db
    .selectFrom('catalogs')
    .select((eb) => eb.fn.min('import_requested_at').as('t'))
    .where('status', '=', 'IMPORTING')
    .executeTakeFirst();
  return row?.t == null ? null : Number(row.t) + core.policy.catalogImportTimeoutMs;
}

/**
 * Longest GetServers vmServerAddressList accepted [I] (the model sets none). Each entry becomes one OR term and SQLite
 * nests `a OR b OR …` one level per term up to a depth of 1000, so a longer list would fail the query with a 500.
 */
export const MAX_VM_SERVER_ADDRESS_FILTERS = 500;

export async function listServers(
  core: Core,
  tenant: Tenant,
  input: PageRequest & { vmServerAddressList?: VmServerAddress[] },
): Promise<{ serverCatalogStatus: string; lastModifiedOn?: Date; serverList: Server[]; nextToken?: string }> {
  const filters = input.vmServerAddressList ?? [];
  if (filters.length > MAX_VM_SERVER_ADDRESS_FILTERS) {
    throw invalidParameter(`vmServerAddressList may hold at most ${MAX_VM_SERVER_ADDRESS_FILTERS} entries; got ${filters.length}.`);
  }
  const cursor = openCursor(input, fingerprintOf('GetServers', tenant, filters));
  const catalog = await readCatalog(core.db, tenant);
  const lastModifiedOn = catalog.last_modified_on === null ? undefined : epochDate(catalog.last_modified_on);
  // During a re-import the previous list stays visible; during a first import there is nothing to show yet.
  const visible = catalog.status === 'AVAILABLE' || (catalog.status === 'IMPORTING' && catalog.status_before_import === 'AVAILABLE');
  if (!visible) return { serverCatalogStatus: catalog.status, lastModifiedOn, serverList: [] };
  let query = core.db
    .selectFrom('servers')
    .selectAll()
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .where('in_catalog', '=', 1)
    .orderBy('seq', 'asc')
    .limit(cursor.limit + 1);
  if (cursor.after !== undefined) query = query.where('seq', '>', cursor.after);
  if (filters.length) {
    query = query.where((eb) =>
      eb.or(
        filters.map((f) => {
          const parts = [];
          if (f.vmManagerId !== undefined) parts.push(eb('vm_manager_id', '=', f.vmManagerId));
          if (f.vmId !== undefined) parts.push(eb('vm_id', '=', f.vmId));
          return parts.length ? eb.and(parts) : eb.lit(true);
        }),
      ),
    );
  }
  const page = closePage(await query.execute(), cursor);
  return { serverCatalogStatus: catalog.status, lastModifiedOn, serverList: page.items.map(toServer), nextToken: page.nextToken };
}
