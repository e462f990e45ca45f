/**
 * Apps themselves: CreateApp (idempotent per clientToken), GetApp, UpdateApp, ListApps (spec §7). An app is ACTIVE
 * as soon as CreateApp commits (CREATING and UPDATING last only inside the request's transaction, so they are never
 * seen). Limits: at most 50 apps per account and region, 10 groups and 50 servers per app (policy).
 */
import { hash } from 'node:crypto';
import type { ServerGroup, Tag } from '@aws-sdk/client-sms';
import { invalidParameter, missingParameter, notPermitted } from '../../lib/errors.ts';
import { newAppId } from '../../lib/ids.ts';
import { freshId } from '../uniqueId.ts';
import * as jobs from '../../store/jobs/index.ts';
import { inTransaction, type Core, type Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { closePage, fingerprintOf, openCursor, type PageRequest } from '../paginate.ts';
import { snapshotOf, type AppSnapshot } from './appSnapshot.ts';
import { checkAppActive, liveJobCount, loadGroups, loadLaunchRows, loadMembers, requireApp, requireAppForChange, type AppRow } from './appRecords.ts';
import { checkGroupLimits, resolveGroups, writeGroups, type ResolvedGroup } from './membership.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import { countGroupsAndServers, countTenantApps, insertAppRow, newAppRow, selectAppByClientToken, selectAppPage } from '../../store/apps/appQueries.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';

export const LIST_APPS_PAGE_SIZE = 100;

export interface AppInput {
  name?: string;
  description?: string;
  roleName?: string;
  serverGroups?: ServerGroup[];
  tags?: Tag[];
}

/** Tags: keys unique, not in AWS's reserved `aws:` space; a missing value is empty. */
export function normalizeTags(tags: readonly Tag[]): Tag[] {
  const seen = new Set<string>();
  return tags.map((tag, i) => {
    if (!tag.key) throw missingParameter(`The request is missing the required parameter tags[${i}].key.`);
    if (tag.key.toLowerCase().startsWith('aws:')) throw invalidParameter(`tags[${i}].key: keys starting with "aws:" are reserved.`);
    if (seen.has(tag.key)) throw invalidParameter(`tags[${i}].key: the tag ${JSON.stringify(tag.key)} is given twice.`);
    seen.add(tag.key);
    return { key: tag.key, value: tag.value ?? '' };
  });
}

async function countApps(tx: Tx, tenant: Tenant): Promise<number> {
  return countTenantApps(tx, tenant);
}

/** The app limit (spec §3.5), checked last. */
export async function checkAppLimit(tx: Tx, core: Core, tenant: Tenant, adding: number): Promise<void> {
  const count = await countApps(tx, tenant);
  if (count + adding > core.policy.maxAppsPerAccount) {
    throw notPermitted(`The account already has ${count} apps in ${tenant.region}; the limit is ${core.policy.maxAppsPerAccount} (DeleteApp frees one).`);
  }
}

/** Inserts a new, empty-statused app row with its groups, then derives its statuses. */
export async function insertApp(
  tx: Tx,
  core: Core,
  tenant: Tenant,
  fields: { name: string; description: string | null; roleName: string | null; tags: Tag[]; importedAppId: string | null; clientToken: string | null; requestHash: string | null },
  groups: readonly ResolvedGroup[],
  emit: Parameters<typeof refreshApp>[3],
  options: RefreshOptions,
): Promise<AppRow> {
  const now = core.clock.now();
  const appId = await freshId(tx, 'apps', 'app_id', newAppId);
  await insertAppRow(
    tx,
    newAppRow({
      app_id: appId,
      account_id: tenant.accountId,
      region: tenant.region,
      imported_app_id: fields.importedAppId,
      name: fields.name,
      description: fields.description,
      role_name: fields.roleName,
      client_token: fields.clientToken,
      request_hash: fields.requestHash,
      tags: JSON.stringify(fields.tags),
      created_at: now,
      updated_at: now,
    }),
  );
  const row = await requireApp(tx, tenant, appId);
  await writeGroups(tx, row, groups);
  const app = await refreshApp(tx, row, now, () => {}, options);
  emit({
    type: 'app.state',
    tenant,
    appId,
    status: app.status,
    replicationStatus: app.replication_status,
    launchStatus: app.launch_status,
    previous: null,
  });
  return app;
}

export async function createApp(core: Core, tenant: Tenant, input: AppInput & { clientToken?: string }, options: RefreshOptions): Promise<AppSnapshot> {
  if (!input.name) throw missingParameter('The request is missing the required parameter name.');
  const tags = normalizeTags(input.tags ?? []);
  const requestHash = hash(
    'sha256',
    JSON.stringify([input.name, input.description ?? null, input.roleName ?? null, tags, (input.serverGroups ?? []).map((g) => [g.name ?? null, (g.serverList ?? []).map((s) => s.serverId)])]),
  );
  return inTransaction(core, async (tx, emit) => {
    // The tenant's creates take turns where transactions run side by side (the same row as CreateReplicationJob's,
    // taken first, before any server's row): the clientToken lookup and the app limit below then see every app a
    // create before this one committed. Without it two creates with one token made two apps, and N creates at once
    // passed the limit together.
    if (core.capabilities.sharedByNodes) await jobs.takeTurnForNewJob(tx, tenant);
    if (input.clientToken) {
      const earlier = await selectAppByClientToken(tx, tenant, input.clientToken);
      if (earlier) {
        // A retry of the request that created it gets the same app; the token reused for another request is refused.
        if (earlier.request_hash !== requestHash) {
          throw invalidParameter(`clientToken ${JSON.stringify(input.clientToken)} was already used for a different CreateApp request (app ${earlier.app_id}); use a new token.`);
        }
        return snapshotOf(tx, earlier);
      }
    }
    const groups = await resolveGroups(tx, tenant, null, input.serverGroups ?? [], [], core.capabilities.sharedByNodes === true);
    checkGroupLimits(core.policy, groups);
    await checkAppLimit(tx, core, tenant, 1);
    const fields = {
      name: input.name!,
      description: input.description ?? null,
      roleName: input.roleName ?? null,
      tags,
      importedAppId: null,
      clientToken: input.clientToken || null,
      requestHash,
    };
    return snapshotOf(tx, await insertApp(tx, core, tenant, fields, groups, emit, options));
  });
}

/**
 * The app's rows: GetApp, GetAppLaunchConfiguration and GetAppReplicationConfiguration all answer from them
 * (operations/apps/appMappers.ts and appConfigMappers.ts shape each answer).
 */
export async function getApp(core: Core, tenant: Tenant, appId: string): Promise<AppSnapshot> {
  return snapshotOf(core.db, await requireApp(core.db, tenant, appId));
}

/** An app whose instances are on their way or running: its membership cannot change under them. */
export async function hasLiveInstances(tx: Tx | Core['db'], app: AppRow): Promise<boolean> {
  if (app.launch_phase === 'NONE') return false;
  const rows = await loadLaunchRows(tx, app);
  return rows.some((r) => r.instance_id !== null && r.state !== 'terminated') || rows.some((r) => r.state === 'launching' || r.state === 'planned');
}

export async function updateApp(core: Core, tenant: Tenant, input: AppInput & { appId: string }, options: RefreshOptions): Promise<AppSnapshot> {
  const tags = input.tags === undefined ? undefined : normalizeTags(input.tags);
  return inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, input.appId);
    const existing = await loadGroups(tx, app.app_id);
    const groups = input.serverGroups === undefined ? undefined : await resolveGroups(tx, tenant, app.app_id, input.serverGroups, existing, core.capabilities.sharedByNodes === true);
    let phase = app.replication_phase;
    if (app.imported_app_id !== null) {
      throw notPermitted(`App ${app.app_id} was imported (importedAppId ${app.imported_app_id}) and cannot be changed with UpdateApp; change its catalog entry and run ImportAppCatalog again.`);
    }
    checkAppActive(app, ' and can no longer be changed');
    if (groups) {
      const before = new Set((await loadMembers(tx, app.app_id)).map((m) => m.server_id));
      const after = groups.flatMap((g) => g.serverIds);
      const serversChange = after.length !== before.size || after.some((id) => !before.has(id));
      if (serversChange && (await liveJobCount(tx, app.app_id)) > 0) {
        throw notPermitted(`App ${app.app_id} is replicating (${app.replication_status}); stop its replication (StopAppReplication) before adding or removing servers.`);
      }
      // Other servers than those replicated: the finished replication no longer covers the app (StartAppReplication again).
      if (serversChange && app.replication_phase !== 'NONE') phase = 'NONE';
      if (await hasLiveInstances(tx, app)) {
        throw notPermitted(`App ${app.app_id} has launched instances (${app.launch_status}); terminate them (TerminateApp) before changing its server groups.`);
      }
      checkGroupLimits(core.policy, groups);
    }
    const now = core.clock.now();
    const patch = {
      name: input.name || app.name,
      description: input.description ?? app.description,
      role_name: input.roleName ?? app.role_name,
      tags: tags === undefined ? app.tags : JSON.stringify(tags),
      replication_phase: phase,
      updated_at: now,
    };
    await updateAppRow(tx, app.app_id, patch);
    if (groups) await writeGroups(tx, app, groups);
    return snapshotOf(tx, await refreshApp(tx, { ...app, ...patch }, now, emit, options));
  });
}

/** An app of a ListApps page with how many groups and servers it has. */
export interface ListedApp {
  app: AppRow;
  counts: { groups: number; servers: number };
}

export async function listApps(core: Core, tenant: Tenant, input: PageRequest & { appIds?: string[] }): Promise<{ apps: ListedApp[]; nextToken?: string }> {
  const filter = input.appIds && input.appIds.length > 0 ? [...new Set(input.appIds)] : undefined;
  const cursor = openCursor(input, fingerprintOf('ListApps', tenant, filter ?? null), LIST_APPS_PAGE_SIZE);
  const rows = await selectAppPage(core.db, tenant, { afterSeq: cursor.after, limit: cursor.limit + 1, appIds: filter });
  const page = closePage(rows, cursor);
  const counts = await countGroupsAndServers(core.db, page.items.map((a) => a.app_id));
  return { apps: page.items.map((app) => ({ app, counts: counts.get(app.app_id)! })), nextToken: page.nextToken };
}
