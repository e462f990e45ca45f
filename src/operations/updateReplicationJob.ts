import type { UpdateReplicationJobRequest, UpdateReplicationJobResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { str, timestamp } from '../api/schema.ts';
import { JOB_SETTINGS_INPUT } from '../api/jobSettings.ts';
import { updateJob } from '../core/jobs.ts';

export const updateReplicationJob: Operation<UpdateReplicationJobRequest, UpdateReplicationJobResponse> = {
  input: {
    replicationJobId: str(true),
    nextReplicationRunStartTime: timestamp(),
    roleName: str(),
    description: str(),
    ...JOB_SETTINGS_INPUT,
  },
  async handle(input, { core, tenant }) {
    await updateJob(core, tenant, { ...input, replicationJobId: input.replicationJobId! });
    return {};
  },
};
