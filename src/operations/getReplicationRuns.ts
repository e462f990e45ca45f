import type { GetReplicationRunsRequest, GetReplicationRunsResponse } from '@aws-sdk/client-sms';
import { pageMembers, type Operation } from './operation.ts';
import { str } from '../api/schema.ts';
import { listRuns } from '../core/jobs.ts';
import { toJob, toRun } from './mappers.ts';

export const getReplicationRuns: Operation<GetReplicationRunsRequest, GetReplicationRunsResponse> = {
  input: { replicationJobId: str(true), ...pageMembers },
  async handle(input, { core, tenant }) {
    const page = await listRuns(core, tenant, { ...input, replicationJobId: input.replicationJobId! });
    return { replicationJob: toJob(page.job, page.latestRun), replicationRunList: page.runs.map(toRun), nextToken: page.nextToken };
  },
};
