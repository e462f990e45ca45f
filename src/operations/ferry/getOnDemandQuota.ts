import type { Operation } from '../../api/operation.ts';
import { str } from '../../api/schema.ts';
import { invalidParameter } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { FerryInput, FerryOutput } from '../../api/ferryWire.ts';

/** How many on-demand runs a job may still start in the rolling 24 hours (StartOnDemandReplicationRun's limit). */
export const getOnDemandQuota: Operation<FerryInput<'GetOnDemandQuota'>, FerryOutput<'GetOnDemandQuota', Date>> = {
  input: { replicationJobId: str(true) },
  async handle(input, { core, tenant }) {
    const job = await core.db
      .selectFrom('jobs')
      .select('replication_job_id')
      .where('replication_job_id', '=', input.replicationJobId!)
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .executeTakeFirst();
    if (!job) throw invalidParameter(`Replication job ${input.replicationJobId} does not exist.`);
    const now = core.clock.now();
    const { onDemandRunsPerWindow: limit, onDemandWindowMs: window } = core.policy;
    const recent = await core.db
      .selectFrom('runs')
      .select('created_at')
      .where('replication_job_id', '=', job.replication_job_id)
      .where('type', '=', 'ON_DEMAND')
      .where('created_at', '>', now - window)
      .orderBy('created_at', 'asc')
      .execute();
    const quota: FerryOutput<'GetOnDemandQuota', Date> = { replicationJobId: job.replication_job_id, limit, used: recent.length, windowHours: window / 3_600_000 };
    if (recent.length >= limit) quota.nextAvailableAt = epochDate(recent[recent.length - limit]!.created_at + window);
    return quota;
  },
};
