import type { GetReplicationJobsRequest, GetReplicationJobsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from '../api/operation.ts';
import { str } from '../api/schema.ts';
import { listJobsEncoded } from '../core/jobs.ts';
import type { EncodedJson } from '../protocol/awsJson.ts';

export const getReplicationJobs: Operation<GetReplicationJobsRequest, GetReplicationJobsResponse | EncodedJson> = {
  input: { replicationJobId: str(), ...pageMembers },
  // The page is JSON text written straight from the rows (core/jobPageEncoding.ts): half the cost of mapping + stringify.
  handle: (input, { core, tenant }) => listJobsEncoded(core, tenant, input),
};
