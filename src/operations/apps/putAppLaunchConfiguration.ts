import type { PutAppLaunchConfigurationRequest, PutAppLaunchConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { bool, boundedStr } from '../../api/schema.ts';
import { APP_BOUNDS, appIdField, serverGroupLaunchConfigurationsField } from '../../api/appShapes.ts';
import { putLaunchConfiguration } from '../../core/apps/launchConfig.ts';
import { portsOf, refreshOptionsOf } from './appContext.ts';

export const putAppLaunchConfiguration: Operation<PutAppLaunchConfigurationRequest, PutAppLaunchConfigurationResponse> = {
  input: {
    appId: appIdField(),
    roleName: boundedStr({ max: APP_BOUNDS.roleName }),
    autoLaunch: bool(),
    serverGroupLaunchConfigurations: serverGroupLaunchConfigurationsField,
  },
  async handle(input, ctx) {
    await putLaunchConfiguration(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, portsOf(ctx), refreshOptionsOf(ctx));
    return {};
  },
};
