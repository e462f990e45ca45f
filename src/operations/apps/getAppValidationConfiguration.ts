import type { GetAppValidationConfigurationRequest, GetAppValidationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getValidationConfiguration } from '../../core/apps/validationConfig.ts';
import { toValidationConfiguration } from './appConfigMappers.ts';

export const getAppValidationConfiguration: Operation<GetAppValidationConfigurationRequest, GetAppValidationConfigurationResponse> = {
  input: { appId: appIdField(true) },
  handle: async (input, { core, tenant }) => toValidationConfiguration(await getValidationConfiguration(core, tenant, input.appId!)),
};
