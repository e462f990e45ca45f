import type { CreateReplicationJobRequest, CreateReplicationJobResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { bool, str, timestamp } from '../api/schema.ts';
import { JOB_SETTINGS_INPUT } from '../api/jobSettings.ts';
import { createJob } from '../core/jobs.ts';

export const createReplicationJob: Operation<CreateReplicationJobRequest, CreateReplicationJobResponse> = {
  input: {
    serverId: str(true),
    seedReplicationTime: timestamp(true),
    runOnce: bool(),
    roleName: str(),
    description: str(),
    ...JOB_SETTINGS_INPUT,
  },
  async handle(input, { core, tenant }) {
    const replicationJobId = await createJob(core, tenant, {
      ...input,
      serverId: input.serverId!,
      seedReplicationTime: input.seedReplicationTime!,
    });
    return { replicationJobId };
  },
};
