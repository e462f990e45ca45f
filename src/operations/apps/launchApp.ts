import type { LaunchAppRequest, LaunchAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { requestLaunch } from '../../core/apps/launchRequests.ts';
import { portsOf, refreshOptionsOf } from './appContext.ts';

export const launchApp: Operation<LaunchAppRequest, LaunchAppResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await requestLaunch(ctx.core, ctx.tenant, input.appId!, portsOf(ctx), refreshOptionsOf(ctx));
    return {};
  },
};
