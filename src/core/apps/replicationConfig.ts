/**
 * Put/Get/DeleteAppReplicationConfiguration (spec §7): per-server ServerReplicationParameters, checked with
 * CreateReplicationJob's own rules (core/jobs.ts `checkJobSchedule`, the KMS key's existence) so StartAppReplication
 * can create every job. A Put replaces the whole configuration; it cannot change while the app replicates
 * (the jobs already carry it: StopAppReplication first, or change a job with UpdateReplicationJob).
 */
import type { ServerGroupReplicationConfiguration, ServerReplicationParameters } from '@aws-sdk/client-sms';
import { invalidParameter, missingParameter, notPermitted } from '../../lib/errors.ts';
import { validateJobKey } from '../../kms/keys.ts';
import { checkJobSchedule } from '../jobs.ts';
import { inTransaction, type Core, type Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { checkAppActive, liveJobCount, loadGroups, loadMembers, requireAppForChange, type AppRow, type GroupRow, type MemberRow } from './appRecords.ts';
import { replaceReplicationParameters, updateAppRow } from '../../store/apps/configQueries.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import type { StoredReplicationParameters } from './storedConfig.ts';

/** Locates `serverId` of group `serverGroupId` in the app, or says what is wrong (shared by the Put operations). */
export function memberOf(
  groups: readonly GroupRow[],
  members: readonly MemberRow[],
  app: AppRow,
  serverGroupId: string | undefined,
  serverId: string | undefined,
  path: { group: string; server: string },
): MemberRow {
  if (!serverGroupId) throw missingParameter(`The request is missing the required parameter ${path.group}.serverGroupId.`);
  if (!groups.some((g) => g.server_group_id === serverGroupId)) {
    throw invalidParameter(`${path.group}.serverGroupId: server group ${serverGroupId} is not part of app ${app.app_id} (GetApp lists its groups).`);
  }
  if (!serverId) throw missingParameter(`The request is missing the required parameter ${path.server}.server.serverId.`);
  const member = members.find((m) => m.server_id === serverId);
  if (!member || member.server_group_id !== serverGroupId) {
    throw invalidParameter(`${path.server}.server: server ${serverId} is not in server group ${serverGroupId} of app ${app.app_id}.`);
  }
  return member;
}

/** Replication can be configured only while it is not running. */
export async function checkNotReplicating(tx: Tx, app: AppRow, what: string): Promise<void> {
  checkAppActive(app);
  if ((await liveJobCount(tx, app.app_id)) > 0) {
    throw notPermitted(`App ${app.app_id} is replicating (${app.replication_status}); ${what} only after StopAppReplication.`);
  }
}

export async function putReplicationConfiguration(
  core: Core,
  tenant: Tenant,
  input: { appId: string; serverGroupReplicationConfigurations?: ServerGroupReplicationConfiguration[] },
  options: RefreshOptions,
): Promise<void> {
  if (input.serverGroupReplicationConfigurations === undefined) {
    throw missingParameter('The request is missing the required parameter serverGroupReplicationConfigurations.');
  }
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, input.appId);
    const groups = await loadGroups(tx, app.app_id);
    const members = await loadMembers(tx, app.app_id);
    const configured = new Map<string, StoredReplicationParameters>();
    for (const [i, group] of input.serverGroupReplicationConfigurations!.entries()) {
      for (const [j, entry] of (group.serverReplicationConfigurations ?? []).entries()) {
        const path = { group: `serverGroupReplicationConfigurations[${i}]`, server: `serverGroupReplicationConfigurations[${i}].serverReplicationConfigurations[${j}]` };
        const member = memberOf(groups, members, app, group.serverGroupId, entry.server?.serverId, path);
        if (configured.has(member.server_id)) throw invalidParameter(`${path.server}: server ${member.server_id} is configured twice.`);
        const params = entry.serverReplicationParameters;
        if (!params) throw missingParameter(`The request is missing the required parameter ${path.server}.serverReplicationParameters.`);
        configured.set(member.server_id, await checkParameters(tx, core, tenant, params, now, `${path.server}.serverReplicationParameters.`));
      }
    }
    await checkNotReplicating(tx, app, 'its replication configuration can change');
    await replaceReplicationParameters(tx, app.app_id, new Map([...configured].map(([serverId, params]) => [serverId, JSON.stringify(params)])));
    const patch = { replication_configured: 1, replication_phase: 'NONE', updated_at: now };
    await updateAppRow(tx, app.app_id, patch);
    await refreshApp(tx, { ...app, ...patch }, now, emit, options);
  });
}

async function checkParameters(tx: Tx, core: Core, tenant: Tenant, params: ServerReplicationParameters, now: number, path: string): Promise<StoredReplicationParameters> {
  // A missing seed time means "when replication starts" (StartAppReplication); a given one follows CreateReplicationJob.
  checkJobSchedule(core, { ...params, seedReplicationTime: params.seedTime ?? new Date(now) }, now, path);
  await validateJobKey(tx, tenant, params.kmsKeyId, false, now);
  const stored: StoredReplicationParameters = { ...params, seedTime: params.seedTime?.getTime() };
  if (stored.seedTime === undefined) delete stored.seedTime;
  return stored;
}


export async function deleteReplicationConfiguration(core: Core, tenant: Tenant, appId: string, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    await checkNotReplicating(tx, app, 'its replication configuration can be deleted');
    await replaceReplicationParameters(tx, app.app_id, new Map());
    const patch = { replication_configured: 0, replication_phase: 'NONE', updated_at: now };
    await updateAppRow(tx, app.app_id, patch);
    await refreshApp(tx, { ...app, ...patch }, now, emit, options);
  });
}
