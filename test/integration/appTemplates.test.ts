/**
 * GenerateTemplate (spec §7): the template lands in the account's bucket of Ferry's artifact store, in JSON and YAML,
 * and is valid CloudFormation: moto_server creates a stack from it (CREATE_COMPLETE). The networks it names exist on
 * both sides: moto's VPC, subnet and security group ids are also a libvirt network, its portgroup and a network
 * filter here, as the launch configuration's checks require. GenerateChangeSet of a launched app (and moto applying
 * it) is in appsEndToEnd.test.ts, where the app really runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  GenerateChangeSetCommand,
  GenerateTemplateCommand,
  GetAppCommand,
  GetReplicationJobsCommand,
  PutAppLaunchConfigurationCommand,
  StartAppReplicationCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { configureReplication, createApp, ferryWithServers, getArtifact, putArtifact, rejectsWith, type CatalogFerry } from '../helpers/apps.ts';
import { launchSkipReason, realLaunch, testNetwork, type TestNetwork } from '../helpers/launch.ts';
import { motoAvailable, startMoto, stackStatus, type Moto } from '../helpers/moto.ts';
import { importKeyPair } from '../../src/core/apps/keyPairs.ts';
import type { CfnTemplate } from '../../src/domain/appTemplate.ts';

const SKIP = !motoAvailable()
  ? 'skipped: moto_server (/root/.pyenv/shims/moto_server) or the AWS CLI v2 (/usr/bin/aws) is not installed'
  : (launchSkipReason() ?? false);

describe('templates are valid CloudFormation', { skip: SKIP }, () => {
  let f: CatalogFerry;
  let sms: SMSClient;
  let moto: Moto;
  let dir: string;
  let launch: Awaited<ReturnType<typeof realLaunch>>;
  let network: TestNetwork | undefined;
  const net = { vpc: '', subnet: '', securityGroup: '' };
  let app: Awaited<ReturnType<typeof createApp>>;

  const object = (location: { bucket?: string; key?: string }) => getArtifact(f.t, location);
  const file = (name: string, body: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return `file://${path}`;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-templates-'));
    launch = await realLaunch();
    [moto, f] = await Promise.all([startMoto(), ferryWithServers(3, { launch: launch.launch })]);
    sms = f.t.sms;
    // The networks, key pair and instance profile exist on the CloudFormation side too (moto checks references).
    net.vpc = (await moto.aws('ec2', 'create-vpc', '--cidr-block', '10.8.0.0/16')).Vpc.VpcId;
    net.subnet = (await moto.aws('ec2', 'create-subnet', '--vpc-id', net.vpc, '--cidr-block', '10.8.1.0/24')).Subnet.SubnetId;
    net.securityGroup = (await moto.aws('ec2', 'create-security-group', '--group-name', 'web', '--description', 'web', '--vpc-id', net.vpc)).GroupId;
    await moto.aws('iam', 'create-instance-profile', '--instance-profile-name', 'app-profile');
    execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops', '-f', join(dir, 'ops')]);
    await moto.aws('ec2', 'import-key-pair', '--key-name', 'ops', '--public-key-material', `fileb://${join(dir, 'ops.pub')}`);
    await importKeyPair(f.t.ferry.core, { accountId: f.t.ferry.root.accountId, region: 'us-east-1' }, 'ops', readFileSync(join(dir, 'ops.pub'), 'utf8'));
    network = await testNetwork(net);
    await putArtifact(f.t, 'sms-app-scripts', 'web.sh', '#!/bin/sh\nsystemctl start nginx\n');

    app = await createApp(sms, 'shop', [f.servers[0]!], [f.servers[1]!, f.servers[2]!]);
    await configureReplication(sms, app, { runOnce: true });
    // moto_server took long to start (100 s under load): the test connector says it is alive again before its servers
    // are replicated, or its last heartbeat is too old and StartAppReplication finds no healthy connector.
    await f.connector.heartbeat();
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    for (let done = 0; done < 3; ) {
      for (const run of await f.connector.claim(3)) {
        await f.connector.completeWithImage(run.replicationRunId);
        done++;
      }
    }
  });
  after(async () => {
    await f?.t.close();
    await moto?.stop();
    network?.cleanup();
    await launch?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const putLaunch = (webType: string, webUserDataKey = 'web.sh') =>
    sms.send(
      new PutAppLaunchConfigurationCommand({
        appId: app.appId,
        serverGroupLaunchConfigurations: [
          {
            serverGroupId: app.serverGroups![0]!.serverGroupId,
            launchOrder: 1,
            serverLaunchConfigurations: [{ server: { serverId: f.servers[0] }, logicalId: 'Database', instanceType: 'r5.large', ...net, ec2KeyName: 'ops', iamInstanceProfileName: 'app-profile' }],
          },
          {
            serverGroupId: app.serverGroups![1]!.serverGroupId,
            launchOrder: 2,
            serverLaunchConfigurations: [
              { server: { serverId: f.servers[1] }, logicalId: 'Web', instanceType: webType, ...net, associatePublicIpAddress: true, userData: { s3Location: { bucket: 'sms-app-scripts', key: webUserDataKey } } },
              { server: { serverId: f.servers[2] }, instanceType: 't3.small', subnet: net.subnet, securityGroup: net.securityGroup },
            ],
          },
        ],
      }),
    );

  test('GenerateTemplate: JSON and YAML in the account bucket, one instance per server, DependsOn by launch order; moto creates both stacks', async () => {
    await rejectsWith(sms.send(new GenerateTemplateCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launch configuration/);
    await putLaunch('t3.medium');
    const json = (await sms.send(new GenerateTemplateCommand({ appId: app.appId, templateFormat: 'JSON' }))).s3Location!;
    assert.equal(json.bucket, `sms-app-${f.t.ferry.root.accountId}-us-east-1`);
    assert.match(json.key!, new RegExp(`^${app.appId}/templates/${app.appId}-\\d{8}T\\d{6}Z\\.json$`));
    const stored = await object(json);
    assert.equal((await f.t.ferry.artifacts.describeObject(f.t.ferry.root.accountId, json.bucket!, json.key!)).contentType, 'application/json');
    const template = JSON.parse(stored.body.toString()) as CfnTemplate;
    const images = new Map<string, string>();
    for (const group of (await sms.send(new GetAppCommand({ appId: app.appId }))).serverGroups!) {
      for (const s of group.serverList!) images.set(s.serverId!, (await sms.send(new GetReplicationJobsCommand({ replicationJobId: s.replicationJobId }))).replicationJobList![0]!.latestAmiId!);
    }
    const third = `Server${f.servers[2]!.replace('-', '')}`;
    assert.deepEqual(Object.keys(template.Resources), ['Database', 'Web', third]);
    assert.equal(template.Resources.Database!.Properties.ImageId, images.get(f.servers[0]!));
    assert.equal(template.Resources.Web!.Properties.ImageId, images.get(f.servers[1]!));
    assert.deepEqual(template.Resources.Web!.DependsOn, ['Database']);
    assert.deepEqual(template.Resources[third]!.DependsOn, ['Database']);
    assert.deepEqual(template.Resources.Web!.Properties.UserData, { 'Fn::Base64': '#!/bin/sh\nsystemctl start nginx\n' });

    const yaml = (await sms.send(new GenerateTemplateCommand({ appId: app.appId, templateFormat: 'YAML' }))).s3Location!;
    assert.match(yaml.key!, /\.yaml$/);
    assert.deepEqual(parseYaml((await object(yaml)).body.toString()), template, 'the YAML says the same');

    for (const [name, body, ext] of [['sms-app-json', stored.body, 'json'], ['sms-app-yaml', (await object(yaml)).body, 'yaml']] as const) {
      await moto.aws('cloudformation', 'create-stack', '--stack-name', name, '--template-body', file(`template.${ext}`, body));
      const stack = await stackStatus(moto, name);
      assert.equal(stack.StackStatus, 'CREATE_COMPLETE', `${name}: ${stack.StackStatusReason}`);
      const resources = (await moto.aws('cloudformation', 'describe-stack-resources', '--stack-name', name)).StackResources as { LogicalResourceId: string; ResourceType: string }[];
      assert.deepEqual(resources.map((r) => r.LogicalResourceId).sort(), ['Database', 'Web', third].sort());
    }
  });

  test('GenerateChangeSet: only for a launched app', async () => {
    await rejectsWith(sms.send(new GenerateChangeSetCommand({ appId: app.appId })), 'OperationNotPermittedException', /LaunchApp first/);
  });
});
