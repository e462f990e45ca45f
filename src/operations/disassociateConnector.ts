import type { DisassociateConnectorRequest, DisassociateConnectorResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { str } from '../api/schema.ts';
import { disassociateConnector as disassociate } from '../core/connectors.ts';

export const disassociateConnector: Operation<DisassociateConnectorRequest, DisassociateConnectorResponse> = {
  input: { connectorId: str(true) },
  async handle(input, { core, tenant }) {
    await disassociate(core, tenant, input.connectorId!);
    return {};
  },
};
