import type { GetAppValidationOutputRequest, GetAppValidationOutputResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getValidationOutput } from '../../core/apps/validationOutput.ts';
import { portsOf } from './appContext.ts';
import { toValidationOutput } from './appConfigMappers.ts';

export const getAppValidationOutput: Operation<GetAppValidationOutputRequest, GetAppValidationOutputResponse> = {
  input: { appId: appIdField(true) },
  async handle(input, ctx) {
    const { outputs, servers } = await getValidationOutput(ctx.core, ctx.tenant, input.appId!, portsOf(ctx));
    return { validationOutputList: outputs.map((row) => toValidationOutput(row, servers)) };
  },
};
