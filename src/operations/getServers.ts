import type { GetServersRequest, GetServersResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from './operation.ts';
import { listOf, str, struct } from '../api/schema.ts';
import { listServers } from '../core/catalog.ts';
import { epochDate } from '../protocol/awsJson.ts';
import { toServer } from './mappers.ts';

export const getServers: Operation<GetServersRequest, GetServersResponse> = {
  input: { ...pageMembers, vmServerAddressList: listOf(struct({ vmManagerId: str(), vmId: str() })) },
  async handle(input, { core, tenant }) {
    const page = await listServers(core, tenant, input);
    return {
      serverCatalogStatus: page.status as GetServersResponse['serverCatalogStatus'],
      lastModifiedOn: page.lastModifiedAt === null ? undefined : epochDate(page.lastModifiedAt),
      serverList: page.servers.map(toServer),
      nextToken: page.nextToken,
    };
  },
};
