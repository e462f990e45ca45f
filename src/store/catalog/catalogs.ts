/** Each tenant's catalog: its status, when it last changed, and the import in progress. */
import type { Tenant } from '../../domain/tenant.ts';
import type { Executor } from '../executor.ts';
import { inTenant } from '../tenancy.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

export interface CatalogState {
  status: string;
  last_modified_on: number | null;
  import_requested_at: number | null;
  /** What the catalog was before an import started, so a timed-out import can fall back to it. */
  status_before_import: string | null;
}

/** A catalog that is being imported, with its tenant. */
export type ImportingCatalog = CatalogState & { account_id: string; region: string };

export const NEVER_IMPORTED: CatalogState = { status: 'NOT_IMPORTED', last_modified_on: null, import_requested_at: null, status_before_import: null };

/** The tenant's catalog (NOT_IMPORTED, with nothing else, until a first import). */
export async function stateOf(db: Executor, tenant: Tenant): Promise<CatalogState> {
  const row = await db.selectFrom('catalogs').select(['status', 'last_modified_on', 'import_requested_at', 'status_before_import']).where(inTenant(tenant)).executeTakeFirst();
  return row ?? NEVER_IMPORTED;
}

/**
 * The tenant's catalog, read to be changed. Where transactions run side by side (`rowLocks`: PostgreSQL, READ
 * COMMITTED) its row is locked first, so decisions about one catalog are taken one after the other: two connectors'
 * inventories finishing at once on two nodes each read the other as still awaited, and the import stayed IMPORTING.
 */
export async function stateForChange(db: Executor, tenant: Tenant, rowLocks: boolean): Promise<CatalogState> {
  const query = db.selectFrom('catalogs').select(['status', 'last_modified_on', 'import_requested_at', 'status_before_import']).where(inTenant(tenant));
  return (await (rowLocks ? query.forUpdate() : query).executeTakeFirst()) ?? NEVER_IMPORTED;
}

export async function saveState(db: Executor, tenant: Tenant, state: CatalogState): Promise<void> {
  await db
    .insertInto('catalogs')
    .values({ account_id: tenant.accountId, region: tenant.region, ...state })
    .onConflict((oc) => oc.columns(['account_id', 'region']).doUpdateSet(state))
    .execute();
}

/** The tenant's catalog status (NOT_IMPORTED until a first import). */
export async function catalogStatus(db: Executor, tenant: Tenant): Promise<string> {
  // On every CreateReplicationJob: compiled once (store/compiledOnce.ts).
  const [row] = await rowsOf(db, statusOfCatalog(db, { accountId: tenant.accountId, region: tenant.region }));
  return row?.status ?? NEVER_IMPORTED.status;
}

const statusOfCatalog = compiledOnce('catalogs.status', (db, p: Tenant) => db.selectFrom('catalogs').select('status').where(inTenant(p)));

/** What a heartbeat reads of the tenant's catalog: its status and when an import was last asked for. */
export function importState(db: Executor, tenant: Tenant): Promise<{ status: string; import_requested_at: number | null } | undefined> {
  return db.selectFrom('catalogs').select(['status', 'import_requested_at']).where(inTenant(tenant)).executeTakeFirst();
}

/** Imports asked for at or before `requestedBy` that are still IMPORTING (every tenant). */
export function importsRequestedBy(db: Executor, requestedBy: number): Promise<ImportingCatalog[]> {
  return db.selectFrom('catalogs').selectAll().where('status', '=', 'IMPORTING').where('import_requested_at', '<=', requestedBy).execute();
}

/** When the oldest import still IMPORTING was asked for (null: none is). */
export async function oldestImportRequest(db: Executor): Promise<number | null> {
  const row = await db
    .selectFrom('catalogs')
    .select((eb) => eb.fn.min('import_requested_at').as('t'))
    .where('status', '=', 'IMPORTING')
    .executeTakeFirst();
  return row?.t == null ? null : Number(row.t);
}
