/** An app's servers in request order (group by group), as the configuration forms list and address them. */
import type { GetAppResponse } from '@aws-sdk/client-sms';

export interface AppServerRef {
  serverId: string;
  name: string;
  serverGroupId: string;
  groupName: string;
}

export function appServers(app: GetAppResponse): AppServerRef[] {
  return (app.serverGroups ?? []).flatMap((group) =>
    (group.serverList ?? []).map((server) => ({
      serverId: server.serverId!,
      name: server.vmServer?.vmName ?? server.serverId!,
      serverGroupId: group.serverGroupId!,
      groupName: group.name ?? group.serverGroupId!,
    })),
  );
}
