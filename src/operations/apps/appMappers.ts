/** App rows → the SMS output shapes (AppSummary, ServerGroup, Tag, a member's Server), typed by the AWS SDK. */
import type { AppSummary, Server, ServerGroup, Tag } from '@aws-sdk/client-sms';
import { epochDate } from '../../protocol/awsJson.ts';
import { SERVER_TYPE_VIRTUAL_MACHINE } from '../../domain/enums.ts';
import { toServer } from '../mappers.ts';
import type { ServerRow } from '../../store/rows.ts';
import { groupMembers, type AppRow, type GroupRow, type MemberRow } from '../../core/apps/appRecords.ts';
import type { AppSnapshot } from '../../core/apps/appSnapshot.ts';

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
  return row ? toServer(row) : { serverId: member.server_id, serverType: SERVER_TYPE_VIRTUAL_MACHINE };
}

export function toServerGroups(groups: readonly GroupRow[], members: readonly MemberRow[], servers: ReadonlyMap<string, ServerRow>): ServerGroup[] {
  return groupMembers(groups, members).map(({ group, members: inGroup }) => ({
    serverGroupId: group.server_group_id,
    name: group.name,
    serverList: inGroup.map((m) => toMemberServer(m, servers)),
  }));
}

/** CreateApp / GetApp / UpdateApp's answer. */
export function toAppView({ app, groups, members, servers }: AppSnapshot): { appSummary: AppSummary; serverGroups: ServerGroup[]; tags: Tag[] } {
  return {
    appSummary: toAppSummary(app, { groups: groups.length, servers: members.length }),
    serverGroups: toServerGroups(groups, members, servers),
    tags: toTags(app),
  };
}
