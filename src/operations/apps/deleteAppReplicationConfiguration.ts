import type { DeleteAppReplicationConfigurationRequest, DeleteAppReplicationConfigurationResponse } from '@aws-sdk/client-sms';
import type { Operation } from '../operation.ts';
import { appIdField } from '../../api/appShapes.ts';
import { deleteReplicationConfiguration } from '../../core/apps/replicationConfig.ts';
import { refreshOptionsOf } from './appContext.ts';

export const deleteAppReplicationConfiguration: Operation<DeleteAppReplicationConfigurationRequest, DeleteAppReplicationConfigurationResponse> = {
  input: { appId: appIdField() },
  async handle(input, ctx) {
    await deleteReplicationConfiguration(ctx.core, ctx.tenant, input.appId!, refreshOptionsOf(ctx));
    return {};
  },
};
