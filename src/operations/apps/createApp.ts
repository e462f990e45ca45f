import type { CreateAppRequest, CreateAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { boundedStr } from '../../api/schema.ts';
import { APP_BOUNDS, appMembers } from '../../api/appShapes.ts';
import { createApp as create } from '../../core/apps/apps.ts';
import { refreshOptionsOf } from './appContext.ts';
import { toAppView } from './appMappers.ts';

export const createApp: Operation<CreateAppRequest, CreateAppResponse> = {
  input: { ...appMembers, name: boundedStr({ max: APP_BOUNDS.name }, true), clientToken: boundedStr({ max: APP_BOUNDS.clientToken }) },
  handle: async (input, ctx) => toAppView(await create(ctx.core, ctx.tenant, input, refreshOptionsOf(ctx))),
};
