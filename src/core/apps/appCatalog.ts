/**
 * ImportAppCatalog's source. SMS imported applications from AWS Migration Hub; Ferry has no Migration Hub, so an
 * operator loads the applications — id, name, description, and their servers by server id or VM id — into a
 * per-tenant application catalog (`ferry apps catalog load FILE`), and ImportAppCatalog turns each entry into an app
 * with `importedAppId` = the entry's id, following SMS's rules: only servers present in the server catalog and in no
 * other app are imported; an imported app that is replicating or launched is not re-imported; otherwise a re-import
 * refreshes the app from its entry. Imported apps cannot be changed with UpdateApp.
 */
import { invalidParameter, notPermitted } from '../../lib/errors.ts';
import { inTransaction, type Core } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { hasLiveInstances, insertApp, checkAppLimit } from './apps.ts';
import { liveJobCount, loadGroups } from './appRecords.ts';
import { writeGroups } from './membership.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import * as appCatalog from '../../store/apps/appCatalogQueries.ts';
import * as jobs from '../../store/jobs/index.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';

/** A server named by its server id (`s-…`), its VM id, or its VM manager and VM id. */
export type CatalogServerRef = string | { vmManagerId?: string; vmId: string };

export interface CatalogEntry {
  id: string;
  name: string;
  description?: string;
  servers: CatalogServerRef[];
}

export const CATALOG_LIMITS = { entries: 1000, idLength: 255, nameLength: 255, descriptionLength: 1024, serversPerEntry: 1000 } as const;

/** Checks a catalog file's content (`{"applications": [...]}`) and returns its entries. */
export function parseCatalog(document: unknown): CatalogEntry[] {
  const apps = (document as { applications?: unknown } | null)?.applications;
  if (!Array.isArray(apps)) throw invalidParameter('An application catalog is a JSON object {"applications": [{"id", "name", "description", "servers"}]}.');
  if (apps.length > CATALOG_LIMITS.entries) throw invalidParameter(`An application catalog holds at most ${CATALOG_LIMITS.entries} applications; got ${apps.length}.`);
  const ids = new Set<string>();
  return apps.map((raw, i) => {
    const at = `applications[${i}]`;
    const entry = raw as Partial<CatalogEntry>;
    if (typeof entry.id !== 'string' || entry.id === '' || entry.id.length > CATALOG_LIMITS.idLength) throw invalidParameter(`${at}.id must be a string of 1 to ${CATALOG_LIMITS.idLength} characters.`);
    if (ids.has(entry.id)) throw invalidParameter(`${at}.id ${entry.id} appears twice.`);
    ids.add(entry.id);
    if (typeof entry.name !== 'string' || entry.name === '' || entry.name.length > CATALOG_LIMITS.nameLength) throw invalidParameter(`${at}.name must be a string of 1 to ${CATALOG_LIMITS.nameLength} characters.`);
    if (entry.description !== undefined && (typeof entry.description !== 'string' || entry.description.length > CATALOG_LIMITS.descriptionLength)) {
      throw invalidParameter(`${at}.description must be a string of at most ${CATALOG_LIMITS.descriptionLength} characters.`);
    }
    if (!Array.isArray(entry.servers) || entry.servers.length > CATALOG_LIMITS.serversPerEntry) throw invalidParameter(`${at}.servers must be a list of at most ${CATALOG_LIMITS.serversPerEntry} servers.`);
    for (const [j, ref] of entry.servers.entries()) {
      const ok = (typeof ref === 'string' && ref !== '') || (typeof ref === 'object' && ref !== null && typeof ref.vmId === 'string' && (ref.vmManagerId === undefined || typeof ref.vmManagerId === 'string'));
      if (!ok) throw invalidParameter(`${at}.servers[${j}] must be a server id, a VM id, or {"vmManagerId", "vmId"}.`);
    }
    return { id: entry.id, name: entry.name, description: entry.description, servers: entry.servers };
  });
}

/** Replaces the tenant's application catalog (what the next ImportAppCatalog imports). */
export async function loadCatalog(core: Core, tenant: Tenant, entries: readonly CatalogEntry[]): Promise<number> {
  const now = core.clock.now();
  await core.db.transaction().execute(async (tx) => {
    const rows = entries.map((entry) => ({ imported_app_id: entry.id, name: entry.name, description: entry.description ?? null, servers: JSON.stringify(entry.servers), loaded_at: now, import_result: null }));
    await appCatalog.replaceAppCatalog(tx, tenant, rows);
  });
  return entries.length;
}

export async function listCatalog(core: Core, tenant: Tenant): Promise<(CatalogEntry & { importResult: string | null })[]> {
  const rows = await appCatalog.selectAppCatalog(core.db, tenant);
  return rows.map((r) => ({ id: r.imported_app_id, name: r.name, description: r.description ?? undefined, servers: JSON.parse(r.servers) as CatalogServerRef[], importResult: r.import_result }));
}

export async function importAppCatalog(core: Core, tenant: Tenant, roleName: string | undefined, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    // The tenant's creates take turns where transactions run side by side (the row CreateApp and
    // CreateReplicationJob take first): two imports at once would each see no imported app yet and import every
    // entry twice, putting each server into two apps, and an import beside a CreateApp could pass the app limit.
    if (core.capabilities.sharedByNodes) await jobs.takeTurnForNewJob(tx, tenant);
    const entries = await appCatalog.selectAppCatalog(tx, tenant);
    if (entries.length === 0) {
      throw notPermitted(`No application catalog is loaded for this account in ${tenant.region}; an operator loads one with \`ferry apps catalog load FILE\` (Ferry's stand-in for Migration Hub).`);
    }
    const servers = await appCatalog.selectCatalogedServerRefs(tx, tenant);
    const resolve = (ref: CatalogServerRef): string | undefined => {
      if (typeof ref === 'string') return servers.find((s) => s.server_id === ref)?.server_id ?? servers.find((s) => s.vm_id === ref)?.server_id;
      return servers.find((s) => s.vm_id === ref.vmId && (ref.vmManagerId === undefined || s.vm_manager_id === ref.vmManagerId))?.server_id;
    };
    const imported = await appCatalog.selectImportedApps(tx, tenant);
    const byImportedId = new Map(imported.map((a) => [a.imported_app_id!, a]));
    await checkAppLimit(tx, core, tenant, entries.filter((e) => !byImportedId.has(e.imported_app_id)).length);
    const members = await appCatalog.selectServerOwners(tx, tenant);
    const appOf = new Map(members.map((m) => [m.server_id, m.app_id]));

    for (const entry of entries) {
      const existing = byImportedId.get(entry.imported_app_id);
      let result: string;
      if (existing && ((await liveJobCount(tx, existing.app_id)) > 0 || (await hasLiveInstances(tx, existing)))) {
        result = `not re-imported: app ${existing.app_id} is replicating or launched (${existing.replication_status}, ${existing.launch_status})`;
      } else {
        const chosen: string[] = [];
        const skipped: string[] = [];
        for (const ref of JSON.parse(entry.servers) as CatalogServerRef[]) {
          const label = typeof ref === 'string' ? ref : `${ref.vmManagerId ?? '*'}/${ref.vmId}`;
          const serverId = resolve(ref);
          const owner = serverId === undefined ? undefined : appOf.get(serverId);
          if (serverId === undefined) skipped.push(`${label} (not in the server catalog)`);
          else if (owner !== undefined && owner !== existing?.app_id) skipped.push(`${label} (in app ${owner})`);
          else if (chosen.includes(serverId)) continue;
          else chosen.push(serverId);
        }
        const kept = chosen.slice(0, core.policy.maxServersPerApp);
        for (const id of chosen.slice(kept.length)) skipped.push(`${id} (over the ${core.policy.maxServersPerApp}-server limit)`);
        let app;
        if (existing) {
          const group = (await loadGroups(tx, existing.app_id))[0];
          await writeGroups(tx, existing, [{ serverGroupId: group?.server_group_id ?? null, name: group?.name ?? 'default', serverIds: kept }]);
          const patch = { name: entry.name, description: entry.description, role_name: roleName ?? existing.role_name, updated_at: now };
          await updateAppRow(tx, existing.app_id, patch);
          app = await refreshApp(tx, { ...existing, ...patch }, now, emit, options);
        } else {
          const fields = { name: entry.name, description: entry.description, roleName: roleName ?? null, tags: [], importedAppId: entry.imported_app_id, clientToken: null, requestHash: null };
          app = await insertApp(tx, core, tenant, fields, [{ serverGroupId: null, name: 'default', serverIds: kept }], emit, options);
        }
        for (const id of kept) appOf.set(id, app.app_id);
        result = `imported as ${app.app_id} with ${kept.length} server(s)${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}`;
      }
      await appCatalog.setImportResult(tx, entry.seq, `${new Date(now).toISOString()}: ${result}`);
    }
  });
}
