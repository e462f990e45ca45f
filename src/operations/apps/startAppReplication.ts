import type { StartAppReplicationRequest, StartAppReplicationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { startAppReplication as start } from '../../core/apps/appReplication.ts';
import { refreshOptionsOf } from './appContext.ts';

export const startAppReplication: Operation<StartAppReplicationRequest, StartAppReplicationResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await start(ctx.core, ctx.tenant, input.appId!, refreshOptionsOf(ctx));
    return {};
  },
};
