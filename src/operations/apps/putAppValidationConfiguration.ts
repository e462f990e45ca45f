import type { PutAppValidationConfigurationRequest, PutAppValidationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField, appValidationConfigurationsField, serverGroupValidationConfigurationsField } from '../../api/appShapes.ts';
import { putValidationConfiguration } from '../../core/apps/validationConfig.ts';
import { portsOf } from './appContext.ts';

export const putAppValidationConfiguration: Operation<PutAppValidationConfigurationRequest, PutAppValidationConfigurationResponse> = {
  input: {
    appId: appIdField(true),
    appValidationConfigurations: appValidationConfigurationsField,
    serverGroupValidationConfigurations: serverGroupValidationConfigurationsField,
  },
  async handle(input, ctx) {
    await putValidationConfiguration(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, portsOf(ctx));
    return {};
  },
};
