import type { Operation } from '../operation.ts';
import { str } from '../../api/schema.ts';
import { invalidParameter } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { FerryInput, FerryOutput } from '../../api/ferryWire.ts';
import * as runs from '../../store/runs/index.ts';

/** The live byte progress the connector last reported for a run (the SMS shapes only carry stage strings). */
export const getRunProgress: Operation<FerryInput<'GetRunProgress'>, FerryOutput<'GetRunProgress', Date>> = {
  input: { replicationRunId: str(true) },
  async handle(input, { core, tenant }) {
    const run = await runs.getInTenant(core.db, tenant, input.replicationRunId!);
    if (!run) throw invalidParameter(`Replication run ${input.replicationRunId} does not exist.`);
    const progress = (run.progress ? JSON.parse(run.progress) : {}) as { bytesDone?: number; bytesTotal?: number; bytesPerSecond?: number };
    const active = run.state === 'ACTIVE';
    const left = progress.bytesTotal !== undefined && progress.bytesDone !== undefined ? progress.bytesTotal - progress.bytesDone : undefined;
    return {
      replicationRunId: run.replication_run_id,
      replicationJobId: run.replication_job_id,
      state: run.state,
      stage: active ? (run.stage ?? undefined) : undefined,
      stageProgress: active ? (run.stage_progress ?? undefined) : undefined,
      bytesDone: progress.bytesDone,
      bytesTotal: progress.bytesTotal,
      bytesPerSecond: progress.bytesPerSecond,
      etaSeconds:
        active && run.stage === 'Uploading' && left !== undefined && progress.bytesPerSecond ? Math.ceil(left / progress.bytesPerSecond) : undefined,
      updatedAt: epochDate(run.updated_at),
    };
  },
};
