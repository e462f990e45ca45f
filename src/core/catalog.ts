/** The server catalog: ImportServerCatalog, DeleteServerCatalog, GetServers, and connectors' inventory uploads. */
import type { VmServerAddress } from '@aws-sdk/client-sms';
import { ServiceError, invalidParameter, notPermitted } from '../lib/errors.ts';
import { newServerIds } from '../lib/ids.ts';
import { inTransaction, type Core, type Tx } from './context.ts';
import type { Tenant } from '../domain/tenant.ts';
import { hasHealthyConnectorFor } from './connectors.ts';
import type { ConnectorRow, ServerRow } from '../store/rows.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from './paginate.ts';
import type { FerryEvent } from './events.ts';
import type { Database } from '../store/schema.ts';
import { INVENTORY_LIMITS, type InventoryEntry, type InventoryPages, type VmManagerRef } from '../domain/inventory.ts';

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
  const catalog = await readCatalog(db, tenant);
  if (catalog.status !== 'IMPORTING') {
    throw notPermitted(`No catalog import is in progress (the catalog is ${catalog.status}); inventory is accepted only during ImportServerCatalog.`);
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
  const tenant = { accountId: connector.account_id, region: connector.region };
  await requireCatalogImport(core.db, tenant);
  const seen = new Set<string>();
  for await (const page of 'pages' in vms ? vms.pages : pagesOf(vms)) {
    const rows: ServerFields[] = [];
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
          await upsertServers(tx, tenant, chunk);
        },
        { synced: false },
      );
      await nextTurn();
    }
  }
  const gone = await serversNoLongerReported(core, tenant, connector, seen);
  for (let i = 0; i < gone.length; i += INVENTORY_CHUNK) {
    const ids = gone.slice(i, i + INVENTORY_CHUNK);
    await inTransaction(core, (tx) => tx.updateTable('servers').set({ in_catalog: 0, updated_at: now }).where('server_id', 'in', ids).execute(), { synced: false });
    await nextTurn();
  }
  return inTransaction(core, async (tx, emit) => {
    await requireCatalogImport(tx, tenant);
    const catalog = await readCatalog(tx, tenant);
    await tx.updateTable('connectors').set({ last_inventory_at: now }).where('connector_id', '=', connector.connector_id).execute();
    const status = (await everyHealthyConnectorReported(tx, core, tenant, catalog.import_requested_at ?? now, now)) ? 'AVAILABLE' : 'IMPORTING';
    if (status === 'AVAILABLE') await finishImport(tx, tenant, now, emit);
    return { status, servers: seen.size };
  });
}

type ServerFields = Omit<Database['servers'], 'seq' | 'server_id' | 'account_id' | 'region' | 'replication_job_id' | 'replication_job_terminated'>;

function serverFields(vm: InventoryEntry, manager: VmManagerRef, connector: ConnectorRow, now: number): ServerFields {
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

/**
 * Writes one chunk of reported VMs: one statement that inserts new servers and updates the ones the catalog knows
 * (by their (vmManagerId, vmId), so their server ids stay). New ids are drawn fresh against the table first.
 */
async function upsertServers(tx: Tx, tenant: Tenant, rows: ServerFields[]): Promise<void> {
  if (rows.length === 0) return;
  const ids = await freshIds(tx, rows.length);
  await tx
    .insertInto('servers')
    .values(
      rows.map((row, i) => ({
        ...row,
        server_id: ids[i]!,
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

/** `count` server ids no server has (see uniqueId.ts: 8 hex digits collide at scale). */
async function freshIds(tx: Tx, count: number): Promise<string[]> {
  const ids = new Set<string>();
  while (ids.size < count) {
    const candidates = newServerIds(count - ids.size).filter((id) => !ids.has(id));
    const taken = new Set((await tx.selectFrom('servers').select('server_id').where('server_id', 'in', candidates).execute()).map((r) => r.server_id));
    for (const id of candidates) if (!taken.has(id)) ids.add(id);
  }
  return [...ids];
}

/** Catalog servers this connector (or its VM manager) reported before and did not report now. */
async function serversNoLongerReported(core: Core, tenant: Tenant, connector: ConnectorRow, seen: Set<string>): Promise<string[]> {
  const gone: string[] = [];
  for (let after = 0; ; ) {
    const page = await core.db
      .selectFrom('servers')
      .select(['seq', 'server_id', 'vm_id', 'vm_manager_id'])
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .where('in_catalog', '=', 1)
      .where('seq', '>', after)
      .where((eb) => eb.or([eb('connector_id', '=', connector.connector_id), eb('vm_manager_id', '=', connector.vm_manager_id ?? '')]))
      .orderBy('seq')
      .limit(GONE_SCAN_PAGE)
      .execute();
    for (const server of page) if (!seen.has(vmKey(server.vm_manager_id, server.vm_id))) gone.push(server.server_id);
    if (page.length < GONE_SCAN_PAGE) return gone;
    after = page[page.length - 1]!.seq;
    await nextTurn();
  }
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
): Promise<{ status: string; lastModifiedAt: number | null; servers: ServerRow[]; nextToken?: string }> {
  const filters = input.vmServerAddressList ?? [];
  if (filters.length > MAX_VM_SERVER_ADDRESS_FILTERS) {
    throw invalidParameter(`vmServerAddressList may hold at most ${MAX_VM_SERVER_ADDRESS_FILTERS} entries; got ${filters.length}.`);
  }
  const cursor = openCursor(input, fingerprintOf('GetServers', tenant, filters));
  const catalog = await readCatalog(core.db, tenant);
  const lastModifiedAt = catalog.last_modified_on;
  // During a re-import the previous list stays visible; during a first import there is nothing to show yet.
  const visible = catalog.status === 'AVAILABLE' || (catalog.status === 'IMPORTING' && catalog.status_before_import === 'AVAILABLE');
  if (!visible) return { status: catalog.status, lastModifiedAt, servers: [] };
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
  return { status: catalog.status, lastModifiedAt, servers: page.items, nextToken: page.nextToken };
}
