/**
 * GenerateTemplate's CloudFormation template, built from an app's launch configuration as a plain object (the caller
 * writes it as JSON or YAML): one `AWS::EC2::Instance` per server with its image (the server's latest AMI), instance
 * type, key pair, IAM instance profile, user data, and network — `SubnetId`/`SecurityGroupIds`, or a
 * `NetworkInterfaces` entry when `associatePublicIpAddress` is set (CloudFormation refuses both forms together) — and
 * `DependsOn` naming every instance of the previous launch wave (appLaunchPlan.ts), so CloudFormation creates the
 * groups in `launchOrder`. Pure and deterministic: the same configuration gives the same template.
 */
import { launchWaves } from './appLaunchPlan.ts';

export interface TemplateServer {
  serverId: string;
  /** The server's CloudFormation logical id (launch configuration `logicalId`, or derived from the server id). */
  logicalId: string;
  amiId: string;
  instanceType: string;
  vmName?: string;
  vpc?: string;
  subnet?: string;
  securityGroup?: string;
  ec2KeyName?: string;
  associatePublicIpAddress?: boolean;
  iamInstanceProfileName?: string;
  /** The user-data object's bytes. */
  userData?: Buffer;
}

export interface TemplateGroup {
  serverGroupId: string;
  name: string;
  launchOrder: number | null;
  servers: readonly TemplateServer[];
}

export interface TemplateInput {
  appId: string;
  appName: string;
  groups: readonly TemplateGroup[];
}

export type CfnValue = string | number | boolean | null | CfnValue[] | { [key: string]: CfnValue };
export interface CfnResource {
  Type: string;
  DependsOn?: string[];
  Metadata?: { [key: string]: CfnValue };
  Properties: { [key: string]: CfnValue };
}
export interface CfnTemplate {
  AWSTemplateFormatVersion: '2010-09-09';
  Description: string;
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, { Description: string; Value: CfnValue }>;
}

export function defaultLogicalId(serverId: string): string {
  return `Server${serverId.replace(/[^A-Za-z0-9]/g, '')}`;
}

/** User data as text where it is text (readable in the template), as base64 where it is binary. */
function userDataValue(bytes: Buffer): CfnValue {
  const text = bytes.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(bytes) && !text.includes('\u0000');
  return isText ? { 'Fn::Base64': text } : bytes.toString('base64');
}

function instanceProperties(appId: string, group: TemplateGroup, server: TemplateServer): { [key: string]: CfnValue } {
  const props: { [key: string]: CfnValue } = { ImageId: server.amiId, InstanceType: server.instanceType };
  if (server.ec2KeyName !== undefined) props.KeyName = server.ec2KeyName;
  if (server.iamInstanceProfileName !== undefined) props.IamInstanceProfile = server.iamInstanceProfileName;
  if (server.associatePublicIpAddress !== undefined) {
    const nic: { [key: string]: CfnValue } = { DeviceIndex: '0', AssociatePublicIpAddress: server.associatePublicIpAddress };
    if (server.subnet !== undefined) nic.SubnetId = server.subnet;
    if (server.securityGroup !== undefined) nic.GroupSet = [server.securityGroup];
    props.NetworkInterfaces = [nic];
  } else {
    if (server.subnet !== undefined) props.SubnetId = server.subnet;
    if (server.securityGroup !== undefined) props.SecurityGroupIds = [server.securityGroup];
  }
  if (server.userData !== undefined) props.UserData = userDataValue(server.userData);
  props.Tags = [
    { Key: 'Name', Value: server.vmName ?? server.serverId },
    { Key: 'sms-app-id', Value: appId },
    { Key: 'sms-server-id', Value: server.serverId },
    { Key: 'sms-server-group-id', Value: group.serverGroupId },
  ];
  return props;
}

export function buildTemplate(input: TemplateInput): CfnTemplate {
  const waves = launchWaves(input.groups.map((g) => ({ launchOrder: g.launchOrder, serverIds: g.servers.map((s) => s.serverId) })));
  const waveOf = new Map<string, number>();
  waves.forEach((servers, wave) => servers.forEach((serverId) => waveOf.set(serverId, wave)));
  const logicalIds = new Map(input.groups.flatMap((g) => g.servers.map((s) => [s.serverId, s.logicalId] as const)));

  const resources: Record<string, CfnResource> = {};
  const outputs: CfnTemplate['Outputs'] = {};
  for (const group of input.groups) {
    for (const server of group.servers) {
      const wave = waveOf.get(server.serverId) ?? 0;
      const resource: CfnResource = {
        Type: 'AWS::EC2::Instance',
        Metadata: {
          'Ferry::Server': {
            serverId: server.serverId,
            serverGroupId: group.serverGroupId,
            serverGroupName: group.name,
            launchOrder: group.launchOrder ?? 1,
            ...(server.vpc !== undefined ? { vpc: server.vpc } : {}),
          },
        },
        Properties: instanceProperties(input.appId, group, server),
      };
      if (wave > 0) resource.DependsOn = waves[wave - 1]!.map((id) => logicalIds.get(id)!);
      resources[server.logicalId] = resource;
      outputs[`${server.logicalId}InstanceId`] = { Description: `Instance of server ${server.serverId}`, Value: { Ref: server.logicalId } };
    }
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `SMS application ${input.appName} (${input.appId}): ${logicalIds.size} server(s) in ${waves.length} launch wave(s).`,
    Resources: resources,
    Outputs: outputs,
  };
}
