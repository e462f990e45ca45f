/**
 * Which servers an app holds, in which groups (CreateApp, UpdateApp, ImportAppCatalog): every server must be in the
 * tenant's server catalog and in no other app (spec §7; a unique index makes that hold under concurrency too), group
 * ids are Ferry's (`sg-` + 8 hex), and the service limits apply — at most 10 groups and 50 servers per app.
 */
import type { ServerGroup } from '@aws-sdk/client-sms';
import { invalidParameter, missingParameter, notPermitted } from '../../lib/errors.ts';
import { newServerGroupId } from '../../lib/ids.ts';
import type { Policy } from '../../domain/policy.ts';
import { freshId } from '../uniqueId.ts';
import type { Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { loadGroups, loadMembers, type GroupRow } from './appRecords.ts';
import {
  deleteGroups,
  deleteMembers,
  insertGroup,
  insertMember,
  moveMember,
  selectCatalogedServerIds,
  selectServerHeldElsewhere,
  updateGroup,
} from '../../store/apps/membershipQueries.ts';

export interface ResolvedGroup {
  /** An existing group of the app, or null for a new one. */
  serverGroupId: string | null;
  name: string;
  serverIds: string[];
}

/** Checks the requested groups (existence rules) and returns them resolved; `appId` is null for a new app. */
export async function resolveGroups(
  tx: Tx,
  tenant: Tenant,
  appId: string | null,
  groups: readonly ServerGroup[],
  existing: readonly GroupRow[],
  rowLocks = false,
): Promise<ResolvedGroup[]> {
  const seenGroups = new Set<string>();
  const seenServers = new Map<string, string>();
  const resolved: ResolvedGroup[] = [];
  for (const [i, group] of groups.entries()) {
    const path = `serverGroups[${i}]`;
    let serverGroupId: string | null = null;
    if (group.serverGroupId !== undefined && group.serverGroupId !== '') {
      if (!existing.some((g) => g.server_group_id === group.serverGroupId)) {
        throw invalidParameter(
          appId === null
            ? `${path}.serverGroupId: server group ids are assigned by Ferry; leave serverGroupId out when creating an app.`
            : `${path}.serverGroupId: server group ${group.serverGroupId} is not part of app ${appId}; leave serverGroupId out for a new group.`,
        );
      }
      if (seenGroups.has(group.serverGroupId)) throw invalidParameter(`${path}.serverGroupId: server group ${group.serverGroupId} is listed twice.`);
      seenGroups.add(group.serverGroupId);
      serverGroupId = group.serverGroupId;
    }
    const serverIds: string[] = [];
    for (const [j, server] of (group.serverList ?? []).entries()) {
      const at = `${path}.serverList[${j}]`;
      if (!server.serverId) throw missingParameter(`The request is missing the required parameter ${at}.serverId.`);
      const other = seenServers.get(server.serverId);
      if (other !== undefined) throw invalidParameter(`${at}: server ${server.serverId} is already listed at ${other}; a server belongs to one group.`);
      seenServers.set(server.serverId, at);
      serverIds.push(server.serverId);
    }
    const fallback = existing.find((g) => g.server_group_id === serverGroupId)?.name ?? `Group ${i + 1}`;
    resolved.push({ serverGroupId, name: group.name || fallback, serverIds });
  }
  await checkServersAvailable(tx, tenant, appId, [...seenServers.keys()], rowLocks);
  return resolved;
}

/**
 * Every server is in the tenant's catalog and in no app other than `appId`. With `rowLocks` (where transactions run
 * side by side) the servers' catalog rows are locked first: two apps taking one server then run one after the
 * other, and the second is told which app holds it, instead of failing on the members' unique index.
 */
export async function checkServersAvailable(tx: Tx, tenant: Tenant, appId: string | null, serverIds: readonly string[], rowLocks = false): Promise<void> {
  if (serverIds.length === 0) return;
  const inCatalog = await selectCatalogedServerIds(tx, tenant, serverIds, rowLocks);
  const missing = serverIds.find((id) => !inCatalog.has(id));
  if (missing !== undefined) {
    throw invalidParameter(`Server ${missing} is not in the server catalog (GetServers lists the servers an app can hold; ImportServerCatalog refreshes it).`);
  }
  const clash = await selectServerHeldElsewhere(tx, appId, serverIds);
  if (clash) {
    throw invalidParameter(`Server ${clash.server_id} already belongs to app ${clash.app_id}; a server belongs to at most one app (remove it there with UpdateApp first).`);
  }
}

/** The service limits on one app (spec §3.5): checked last, after every existence and state rule. */
export function checkGroupLimits(policy: Policy, groups: readonly ResolvedGroup[]): void {
  if (groups.length > policy.maxServerGroupsPerApp) {
    throw notPermitted(`An app holds at most ${policy.maxServerGroupsPerApp} server groups; the request has ${groups.length}.`);
  }
  const servers = groups.reduce((n, g) => n + g.serverIds.length, 0);
  if (servers > policy.maxServersPerApp) throw notPermitted(`An app holds at most ${policy.maxServersPerApp} servers; the request has ${servers}.`);
}

/**
 * Replaces the app's groups and members with `groups`. Servers that stay keep their replication and launch
 * configuration and their job; servers that leave take their server validations with them.
 */
export async function writeGroups(tx: Tx, app: { app_id: string; account_id: string; region: string }, groups: readonly ResolvedGroup[]): Promise<void> {
  const before = await loadGroups(tx, app.app_id);
  const members = await loadMembers(tx, app.app_id);
  const ids: string[] = [];
  for (const [position, group] of groups.entries()) {
    if (group.serverGroupId !== null) {
      await updateGroup(tx, group.serverGroupId, { name: group.name, position });
      ids.push(group.serverGroupId);
      continue;
    }
    const serverGroupId = await freshId(tx, 'app_server_groups', 'server_group_id', newServerGroupId);
    await insertGroup(tx, { server_group_id: serverGroupId, app_id: app.app_id, account_id: app.account_id, region: app.region, name: group.name, position, launch_order: null });
    ids.push(serverGroupId);
  }
  const dropped = before.map((g) => g.server_group_id).filter((id) => !ids.includes(id));
  await deleteGroups(tx, dropped);

  const placement = new Map<string, { groupId: string; position: number }>();
  groups.forEach((g, i) => g.serverIds.forEach((serverId, position) => placement.set(serverId, { groupId: ids[i]!, position })));
  const leaving = members.map((m) => m.server_id).filter((id) => !placement.has(id));
  await deleteMembers(tx, app.app_id, leaving);
  const stayed = new Set(members.map((m) => m.server_id));
  for (const [serverId, { groupId, position }] of placement) {
    if (stayed.has(serverId)) {
      await moveMember(tx, app.app_id, serverId, groupId, position);
    } else {
      await insertMember(tx, {
        server_id: serverId,
        app_id: app.app_id,
        server_group_id: groupId,
        account_id: app.account_id,
        region: app.region,
        position,
        replication_parameters: null,
        launch_configuration: null,
        replication_job_id: null,
      });
    }
  }
}
