/** App rows → the SMS output shapes (AppSummary, ServerGroup, Tag), typed by the AWS SDK. */
import type { AppSummary, Server, ServerGroup, Tag } from '@aws-sdk/client-sms';
import { epochDate } from '../../protocol/awsJson.ts';
import { toServer } from '../../operations/mappers.ts';
import type { ServerRow } from '../../store/rows.ts';
import type { Core, Tx } from '../context.ts';
import { groupMembers, loadGroups, loadMembers, type AppRow, type GroupRow, type MemberRow } from './appRecords.ts';

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export function toAppSummary(app: AppRow, counts: { groups: number; servers: number }): AppSummary {
  const summary: AppSummary = {
    appId: app.app_id,
    importedAppId: opt(app.imported_app_id),
    name: app.name,
    description: opt(app.description),
    status: app.status as AppSummary['status'],
    statusMessage: opt(app.status_message),
    replicationConfigurationStatus: app.replication_configured === 1 ? 'CONFIGURED' : 'NOT_CONFIGURED',
    replicationStatus: app.replication_status as AppSummary['replicationStatus'],
    replicationStatusMessage: opt(app.replication_status_message),
    latestReplicationTime: app.latest_replication_time === null ? undefined : epochDate(app.latest_replication_time),
    launchConfigurationStatus: app.launch_configured === 1 ? 'CONFIGURED' : 'NOT_CONFIGURED',
    launchStatus: app.launch_status as AppSummary['launchStatus'],
    launchStatusMessage: opt(app.launch_status_message),
    creationTime: epochDate(app.created_at),
    lastModified: epochDate(app.updated_at),
    roleName: opt(app.role_name),
    totalServerGroups: counts.groups,
    totalServers: counts.servers,
  };
  if (app.stack_name !== null || app.latest_launch_time !== null) {
    summary.launchDetails = {
      latestLaunchTime: app.latest_launch_time === null ? undefined : epochDate(app.latest_launch_time),
      stackName: opt(app.stack_name),
      stackId: opt(app.stack_id),
    };
  }
  return summary;
}

export function toTags(app: AppRow): Tag[] {
  return JSON.parse(app.tags) as Tag[];
}

/** A member server as the catalog describes it (its catalog row outlives a catalog deletion). */
export function toMemberServer(member: MemberRow, servers: ReadonlyMap<string, ServerRow>): Server {
  const row = servers.get(member.server_id);
  return row ? toServer(row) : { serverId: member.server_id, serverType: 'VIRTUAL_MACHINE' };
}

export async function serverRowsOf(db: Tx | Core['db'], members: readonly MemberRow[]): Promise<Map<string, ServerRow>> {
  if (members.length === 0) return new Map();
  const rows = await db.selectFrom('servers').selectAll().where('server_id', 'in', members.map((m) => m.server_id)).execute();
  return new Map(rows.map((r) => [r.server_id, r]));
}

export function toServerGroups(groups: readonly GroupRow[], members: readonly MemberRow[], servers: ReadonlyMap<string, ServerRow>): ServerGroup[] {
  return groupMembers(groups, members).map(({ group, members: inGroup }) => ({
    serverGroupId: group.server_group_id,
    name: group.name,
    serverList: inGroup.map((m) => toMemberServer(m, servers)),
  }));
}

export interface AppView {
  appSummary: AppSummary;
  serverGroups: ServerGroup[];
  tags: Tag[];
}

/** CreateApp / GetApp / UpdateApp's answer. */
export async function appView(db: Tx | Core['db'], app: AppRow): Promise<AppView> {
  const groups = await loadGroups(db, app.app_id);
  const members = await loadMembers(db, app.app_id);
  const servers = await serverRowsOf(db, members);
  return {
    appSummary: toAppSummary(app, { groups: groups.length, servers: members.length }),
    serverGroups: toServerGroups(groups, members, servers),
    tags: toTags(app),
  };
}
