import type { StartOnDemandReplicationRunRequest, StartOnDemandReplicationRunResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { str } from '../api/schema.ts';
import { startOnDemandRun } from '../core/jobs.ts';

export const startOnDemandReplicationRun: Operation<StartOnDemandReplicationRunRequest, StartOnDemandReplicationRunResponse> = {
  input: { replicationJobId: str(true), description: str() },
  async handle(input, { core, tenant }) {
    const replicationRunId = await startOnDemandRun(core, tenant, { replicationJobId: input.replicationJobId!, description: input.description });
    return { replicationRunId };
  },
};
