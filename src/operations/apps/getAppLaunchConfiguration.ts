import type { GetAppLaunchConfigurationRequest, GetAppLaunchConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getApp } from '../../core/apps/apps.ts';
import { toLaunchConfiguration } from './appConfigMappers.ts';

export const getAppLaunchConfiguration: Operation<GetAppLaunchConfigurationRequest, GetAppLaunchConfigurationResponse> = {
  input: { appId: appIdField() },
  handle: async (input, { core, tenant }) => toLaunchConfiguration(await getApp(core, tenant, input.appId!)),
};
