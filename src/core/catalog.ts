/** The server catalog: ImportServerCatalog, DeleteServerCatalog, GetServers, and connectors' inventory uploads. */
import type { VmServerAddress } from '@aws-sdk/client-sms';
import { ServiceError, invalidParameter, notPermitted } from '../lib/errors.ts';
import { newServerIds } from '../lib/ids.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import { type Tenant, tenantOf } from '../domain/tenant.ts';
import { hasHealthyConnectorFor } from './connectors.ts';
import type { ConnectorRow, ServerRow } from '../store/rows.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import type { FerryEvent } from './events.ts';
import * as catalog from '../store/catalog/index.ts';
import * as connectors from '../store/connectors/index.ts';
import * as jobs from '../store/jobs/index.ts';
import { INVENTORY_LIMITS, type InventoryEntry, type InventoryPages, type VmManagerRef } from '../domain/inventory.ts';

/** The tenant's catalog, its row locked where nodes share the store (catalog.stateForChange says why). */
const catalogForChange = (core: Core, tx: Tx, tenant: Tenant) => catalog.stateForChange(tx, tenant, core.capabilities.sharedByNodes === true);

export async function importCatalog(core: Core, tenant: Tenant): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const current = await catalogForChange(core, tx, tenant);
    if (current.status === 'IMPORTING') return; // a repeat call while importing is a no-op success
    if (!(await hasHealthyConnectorFor(tx, tenant, null, now, core.policy))) {
      throw new ServiceError('NoConnectorsAvailableException', 'No healthy connector is associated with this account and region.');
    }
    await catalog.saveState(tx, tenant, { ...current, status: 'IMPORTING', import_requested_at: now, status_before_import: current.status });
    emit({ type: 'catalog.state', tenant, status: 'IMPORTING' });
    emit({ type: 'schedule.changed' });
  });
}

export async function deleteCatalog(core: Core, tenant: Tenant): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    // A create checks the catalog's status and its server after taking the tenant's turn (core/jobs.ts createJobIn):
    // taking it here too, a create beside this deletion either commits first or reads the catalog DELETED. Without it
    // (PostgreSQL) a create that read AVAILABLE committed a job for a server the catalog had just dropped.
    if (core.capabilities.sharedByNodes) await jobs.takeTurnForNewJob(tx, tenant);
    const current = await catalogForChange(core, tx, tenant);
    if (current.status === 'IMPORTING') throw notPermitted('The server catalog is being imported; try again when the import has finished.');
    await catalog.removeTenantFromCatalog(tx, tenant, now);
    await catalog.saveState(tx, tenant, { status: 'DELETED', last_modified_on: now, import_requested_at: null, status_before_import: null });
    emit({ type: 'catalog.state', tenant, status: 'DELETED' });
  });
}


/**
 * VMs written per transaction. Each such commit takes a few milliseconds of CPU (measured: 250 VMs, 7 ms median and
 * 24 ms at most on this shared machine; 500 took twice that), and the service answers other requests between them:
 * a 50,000-VM inventory is two hundred short transactions, not one that holds the store for seconds.
 */
const INVENTORY_CHUNK = 250;
/** Server rows read per query when looking for VMs the connector no longer reports. */
const GONE_SCAN_PAGE = 2000;

/** One inventory at a time per connector: a retry that overlaps the first upload waits for it. */
const inventoriesInProgress = new Map<string, Promise<unknown>>();

/** Catalog imports accept inventories only while IMPORTING: the connector API checks before reading a large body. */
export async function requireCatalogImport(db: Tx | Core['db'], tenant: Tenant): Promise<void> {
  requireImporting(await catalog.stateOf(db, tenant));
}

function requireImporting({ status }: catalog.CatalogState): void {
  if (status !== 'IMPORTING') {
    throw notPermitted(`No catalog import is in progress (the catalog is ${status}); inventory is accepted only during ImportServerCatalog.`);
  }
}

/**
 * A connector's VM list. Server ids stay stable per (vmManagerId, vmId) across re-imports; VMs the connector no
 * longer reports leave the catalog. The import completes when every healthy connector has reported since it began.
 *
 * The list is written in chunks of INVENTORY_CHUNK VMs, each its own (unsynced) transaction, and the connector's
 * report only counts (last_inventory_at, the catalog's status) in the last, synced one. A crash in between leaves
 * servers written and the import still waiting for this connector, which uploads again; writing the same VMs
 * twice changes nothing. Meanwhile GetServers may show a re-import's new VMs before the import finishes.
 */
export async function applyInventory(
  core: Core,
  connector: ConnectorRow,
  vms: readonly InventoryEntry[] | InventoryPages,
): Promise<{ status: string; servers: number }> {
  const count = 'pages' in vms ? vms.count : vms.length;
  if (count > INVENTORY_LIMITS.vmsPerConnector) {
    throw invalidParameter(`An inventory may list at most ${INVENTORY_LIMITS.vmsPerConnector} VMs per connector; got ${count}.`);
  }
  const previous = inventoriesInProgress.get(connector.connector_id) ?? Promise.resolve();
  const turn = previous.catch(() => undefined).then(() => writeInventory(core, connector, vms));
  inventoriesInProgress.set(connector.connector_id, turn);
  try {
    return await turn;
  } finally {
    if (inventoriesInProgress.get(connector.connector_id) === turn) inventoriesInProgress.delete(connector.connector_id);
  }
}

const vmKey = (vmManagerId: string, vmId: string) => `${vmManagerId}\u0000${vmId}`;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function* pagesOf(vms: readonly InventoryEntry[]): AsyncIterable<readonly InventoryEntry[]> {
  for (let i = 0; i < vms.length; i += INVENTORY_CHUNK) yield vms.slice(i, i + INVENTORY_CHUNK);
}

async function writeInventory(
  core: Core,
  connector: ConnectorRow,
  vms: readonly InventoryEntry[] | InventoryPages,
): Promise<{ status: string; servers: number }> {
  const now = core.clock.now();
  const tenant = tenantOf(connector);
  await requireCatalogImport(core.db, tenant);
  const seen = new Set<string>();
  for await (const page of 'pages' in vms ? vms.pages : pagesOf(vms)) {
    const rows: catalog.ReportedServer[] = [];
    for (const vm of page) {
      const manager = vm.manager ?? {
        vmManagerId: connector.vm_manager_id!,
        vmManagerName: connector.vm_manager_name!,
        vmManagerType: connector.vm_manager_type!,
      };
      // The first report of a (vmManagerId, vmId) wins.
      const key = vmKey(manager.vmManagerId, vm.vmId);
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push(serverFields(vm, manager, connector, now));
    }
    // Unsynced: nothing counts until the last, synced commit, which makes these durable with it (WAL order).
    for (let i = 0; i < rows.length; i += INVENTORY_CHUNK) {
      const chunk = rows.slice(i, i + INVENTORY_CHUNK);
      await inTransaction(
        core,
        async (tx) => {
          await requireCatalogImport(tx, tenant);
          await catalog.upsertReported(tx, tenant, chunk, await freshIds(tx, chunk.length));
        },
        { synced: false },
      );
      await nextTurn();
    }
  }
  const gone = await serversNoLongerReported(core, tenant, connector, seen);
  for (let i = 0; i < gone.length; i += INVENTORY_CHUNK) {
    const ids = gone.slice(i, i + INVENTORY_CHUNK);
    await inTransaction(core, (tx) => catalog.removeFromCatalog(tx, ids, now), { synced: false });
    await nextTurn();
  }
  return inTransaction(core, async (tx, emit) => {
    // The catalog's row first (locked where nodes share the store): the connector whose report commits second must
    // read the first one's mark, or each leaves the other awaited and the import never finishes.
    const current = await catalogForChange(core, tx, tenant);
    requireImporting(current);
    await connectors.markInventoried(tx, connector.connector_id, now);
    const awaited = await connectors.anAwaitedReporter(tx, tenant, now - core.policy.connectorHeartbeatTimeoutMs, current.import_requested_at ?? now);
    const status = awaited === undefined ? 'AVAILABLE' : 'IMPORTING';
    if (status === 'AVAILABLE') await finishImport(tx, tenant, now, emit);
    return { status, servers: seen.size };
  });
}

function serverFields(vm: InventoryEntry, manager: VmManagerRef, connector: ConnectorRow, now: number): catalog.ReportedServer {
  return {
    vm_manager_id: manager.vmManagerId,
    vm_id: vm.vmId,
    connector_id: connector.connector_id,
    vm_manager_name: manager.vmManagerName,
    vm_manager_type: manager.vmManagerType,
    vm_name: vm.vmName,
    vm_path: vm.vmPath,
    replicable: vm.replicable ? 1 : 0,
    unsupported_reason: vm.replicable ? null : (vm.reason ?? 'The connector cannot replicate this VM.'),
    in_catalog: 1,
    details: vm.detailsJson ?? (vm.details === undefined ? null : JSON.stringify(vm.details)),
    updated_at: now,
  };
}

/** `count` server ids no server has (see uniqueId.ts: 8 hex digits collide at scale). */
async function freshIds(tx: Tx, count: number): Promise<string[]> {
  const ids = new Set<string>();
  while (ids.size < count) {
    const candidates = newServerIds(count - ids.size).filter((id) => !ids.has(id));
    const taken = await catalog.takenIds(tx, candidates);
    for (const id of candidates) if (!taken.has(id)) ids.add(id);
  }
  return [...ids];
}

/** Catalog servers this connector (or its VM manager) reported before and did not report now. */
async function serversNoLongerReported(core: Core, tenant: Tenant, connector: ConnectorRow, seen: Set<string>): Promise<string[]> {
  const gone: string[] = [];
  for (let after = 0; ; ) {
    const page = await catalog.servedPage(core.db, tenant, connector, after, GONE_SCAN_PAGE);
    for (const server of page) if (!seen.has(vmKey(server.vm_manager_id, server.vm_id))) gone.push(server.server_id);
    if (page.length < GONE_SCAN_PAGE) return gone;
    after = page[page.length - 1]!.seq;
    await nextTurn();
  }
}

async function finishImport(tx: Tx, tenant: Tenant, now: number, emit: (e: FerryEvent) => void): Promise<void> {
  await catalog.saveState(tx, tenant, { status: 'AVAILABLE', last_modified_on: now, import_requested_at: null, status_before_import: null });
  emit({ type: 'catalog.state', tenant, status: 'AVAILABLE' });
}

/**
 * Scheduler step: an import that has waited `catalogImportTimeoutMs` finishes with what arrived (AVAILABLE if any
 * connector reported) or falls back to the catalog's previous status.
 */
export async function expireCatalogImports(core: Core, now: number): Promise<void> {
  const stale = await catalog.importsRequestedBy(core.db, now - core.policy.catalogImportTimeoutMs);
  for (const row of stale) {
    const tenant = tenantOf(row);
    await inTransaction(core, async (tx, emit) => {
      // Read again, under the lock: a connector's report may have finished (or a new import begun) since the scan.
      const current = await catalogForChange(core, tx, tenant);
      if (current.status !== 'IMPORTING' || Number(current.import_requested_at) !== Number(row.import_requested_at)) return;
      if (await connectors.anyInventorySince(tx, tenant, row.import_requested_at ?? now)) return finishImport(tx, tenant, now, emit);
      const fallback = row.status_before_import ?? 'NOT_IMPORTED';
      core.log.warn({ tenant, fallback }, 'catalog import timed out: no connector reported its inventory');
      await catalog.saveState(tx, tenant, { status: fallback, last_modified_on: row.last_modified_on, import_requested_at: null, status_before_import: null });
      emit({ type: 'catalog.state', tenant, status: fallback });
    });
  }
}

export async function nextCatalogDeadline(core: Core): Promise<number | null> {
  const oldest = await catalog.oldestImportRequest(core.db);
  return oldest === null ? null : oldest + core.policy.catalogImportTimeoutMs;
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
): Promise<{ status: string; lastModifiedAt: number | null; servers: ServerRow[]; nextToken?: string }> {
  const filters = input.vmServerAddressList ?? [];
  if (filters.length > MAX_VM_SERVER_ADDRESS_FILTERS) {
    throw invalidParameter(`vmServerAddressList may hold at most ${MAX_VM_SERVER_ADDRESS_FILTERS} entries; got ${filters.length}.`);
  }
  const cursor = openCursor(input, fingerprintOf('GetServers', tenant, filters));
  const current = await catalog.stateOf(core.db, tenant);
  const lastModifiedAt = current.last_modified_on;
  // During a re-import the previous list stays visible; during a first import there is nothing to show yet.
  const visible = current.status === 'AVAILABLE' || (current.status === 'IMPORTING' && current.status_before_import === 'AVAILABLE');
  if (!visible) return { status: current.status, lastModifiedAt, servers: [] };
  const servers = await catalog.catalogPage(core.db, tenant, { after: cursor.after, limit: cursor.limit + 1, filters });
  const page = closePage(servers, cursor);
  return { status: current.status, lastModifiedAt, servers: page.items, nextToken: page.nextToken };
}
