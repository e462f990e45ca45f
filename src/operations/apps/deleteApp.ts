import type { DeleteAppRequest, DeleteAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { bool } from '../../api/schema.ts';
import { appIdField } from '../../api/appShapes.ts';
import { deleteApp as remove } from '../../core/apps/launchRequests.ts';
import { portsOf, refreshOptionsOf } from './appContext.ts';

export const deleteApp: Operation<DeleteAppRequest, DeleteAppResponse> = {
  input: { appId: appIdField(), forceStopAppReplication: bool(), forceTerminateApp: bool() },
  async handle(input, ctx) {
    await remove(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, portsOf(ctx), refreshOptionsOf(ctx));
    return {};
  },
};
