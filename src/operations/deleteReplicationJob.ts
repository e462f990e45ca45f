import type { DeleteReplicationJobRequest, DeleteReplicationJobResponse } from '@aws-sdk/client-sms';
import type { Operation } from './operation.ts';
import { str } from '../api/schema.ts';
import { deleteJob } from '../core/jobs.ts';

export const deleteReplicationJob: Operation<DeleteReplicationJobRequest, DeleteReplicationJobResponse> = {
  input: { replicationJobId: str(true) },
  async handle(input, { core, tenant }) {
    await deleteJob(core, tenant, input.replicationJobId!);
    return {};
  },
};
