import type { UpdateAppRequest, UpdateAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField, appMembers } from '../../api/appShapes.ts';
import { updateApp as update } from '../../core/apps/apps.ts';
import { refreshOptionsOf } from './appContext.ts';
import { toAppView } from './appMappers.ts';

export const updateApp: Operation<UpdateAppRequest, UpdateAppResponse> = {
  input: { appId: appIdField(), ...appMembers },
  handle: async (input, ctx) => toAppView(await update(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, refreshOptionsOf(ctx))),
};
