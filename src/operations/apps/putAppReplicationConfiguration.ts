import type { PutAppReplicationConfigurationRequest, PutAppReplicationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField, serverGroupReplicationConfigurationsField } from '../../api/appShapes.ts';
import { putReplicationConfiguration } from '../../core/apps/replicationConfig.ts';
import { refreshOptionsOf } from './appContext.ts';

export const putAppReplicationConfiguration: Operation<PutAppReplicationConfigurationRequest, PutAppReplicationConfigurationResponse> = {
  input: { appId: appIdField(), serverGroupReplicationConfigurations: serverGroupReplicationConfigurationsField },
  async handle(input, ctx) {
    await putReplicationConfiguration(ctx.core, ctx.tenant, { ...input, appId: input.appId! }, refreshOptionsOf(ctx));
    return {};
  },
};
