import type { GetConnectorsRequest, GetConnectorsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from './operation.ts';
import { listConnectors } from '../core/connectors.ts';
import { toConnector } from './mappers.ts';

export const getConnectors: Operation<GetConnectorsRequest, GetConnectorsResponse> = {
  input: { ...pageMembers },
  async handle(input, { core, tenant }) {
    const now = core.clock.now();
    const page = await listConnectors(core, tenant, input);
    return { connectorList: page.connectors.map((row) => toConnector(row, now, core.policy)), nextToken: page.nextToken };
  },
};
