/**
 * What LaunchApp (and autoLaunch) need from the store before a launch — a launch configuration with an instance type
 * for every server, and an image (the latest AMI of the server's app replication job) for every server — and writing
 * a launch's plan: one app_instances row per server with its wave, in the transaction that accepts the launch. The
 * coordinator (launchCoordinator.ts) then starts the waves; a row exists before its instance, so nothing is launched
 * twice.
 */
import { randomUUID } from 'node:crypto';
import { launchWaves } from '../../domain/appLaunchPlan.ts';
import { newLaunchToken } from '../../lib/ids.ts';
import type { Core, Tx } from '../context.ts';
import { groupMembers, loadGroups, loadMembers, parseJson, type AppRow, type GroupRow, type MemberRow } from './appRecords.ts';
import type { LaunchedConfiguration, StoredLaunchConfiguration } from './storedConfig.ts';
import * as catalog from '../../store/catalog/index.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';
import { insertLaunchRow, selectLatestImages } from '../../store/apps/launchQueries.ts';

export interface LaunchReadiness {
  problems: string[];
  groups: GroupRow[];
  members: MemberRow[];
  /** serverId → the AMI the server launches from. */
  images: Map<string, string>;
}

/** Instance types, not just a configuration, are what a launch needs of every server. */
export function launchConfigurationGaps(app: AppRow, members: readonly MemberRow[]): string[] {
  if (members.length === 0) return ['the app has no servers (UpdateApp adds some)'];
  if (app.launch_configured !== 1) return ['the app has no launch configuration (PutAppLaunchConfiguration)'];
  return members
    .filter((m) => parseJson<StoredLaunchConfiguration>(m.launch_configuration)?.instanceType === undefined)
    .map((m) => `server ${m.server_id} has no launch configuration with an instanceType (PutAppLaunchConfiguration)`);
}

export async function launchReadiness(tx: Tx | Core['db'], app: AppRow): Promise<LaunchReadiness> {
  const groups = await loadGroups(tx, app.app_id);
  const members = await loadMembers(tx, app.app_id);
  const problems = launchConfigurationGaps(app, members);
  const jobIds = members.map((m) => m.replication_job_id).filter((id): id is string => id !== null);
  const amiOfJob = await selectLatestImages(tx, jobIds);
  const images = new Map<string, string>();
  for (const member of members) {
    const ami = member.replication_job_id === null ? null : (amiOfJob.get(member.replication_job_id) ?? null);
    if (ami === null) problems.push(`server ${member.server_id} has no image yet (StartAppReplication, then wait for REPLICATED)`);
    else images.set(member.server_id, ami);
  }
  return { problems, groups, members, images };
}

/** SMS launched apps as CloudFormation stacks named `sms-app-…` (spec §7); Ferry keeps the name per app. */
export const stackNameOf = (appId: string): string => `sms-app-${appId.replace(/^app-/, '')}`;

/**
 * Writes launch number `launch_seq + 1`: its rows (`planned`, or `failed` with `failure` when the launch cannot
 * start at all, e.g. autoLaunch without a launch subsystem), the stack name and a new stack id, and a snapshot of the
 * configuration it uses. Returns the app row as updated.
 */
export async function planLaunchIn(tx: Tx, app: AppRow, readiness: LaunchReadiness, now: number, failure: string | null): Promise<AppRow> {
  const launchSeq = app.launch_seq + 1;
  const byGroup = groupMembers(readiness.groups, readiness.members);
  const waves = launchWaves(byGroup.map(({ group, members }) => ({ launchOrder: group.launch_order, serverIds: members.map((m) => m.server_id) })));
  const waveOf = new Map<string, number>();
  waves.forEach((servers, wave) => servers.forEach((id) => waveOf.set(id, wave)));
  for (const member of readiness.members) {
    await insertLaunchRow(tx, {
      app_id: app.app_id,
      account_id: app.account_id,
      region: app.region,
      launch_seq: launchSeq,
      server_id: member.server_id,
      wave: waveOf.get(member.server_id) ?? 0,
      ami_id: readiness.images.get(member.server_id) ?? '',
      launch_token: newLaunchToken(),
      instance_id: null,
      state: failure === null ? 'planned' : 'failed',
      message: failure,
      requested_at: null,
      running_at: null,
      updated_at: now,
    });
  }
  const vmNames = await catalog.vmNamesOf(tx, readiness.members.map((m) => m.server_id));
  const launched: LaunchedConfiguration = {
    groups: byGroup.map(({ group, members }) => ({
      serverGroupId: group.server_group_id,
      name: group.name,
      launchOrder: group.launch_order,
      servers: members.map((m) => ({
        serverId: m.server_id,
        amiId: readiness.images.get(m.server_id) ?? '',
        vmName: vmNames.get(m.server_id),
        configuration: parseJson<StoredLaunchConfiguration>(m.launch_configuration) ?? {},
      })),
    })),
  };
  const stackName = stackNameOf(app.app_id);
  const patch = {
    launch_phase: 'LAUNCH',
    launch_seq: launchSeq,
    stack_name: stackName,
    stack_id: `arn:aws:cloudformation:${app.region}:${app.account_id}:stack/${stackName}/${randomUUID()}`,
    launched_configuration: JSON.stringify(launched),
    updated_at: now,
  };
  await updateAppRow(tx, app.app_id, patch);
  return { ...app, ...patch };
}
