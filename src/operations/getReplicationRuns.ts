import type { GetReplicationRunsRequest, GetReplicationRunsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../api/operation.ts';
import { str } from '../api/schema.ts';
import { listRuns } from '../core/jobs.ts';

export const getReplicationRuns: Operation<GetReplicationRunsRequest, GetReplicationRunsResponse> = {
  input: { replicationJobId: str(true), ...pageMembers },
  handle: (input, { core, tenant }) => listRuns(core, tenant, { ...input, replicationJobId: input.replicationJobId! }),
};
