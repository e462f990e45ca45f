import type { Operation } from '../operation.ts';
import { str } from '../../api/schema.ts';
import { invalidParameter } from '../../lib/errors.ts';
import { onDemandQuota } from '../../domain/jobLifecycle.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { FerryInput, FerryOutput } from '../../api/ferryWire.ts';
import * as jobs from '../../store/jobs/index.ts';
import * as runs from '../../store/runs/index.ts';

/** How many on-demand runs a job may still start in the rolling 24 hours (StartOnDemandReplicationRun's limit). */
export const getOnDemandQuota: Operation<FerryInput<'GetOnDemandQuota'>, FerryOutput<'GetOnDemandQuota', Date>> = {
  input: { replicationJobId: str(true) },
  async handle(input, { core, tenant }) {
    const job = await jobs.getInTenant(core.db, tenant, input.replicationJobId!);
    if (!job) throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
    const now = core.clock.now();
    const recent = await runs.onDemandCreatedAfter(core.db, job.replication_job_id, now - core.policy.onDemandWindowMs);
    // The rule is the one StartOnDemandReplicationRun applies (domain/jobLifecycle.ts).
    const rule = onDemandQuota(recent, now, core.policy);
    const quota: FerryOutput<'GetOnDemandQuota', Date> = { replicationJobId: job.replication_job_id, limit: rule.limit, used: rule.used, windowHours: rule.windowMs / 3_600_000 };
    if (rule.nextAvailableAt !== null) quota.nextAvailableAt = epochDate(rule.nextAvailableAt);
    return quota;
  },
};
