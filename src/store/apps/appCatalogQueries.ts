/**
 * Each tenant's application catalog (ImportAppCatalog's source, loaded by an operator) and what ImportAppCatalog
 * reads beside it: the cataloged servers, the apps imported before, who holds which server.
 */
import type { Selectable } from 'kysely';
import type { Tenant } from '../../domain/tenant.ts';
import type { AppCatalogTable } from '../schema.ts';
import { inTenant } from '../tenancy.ts';
import type { AppExecutor, AppRow } from './appQueries.ts';

export type AppCatalogRow = Selectable<AppCatalogTable>;

/** The entries as loaded, in load order. */
export function selectAppCatalog(db: AppExecutor, tenant: Tenant): Promise<AppCatalogRow[]> {
  return db.selectFrom('app_catalog').selectAll().where(inTenant(tenant)).orderBy('seq').execute();
}

/** Replaces the tenant's catalog with `entries`, in their order (the caller's transaction makes it one change). */
export async function replaceAppCatalog(db: AppExecutor, tenant: Tenant, entries: readonly Omit<AppCatalogRow, 'seq' | 'account_id' | 'region'>[]): Promise<void> {
  await db.deleteFrom('app_catalog').where(inTenant(tenant)).execute();
  for (const entry of entries) await db.insertInto('app_catalog').values({ account_id: tenant.accountId, region: tenant.region, ...entry }).execute();
}

export async function setImportResult(db: AppExecutor, seq: number, result: string): Promise<void> {
  await db.updateTable('app_catalog').set({ import_result: result }).where('seq', '=', seq).execute();
}

/** The tenant's servers in the server catalog, as an application catalog names them. */
export function selectCatalogedServerRefs(db: AppExecutor, tenant: Tenant): Promise<{ server_id: string; vm_id: string; vm_manager_id: string }[]> {
  return db.selectFrom('servers').select(['server_id', 'vm_id', 'vm_manager_id']).where(inTenant(tenant)).where('in_catalog', '=', 1).execute();
}

/** The tenant's apps that came from its application catalog. */
export function selectImportedApps(db: AppExecutor, tenant: Tenant): Promise<AppRow[]> {
  return db.selectFrom('apps').selectAll().where(inTenant(tenant)).where('imported_app_id', 'is not', null).execute();
}

/** Which app holds each of the tenant's servers that is in an app. */
export function selectServerOwners(db: AppExecutor, tenant: Tenant): Promise<{ server_id: string; app_id: string }[]> {
  return db.selectFrom('app_servers').select(['server_id', 'app_id']).where(inTenant(tenant)).execute();
}
