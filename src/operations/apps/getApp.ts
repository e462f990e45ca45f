import type { GetAppRequest, GetAppResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getApp as get } from '../../core/apps/apps.ts';

export const getApp: Operation<GetAppRequest, GetAppResponse> = {
  input: { appId: appIdField() },
  handle: (input, { core, tenant }) => get(core, tenant, input.appId!),
};
