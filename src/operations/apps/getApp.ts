import type { GetAppRequest, GetAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getApp as get } from '../../core/apps/apps.ts';
import { toAppView } from './appMappers.ts';

export const getApp: Operation<GetAppRequest, GetAppResponse> = {
  input: { appId: appIdField() },
  handle: async (input, { core, tenant }) => toAppView(await get(core, tenant, input.appId!)),
};
