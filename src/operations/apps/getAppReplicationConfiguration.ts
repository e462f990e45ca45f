import type { GetAppReplicationConfigurationRequest, GetAppReplicationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { getApp } from '../../core/apps/apps.ts';
import { toReplicationConfigurations } from './appConfigMappers.ts';

export const getAppReplicationConfiguration: Operation<GetAppReplicationConfigurationRequest, GetAppReplicationConfigurationResponse> = {
  input: { appId: appIdField() },
  async handle(input, { core, tenant }) {
    return { serverGroupReplicationConfigurations: toReplicationConfigurations(await getApp(core, tenant, input.appId!)) };
  },
};
