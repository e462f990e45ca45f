import type { DeleteAppValidationConfigurationRequest, DeleteAppValidationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { deleteValidationConfiguration } from '../../core/apps/validationConfig.ts';

export const deleteAppValidationConfiguration: Operation<DeleteAppValidationConfigurationRequest, DeleteAppValidationConfigurationResponse> = {
  input: { appId: appIdField(true) },
  async handle(input, { core, tenant }) {
    await deleteValidationConfiguration(core, tenant, input.appId!);
    return {};
  },
};
