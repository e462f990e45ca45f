import type { GetReplicationJobsRequest, GetReplicationJobsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../api/operation.ts';
import { str } from '../api/schema.ts';
import { listJobs } from '../core/jobs.ts';

export const getReplicationJobs: Operation<GetReplicationJobsRequest, GetReplicationJobsResponse> = {
  input: { replicationJobId: str(), ...pageMembers },
  handle: (input, { core, tenant }) => listJobs(core, tenant, input),
};
