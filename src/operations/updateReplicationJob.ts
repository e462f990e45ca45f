import type { UpdateReplicationJobRequest, UpdateReplicationJobResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { bool, int, oneOf, str, timestamp } from '../api/schema.ts';
import { LICENSE_TYPES } from '../domain/enums.ts';
import { updateJob } from '../core/jobs.ts';

export const updateReplicationJob: Operation<UpdateReplicationJobRequest, UpdateReplicationJobResponse> = {
  input: {
    replicationJobId: str(true),
    frequency: int(1, 24),
    nextReplicationRunStartTime: timestamp(),
    licenseType: oneOf(LICENSE_TYPES),
    roleName: str(),
    description: str(),
    numberOfRecentAmisToKeep: int(0, 270),
    encrypted: bool(),
    kmsKeyId: str(),
  },
  async handle(input, { core, tenant }) {
    await updateJob(core, tenant, { ...input, replicationJobId: input.replicationJobId! });
    return {};
  },
};
