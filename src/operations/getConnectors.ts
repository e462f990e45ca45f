import type { GetConnectorsRequest, GetConnectorsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../api/operation.ts';
import { listConnectors } from '../core/connectors.ts';

export const getConnectors: Operation<GetConnectorsRequest, GetConnectorsResponse> = {
  input: { ...pageMembers },
  handle: (input, { core, tenant }) => listConnectors(core, tenant, input),
};
