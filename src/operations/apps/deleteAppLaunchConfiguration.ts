import type { DeleteAppLaunchConfigurationRequest, DeleteAppLaunchConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { deleteLaunchConfiguration } from '../../core/apps/launchConfig.ts';
import { refreshOptionsOf } from './appContext.ts';

export const deleteAppLaunchConfiguration: Operation<DeleteAppLaunchConfigurationRequest, DeleteAppLaunchConfigurationResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await deleteLaunchConfiguration(ctx.core, ctx.tenant, input.appId!, refreshOptionsOf(ctx));
    return {};
  },
};
