/**
 * GenerateTemplate and GenerateChangeSet (spec §7): the app's launch configuration as a CloudFormation template, and
 * the change set from what the latest launch used to the current configuration — built by the pure builders in
 * domain/appTemplate.ts and appChangeSet.ts — written to the account's artifact bucket `sms-app-ACCOUNT-REGION` (SMS
 * wrote them to the customer's bucket; Ferry's own object store answers the S3 API on its endpoint). Both need the
 * artifact store and a launch configuration with an image for every server.
 */
import type { S3Location } from '@aws-sdk/client-sms';
import { notPermitted } from '../../lib/errors.ts';
import { bucketNameProblem, s3Uri } from '../../domain/s3Location.ts';
import { buildTemplate, defaultLogicalId, type TemplateInput } from '../../domain/appTemplate.ts';
import { buildChangeSet } from '../../domain/appChangeSet.ts';
import type { OutputFormat } from '../../domain/appEnums.ts';
import type { ArtifactStore, AppPorts } from '../../apps/ports.ts';
import type { Core } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { groupMembers, loadLaunchRows, parseJson, requireApp, type AppRow } from './appRecords.ts';
import { launchReadiness, type LaunchReadiness } from './launchPlanning.ts';
import { renderDocument } from './documents.ts';
import * as catalog from '../../store/catalog/index.ts';
import type { LaunchedConfiguration, StoredLaunchConfiguration } from './storedConfig.ts';

/** The account's bucket for what SMS writes (templates, change sets). */
export function artifactBucket(tenant: Tenant): string {
  const bucket = `sms-app-${tenant.accountId}-${tenant.region}`.toLowerCase();
  return bucketNameProblem(bucket) === null ? bucket : `sms-app-${tenant.accountId}`;
}

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

function requireArtifacts(ports: AppPorts, operation: string): ArtifactStore {
  if (!ports.artifacts) throw notPermitted(`${operation} writes to Ferry's artifact store (S3 API), which this Ferry runs without.`);
  return ports.artifacts;
}

/** The current configuration in the shape a launch records it. */
async function currentConfiguration(core: Core, app: AppRow, operation: string): Promise<{ readiness: LaunchReadiness; configuration: LaunchedConfiguration }> {
  const readiness = await launchReadiness(core.db, app);
  if (readiness.problems.length > 0) throw notPermitted(`${operation} needs a launch configuration and an image for every server: ${readiness.problems.join('; ')}.`);
  const ids = readiness.members.map((m) => m.server_id);
  const vmNames = await catalog.vmNamesOf(core.db, ids);
  return {
    readiness,
    configuration: {
      groups: groupMembers(readiness.groups, readiness.members).map(({ group, members }) => ({
        serverGroupId: group.server_group_id,
        name: group.name,
        launchOrder: group.launch_order,
        servers: members.map((m) => ({
          serverId: m.server_id,
          amiId: readiness.images.get(m.server_id)!,
          vmName: vmNames.get(m.server_id),
          configuration: parseJson<StoredLaunchConfiguration>(m.launch_configuration)!,
        })),
      })),
    },
  };
}

/** Template input from a configuration; user data is read from the artifact store. */
async function templateInput(app: AppRow, configuration: LaunchedConfiguration, artifacts: ArtifactStore): Promise<TemplateInput> {
  const groups = [];
  for (const group of configuration.groups) {
    const servers = [];
    for (const server of group.servers) {
      const c = server.configuration;
      let userData: Buffer | undefined;
      if (c.userData) {
        const object = await artifacts.getObject(app.account_id, c.userData.bucket, c.userData.key);
        if (!object) throw notPermitted(`The user data of server ${server.serverId}, ${s3Uri(c.userData)}, does not exist; upload it or change the launch configuration.`);
        userData = object.body;
      }
      servers.push({
        serverId: server.serverId,
        logicalId: c.logicalId ?? defaultLogicalId(server.serverId),
        amiId: server.amiId,
        instanceType: c.instanceType!,
        vmName: server.vmName,
        vpc: c.vpc,
        subnet: c.subnet,
        securityGroup: c.securityGroup,
        ec2KeyName: c.ec2KeyName,
        associatePublicIpAddress: c.associatePublicIpAddress,
        iamInstanceProfileName: c.iamInstanceProfileName,
        userData,
      });
    }
    groups.push({ serverGroupId: group.serverGroupId, name: group.name, launchOrder: group.launchOrder, servers });
  }
  return { appId: app.app_id, appName: app.name, groups };
}

async function write(core: Core, tenant: Tenant, artifacts: ArtifactStore, key: string, document: unknown, format: OutputFormat): Promise<S3Location> {
  const rendered = renderDocument(document, format);
  const bucket = artifactBucket(tenant);
  await artifacts.ensureBucket(tenant.accountId, bucket, tenant.region);
  const fullKey = `${key}.${rendered.extension}`;
  await artifacts.putObject(tenant.accountId, bucket, fullKey, rendered.body, { contentType: rendered.contentType });
  return { bucket, key: fullKey };
}

export async function generateTemplate(core: Core, tenant: Tenant, input: { appId: string; templateFormat?: OutputFormat }, ports: AppPorts): Promise<S3Location> {
  const app = await requireApp(core.db, tenant, input.appId);
  const { configuration } = await currentConfiguration(core, app, 'GenerateTemplate');
  const artifacts = requireArtifacts(ports, 'GenerateTemplate');
  const template = buildTemplate(await templateInput(app, configuration, artifacts));
  const key = `${app.app_id}/templates/${app.app_id}-${stamp(core.clock.now())}`;
  return write(core, tenant, artifacts, key, template, input.templateFormat ?? 'JSON');
}

export async function generateChangeSet(core: Core, tenant: Tenant, input: { appId: string; changesetFormat?: OutputFormat }, ports: AppPorts): Promise<S3Location> {
  const app = await requireApp(core.db, tenant, input.appId);
  const launched = parseJson<LaunchedConfiguration>(app.launched_configuration);
  if (!launched || app.launch_phase !== 'LAUNCH' || !['LAUNCHED', 'PARTIALLY_LAUNCHED'].includes(app.launch_status)) {
    throw notPermitted(`GenerateChangeSet compares a launched app with its launch configuration; app ${app.app_id} is ${app.launch_status} (LaunchApp first).`);
  }
  const { configuration } = await currentConfiguration(core, app, 'GenerateChangeSet');
  const artifacts = requireArtifacts(ports, 'GenerateChangeSet');
  const rows = await loadLaunchRows(core.db, app);
  const instanceOf = new Map(rows.filter((r) => r.instance_id !== null).map((r) => [r.server_id, r.instance_id!]));
  const physicalIds = new Map<string, string>();
  for (const server of launched.groups.flatMap((g) => g.servers)) {
    const instanceId = instanceOf.get(server.serverId);
    if (instanceId) physicalIds.set(server.configuration.logicalId ?? defaultLogicalId(server.serverId), instanceId);
  }
  const now = stamp(core.clock.now());
  const changeSet = buildChangeSet({
    changeSetName: `${app.stack_name}-changeset-${now}`,
    stackName: app.stack_name!,
    stackId: app.stack_id!,
    launched: buildTemplate(await templateInput(app, launched, artifacts)),
    current: buildTemplate(await templateInput(app, configuration, artifacts)),
    physicalIds,
  });
  return write(core, tenant, artifacts, `${app.app_id}/changesets/${app.app_id}-${now}`, changeSet, input.changesetFormat ?? 'JSON');
}
