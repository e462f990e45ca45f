import type { TerminateAppRequest, TerminateAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { requestTerminate } from '../../core/apps/launchRequests.ts';
import { portsOf, refreshOptionsOf } from './appContext.ts';

export const terminateApp: Operation<TerminateAppRequest, TerminateAppResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await requestTerminate(ctx.core, ctx.tenant, input.appId!, portsOf(ctx), refreshOptionsOf(ctx));
    return {};
  },
};
