import type { StartOnDemandAppReplicationRequest, StartOnDemandAppReplicationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { str } from '../../api/schema.ts';
import { appIdField } from '../../api/appShapes.ts';
import { startOnDemandAppReplication as start } from '../../core/apps/appReplication.ts';

export const startOnDemandAppReplication: Operation<StartOnDemandAppReplicationRequest, StartOnDemandAppReplicationResponse> = {
  input: { appId: appIdField(), description: str() },
  async handle(input, { core, tenant }) {
    await start(core, tenant, { ...input, appId: input.appId! });
    return {};
  },
};
