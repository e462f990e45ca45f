import type { StopAppReplicationRequest, StopAppReplicationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { stopAppReplication as stop } from '../../core/apps/appReplication.ts';
import { refreshOptionsOf } from './appContext.ts';

export const stopAppReplication: Operation<StopAppReplicationRequest, StopAppReplicationResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await stop(ctx.core, ctx.tenant, input.appId!, refreshOptionsOf(ctx));
    return {};
  },
};
