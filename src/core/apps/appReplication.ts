/**
 * StartAppReplication, StartOnDemandAppReplication and StopAppReplication (spec §7) drive the replication engine
 * itself: one replication job per server, created, started on demand and deleted with the same code — and so the same
 * rules and limits — as CreateReplicationJob, StartOnDemandReplicationRun and DeleteReplicationJob (core/jobs.ts),
 * all or nothing in one transaction. The app's replicationStatus then follows its jobs (refreshApps.ts).
 */
import { ServiceError, notPermitted } from '../../lib/errors.ts';
import { cancelJob, checkJobSchedule, createJobIn, startOnDemandRunIn } from '../jobs.ts';
import { inTransaction, type Core, type Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { FerryEvent } from '../events.ts';
import { checkAppActive, liveJobCount, loadMembers, parseJson, requireAppForChange, type AppRow } from './appRecords.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import type { StoredReplicationParameters } from './storedConfig.ts';
import * as jobs from '../../store/jobs/index.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';
import { linkMemberJob } from '../../store/apps/membershipQueries.ts';

/** The App operations list only these errors (spec §8); a job's own refusal is reported as one of them, naming the server. */
function asAppError(serverId: string, error: unknown): unknown {
  if (!(error instanceof ServiceError)) return error;
  if (error.code === 'InvalidParameterException' || error.code === 'MissingRequiredParameterException' || error.code === 'OperationNotPermittedException') {
    return new ServiceError(error.code, `Server ${serverId}: ${error.message}`);
  }
  return notPermitted(`Server ${serverId}: ${error.message}`);
}

export async function startAppReplication(core: Core, tenant: Tenant, appId: string, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    const members = await loadMembers(tx, app.app_id);
    checkAppActive(app);
    if (members.length === 0) throw notPermitted(`App ${app.app_id} has no servers; add some with UpdateApp.`);
    const unconfigured = members.filter((m) => m.replication_parameters === null).map((m) => m.server_id);
    if (unconfigured.length > 0) {
      throw notPermitted(`Servers ${unconfigured.join(', ')} of app ${app.app_id} have no replication parameters; set them with PutAppReplicationConfiguration.`);
    }
    // A replication whose jobs all ended (a one-time replication done, or stopped) may start again: new jobs for all.
    if ((await liveJobCount(tx, app.app_id)) > 0) {
      if (app.replication_phase === 'STOPPING') throw notPermitted(`App ${app.app_id} is stopping its replication; start it again once it is REPLICATION_STOPPED.`);
      throw notPermitted(`App ${app.app_id} is already replicating (${app.replication_status}); StartOnDemandAppReplication starts another run.`);
    }
    for (const member of members) {
      const params = parseJson<StoredReplicationParameters>(member.replication_parameters)!;
      try {
        const input = {
          serverId: member.server_id,
          seedReplicationTime: new Date(params.seedTime ?? now),
          frequency: params.frequency,
          runOnce: params.runOnce,
          licenseType: params.licenseType,
          roleName: app.role_name ?? undefined,
          description: `Replication of app ${app.name} (${app.app_id})`,
          numberOfRecentAmisToKeep: params.numberOfRecentAmisToKeep,
          encrypted: params.encrypted,
          kmsKeyId: params.kmsKeyId,
        };
        const seed = checkJobSchedule(core, input, now);
        const jobId = await createJobIn(tx, emit, core, tenant, input, seed, now);
        await linkMemberJob(tx, member.server_id, jobId);
      } catch (error) {
        throw asAppError(member.server_id, error);
      }
    }
    const patch = { replication_phase: 'STARTED', updated_at: now };
    await updateAppRow(tx, app.app_id, patch);
    await refreshApp(tx, { ...app, ...patch }, now, emit, options);
  });
}

async function requireReplicating(tx: Tx, app: AppRow, operation: string): Promise<void> {
  checkAppActive(app);
  if (app.replication_phase !== 'STARTED' || (await liveJobCount(tx, app.app_id)) === 0) {
    throw notPermitted(`App ${app.app_id} is not replicating (${app.replication_status}); ${operation} needs StartAppReplication first.`);
  }
}

export async function startOnDemandAppReplication(core: Core, tenant: Tenant, input: { appId: string; description?: string }): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, input.appId);
    await requireReplicating(tx, app, 'StartOnDemandAppReplication');
    for (const member of await loadMembers(tx, app.app_id)) {
      if (member.replication_job_id === null) continue;
      try {
        await startOnDemandRunIn(tx, emit, core, tenant, { replicationJobId: member.replication_job_id, description: input.description }, now);
      } catch (error) {
        throw asAppError(member.server_id, error);
      }
    }
    // The runs' events reach the app status hook, which moves the app to DELTA_REPLICATION_IN_PROGRESS once one starts.
  });
}

/** Deletes the app's live jobs (their images are kept); the app is REPLICATION_STOPPING until they are gone. */
export async function stopReplicationIn(tx: Tx, app: AppRow, now: number, emit: (e: FerryEvent) => void): Promise<AppRow> {
  for (const member of await loadMembers(tx, app.app_id)) {
    if (member.replication_job_id === null) continue;
    const job = await jobs.get(tx, member.replication_job_id);
    if (!job || ['DELETING', 'DELETED', 'COMPLETED', 'FAILED'].includes(job.state)) continue;
    await cancelJob(tx, job, 'DELETING', `Deleting: the replication of app ${app.app_id} was stopped.`, now, emit);
  }
  emit({ type: 'schedule.changed' });
  const patch = { replication_phase: 'STOPPING', updated_at: now };
  await updateAppRow(tx, app.app_id, patch);
  return { ...app, ...patch };
}

export async function stopAppReplication(core: Core, tenant: Tenant, appId: string, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    await requireReplicating(tx, app, 'StopAppReplication');
    await refreshApp(tx, await stopReplicationIn(tx, app, now, emit), now, emit, options);
  });
}
