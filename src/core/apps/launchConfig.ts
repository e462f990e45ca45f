/**
 * Put/Get/DeleteAppLaunchConfiguration (spec §7). A Put replaces the per-server launch configuration and the groups'
 * launchOrder (when `serverGroupLaunchConfigurations` is given) and sets the CloudFormation roleName and autoLaunch.
 * Checked: `instanceType` against EC2's published sizes (domain/instanceTypes.ts), S3 locations well-formed (and
 * present, when the artifact store is wired), `ec2KeyName` an imported key pair, logical ids unique, every server in
 * the app, and the network names through the launch subsystem when it is wired (`validateNetwork`).
 */
import type { ServerGroupLaunchConfiguration, ServerLaunchConfiguration } from '@aws-sdk/client-sms';
import { invalidParameter, missingParameter, notPermitted } from '../../lib/errors.ts';
import { instanceSize, unknownInstanceTypeMessage } from '../../domain/instanceTypes.ts';
import { s3LocationProblem, s3Uri, type S3Location } from '../../domain/s3Location.ts';
import { defaultLogicalId } from '../../domain/appTemplate.ts';
import type { AppPorts } from '../../apps/ports.ts';
import { inTransaction, type Core } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { checkAppActive, loadGroups, loadMembers, requireApp, requireAppForChange, type AppRow } from './appRecords.ts';
import { replaceLaunchConfiguration, updateAppRow } from '../../store/apps/configQueries.ts';
import { findKeyPair } from './keyPairs.ts';
import { memberOf } from './replicationConfig.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import type { StoredLaunchConfiguration } from './storedConfig.ts';

export interface PutLaunchInput {
  appId: string;
  roleName?: string;
  autoLaunch?: boolean;
  serverGroupLaunchConfigurations?: ServerGroupLaunchConfiguration[];
}

interface CheckedEntry {
  serverGroupId: string;
  groupPath: string;
  serverId: string;
  path: string;
  configuration: StoredLaunchConfiguration;
}

function wellFormed(location: Partial<S3Location> | undefined, path: string): S3Location | undefined {
  if (location === undefined) return undefined;
  const problem = s3LocationProblem(location, path);
  if (problem) throw invalidParameter(problem);
  return { bucket: location.bucket!, key: location.key! };
}

/** The checks one entry needs without the store: required members, formats, the instance-type table. */
function checkEntry(entry: ServerLaunchConfiguration, path: string): StoredLaunchConfiguration {
  if (entry.instanceType !== undefined && !instanceSize(entry.instanceType)) throw invalidParameter(`${path}.instanceType: ${unknownInstanceTypeMessage(entry.instanceType)}`);
  const userData = wellFormed(entry.userData?.s3Location, `${path}.userData.s3Location`);
  if (entry.userData !== undefined && userData === undefined) throw missingParameter(`The request is missing the required parameter ${path}.userData.s3Location.`);
  const configureScript = wellFormed(entry.configureScript, `${path}.configureScript`);
  if (configureScript !== undefined && entry.configureScriptType === undefined) {
    throw missingParameter(`The request is missing the required parameter ${path}.configureScriptType (required with configureScript).`);
  }
  const { server: _server, userData: _userData, configureScript: _script, ...plain } = entry;
  const stored: StoredLaunchConfiguration = { ...plain };
  if (userData) stored.userData = userData;
  if (configureScript) stored.configureScript = configureScript;
  return stored;
}

/** Checks that need the subsystems: network names (launch subsystem) and the S3 objects (artifact store). */
async function checkWithPorts(tenant: Tenant, entries: readonly CheckedEntry[], ports: AppPorts): Promise<void> {
  const names = entries.some(({ configuration: c }) => c.vpc !== undefined || c.subnet !== undefined || c.securityGroup !== undefined);
  // Network names are checked where libvirt answers; where launching is unavailable right now they are stored as
  // given and checked at launch (resolveNetwork), which refuses a missing one with the same message.
  const canCheckNetworks = names && ports.instances !== undefined && (await ports.instances.availability().catch(() => ({ available: false }))).available;
  for (const entry of entries) {
    const { vpc, subnet, securityGroup, userData, configureScript } = entry.configuration;
    if (canCheckNetworks && ports.instances && (vpc !== undefined || subnet !== undefined || securityGroup !== undefined)) {
      try {
        await ports.instances.validateNetwork({ vpc, subnet, securityGroup });
      } catch (error) {
        throw invalidParameter(`${entry.path}: ${(error as Error).message}`);
      }
    }
    if (!ports.artifacts) continue;
    for (const [member, location] of [['userData.s3Location', userData], ['configureScript', configureScript]] as const) {
      if (location && !(await ports.artifacts.headObject(tenant.accountId, location.bucket, location.key))) {
        throw invalidParameter(`${entry.path}.${member}: ${s3Uri(location)} does not exist in this account's buckets; upload it first.`);
      }
    }
  }
}

/** A launch or termination under way: its configuration cannot change under it. */
export function checkNotLaunching(app: AppRow, what: string): void {
  checkAppActive(app);
  if (['LAUNCH_PENDING', 'LAUNCH_IN_PROGRESS', 'TERMINATE_IN_PROGRESS'].includes(app.launch_status)) {
    throw notPermitted(`App ${app.app_id} is ${app.launch_status}; ${what} once it has finished.`);
  }
}

export async function putLaunchConfiguration(core: Core, tenant: Tenant, input: PutLaunchInput, ports: AppPorts, options: RefreshOptions): Promise<void> {
  const entries: CheckedEntry[] = [];
  const launchOrders = new Map<string, number | null>();
  for (const [i, group] of (input.serverGroupLaunchConfigurations ?? []).entries()) {
    const groupPath = `serverGroupLaunchConfigurations[${i}]`;
    if (!group.serverGroupId) throw missingParameter(`The request is missing the required parameter ${groupPath}.serverGroupId.`);
    if (launchOrders.has(group.serverGroupId)) throw invalidParameter(`${groupPath}: server group ${group.serverGroupId} is configured twice.`);
    launchOrders.set(group.serverGroupId, group.launchOrder ?? null);
    for (const [j, entry] of (group.serverLaunchConfigurations ?? []).entries()) {
      const path = `${groupPath}.serverLaunchConfigurations[${j}]`;
      if (!entry.server?.serverId) throw missingParameter(`The request is missing the required parameter ${path}.server.serverId.`);
      entries.push({ serverGroupId: group.serverGroupId, groupPath, serverId: entry.server.serverId, path, configuration: checkEntry(entry, path) });
    }
  }
  const preview = await requireApp(core.db, tenant, input.appId);
  await checkWithPorts(tenant, entries, ports);
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, preview.app_id);
    const groups = await loadGroups(tx, app.app_id);
    const members = await loadMembers(tx, app.app_id);
    const seen = new Set<string>();
    const logicalIds = new Map<string, string>();
    for (const [i, group] of (input.serverGroupLaunchConfigurations ?? []).entries()) {
      if (!groups.some((g) => g.server_group_id === group.serverGroupId)) {
        throw invalidParameter(`serverGroupLaunchConfigurations[${i}].serverGroupId: server group ${group.serverGroupId} is not part of app ${app.app_id}.`);
      }
    }
    for (const entry of entries) {
      memberOf(groups, members, app, entry.serverGroupId, entry.serverId, { group: entry.groupPath, server: entry.path });
      if (seen.has(entry.serverId)) throw invalidParameter(`${entry.path}: server ${entry.serverId} is configured twice.`);
      seen.add(entry.serverId);
      const logicalId = entry.configuration.logicalId ?? defaultLogicalId(entry.serverId);
      const clash = logicalIds.get(logicalId);
      if (clash) throw invalidParameter(`${entry.path}.logicalId: ${logicalId} is already the logical id of server ${clash}; logical ids are unique in an app.`);
      logicalIds.set(logicalId, entry.serverId);
      const keyName = entry.configuration.ec2KeyName;
      if (keyName !== undefined && !(await findKeyPair(tx, tenant, keyName))) {
        throw invalidParameter(`${entry.path}.ec2KeyName: no key pair ${JSON.stringify(keyName)} in this account and region; import one with \`ferry key-pairs import ${keyName} --public-key-file FILE\`.`);
      }
    }
    checkNotLaunching(app, 'its launch configuration can change');
    if (input.serverGroupLaunchConfigurations !== undefined) {
      await replaceLaunchConfiguration(tx, app.app_id, launchOrders, new Map(entries.map((entry) => [entry.serverId, JSON.stringify(entry.configuration)])));
    }
    const patch = {
      launch_configured: 1,
      launch_role_name: input.roleName ?? app.launch_role_name,
      auto_launch: input.autoLaunch === undefined ? app.auto_launch : input.autoLaunch ? 1 : 0,
      updated_at: now,
    };
    await updateAppRow(tx, app.app_id, patch);
    await refreshApp(tx, { ...app, ...patch }, now, emit, options);
  });
}

export async function deleteLaunchConfiguration(core: Core, tenant: Tenant, appId: string, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    checkNotLaunching(app, 'its launch configuration can be deleted');
    await replaceLaunchConfiguration(tx, app.app_id, new Map(), new Map());
    const patch = { launch_configured: 0, launch_role_name: null, auto_launch: 0, updated_at: now };
    await updateAppRow(tx, app.app_id, patch);
    await refreshApp(tx, { ...app, ...patch }, now, emit, options);
  });
}
