import type { NotifyAppValidationOutputRequest, NotifyAppValidationOutputResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField, notificationContextField } from '../../api/appShapes.ts';
import { notifyValidationOutput } from '../../core/apps/validationOutput.ts';

export const notifyAppValidationOutput: Operation<NotifyAppValidationOutputRequest, NotifyAppValidationOutputResponse> = {
  input: { appId: appIdField(true), notificationContext: notificationContextField },
  async handle(input, { core, tenant }) {
    await notifyValidationOutput(core, tenant, { appId: input.appId!, notificationContext: input.notificationContext as { validationId: string; status: string; statusMessage?: string } });
    return {};
  },
};
