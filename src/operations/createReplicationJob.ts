import type { CreateReplicationJobRequest, CreateReplicationJobResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { bool, int, oneOf, str, timestamp } from '../api/schema.ts';
import { LICENSE_TYPES } from '../domain/enums.ts';
import { createJob } from '../core/jobs.ts';

export const createReplicationJob: Operation<CreateReplicationJobRequest, CreateReplicationJobResponse> = {
  input: {
    serverId: str(true),
    seedReplicationTime: timestamp(true),
    frequency: int(1, 24),
    runOnce: bool(),
    licenseType: oneOf(LICENSE_TYPES),
    roleName: str(),
    description: str(),
    numberOfRecentAmisToKeep: int(0, 270),
    encrypted: bool(),
    kmsKeyId: str(),
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
