import type { GetServersRequest, GetServersResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../api/operation.ts';
import { listOf, str, struct } from '../api/schema.ts';
import { listServers } from '../core/catalog.ts';

export const getServers: Operation<GetServersRequest, GetServersResponse> = {
  input: { ...pageMembers, vmServerAddressList: listOf(struct({ vmManagerId: str(), vmId: str() })) },
  async handle(input, { core, tenant }) {
    const result = await listServers(core, tenant, input);
    return { ...result, serverCatalogStatus: result.serverCatalogStatus as GetServersResponse['serverCatalogStatus'] };
  },
};
