/**
 * The App configuration operations through the real AWS SDK (spec §7): Put/Get/DeleteAppReplicationConfiguration,
 * Put/Get/DeleteAppLaunchConfiguration (instance types, S3 locations, key pairs, logical ids, networks through the
 * launch subsystem), Put/Get/DeleteAppValidationConfiguration, NotifyAppValidationOutput and GetAppValidationOutput —
 * each error case with its modelled exception, and the statuses they move. Real subsystems: the local artifact store,
 * and libvirt (qemu:///system) for the network names, which this test defines; nothing is launched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteAppLaunchConfigurationCommand,
  DeleteAppReplicationConfigurationCommand,
  DeleteAppValidationConfigurationCommand,
  GetAppLaunchConfigurationCommand,
  GetAppReplicationConfigurationCommand,
  GetAppValidationConfigurationCommand,
  GetAppValidationOutputCommand,
  NotifyAppValidationOutputCommand,
  PutAppLaunchConfigurationCommand,
  PutAppReplicationConfigurationCommand,
  PutAppValidationConfigurationCommand,
  type ServerLaunchConfiguration,
  type ServerReplicationParameters,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { createApp, ferryWithServers, putArtifact, rejectsWith, summary, type CatalogFerry } from '../helpers/apps.ts';
import { launchSkipReason, realLaunch, testNetwork, type TestNetwork } from '../helpers/launch.ts';
import { importKeyPair } from '../../src/core/apps/keyPairs.ts';
import { createKeyRecord } from '../../src/kms/keys.ts';

const DAY = 86_400_000;
const ED25519 = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1)]).toString('base64')} ops@example`;

let f: CatalogFerry;
let sms: SMSClient;
let app: Awaited<ReturnType<typeof createApp>>;
let g1: string;
let g2: string;
/** Network names are checked on libvirt where it runs (as root, like .ci/run); elsewhere those checks are skipped. */
const LIBVIRT_SKIP = launchSkipReason();
let net: TestNetwork | undefined;
let launch: Awaited<ReturnType<typeof realLaunch>> | undefined;

before(async () => {
  if (!LIBVIRT_SKIP) {
    net = await testNetwork();
    launch = await realLaunch();
  }
  f = await ferryWithServers(4, launch ? { launch: launch.launch } : {});
  sms = f.t.sms;
  app = await createApp(sms, 'cfg', [f.servers[0]!, f.servers[1]!], [f.servers[2]!]);
  g1 = app.serverGroups![0]!.serverGroupId!;
  g2 = app.serverGroups![1]!.serverGroupId!;
  await importKeyPair(f.t.ferry.core, { accountId: f.t.ferry.root.accountId, region: 'us-east-1' }, 'ops', ED25519);
});
after(async () => {
  await f?.t.close();
  net?.cleanup();
  await launch?.cleanup();
});

describe('replication configuration', () => {
  const put = (configs: { serverGroupId?: string; servers: { serverId?: string; params?: ServerReplicationParameters }[] }[]) =>
    sms.send(
      new PutAppReplicationConfigurationCommand({
        appId: app.appId,
        serverGroupReplicationConfigurations: configs.map((c) => ({
          serverGroupId: c.serverGroupId,
          serverReplicationConfigurations: c.servers.map((s) => ({ server: s.serverId === undefined ? {} : { serverId: s.serverId }, serverReplicationParameters: s.params })),
        })),
      }),
    );

  test('errors, each with its exception and the member it concerns', async () => {
    const ok = { frequency: 6 };
    await rejectsWith(sms.send(new PutAppReplicationConfigurationCommand({ serverGroupReplicationConfigurations: [] })), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new PutAppReplicationConfigurationCommand({ appId: app.appId })), 'MissingRequiredParameterException', /serverGroupReplicationConfigurations/);
    await rejectsWith(put([{ servers: [{ serverId: f.servers[0], params: ok }] }]), 'MissingRequiredParameterException', /\[0\]\.serverGroupId/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ params: ok }] }]), 'MissingRequiredParameterException', /server\.serverId/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0] }] }]), 'MissingRequiredParameterException', /serverReplicationParameters/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: {} }] }]), 'MissingRequiredParameterException', /serverReplicationParameters\.frequency \(required unless runOnce/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { frequency: 25 } }] }]), 'InvalidParameterException', /frequency must be between 1 and 24/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { ...ok, numberOfRecentAmisToKeep: 271 } }] }]), 'InvalidParameterException', /between 0 and 270/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { ...ok, licenseType: 'FREE' as never } }] }]), 'InvalidParameterException', /AWS, BYOL/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { ...ok, seedTime: new Date(Date.now() + 31 * DAY) } }] }]), 'InvalidParameterException', /seedReplicationTime must be at most 30 days/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { ...ok, encrypted: true, kmsKeyId: 'alias/nope' } }] }]), 'InvalidParameterException', /alias\/nope/);
    await rejectsWith(put([{ serverGroupId: 'sg-00000000', servers: [{ serverId: f.servers[0], params: ok }] }]), 'InvalidParameterException', /not part of app/);
    await rejectsWith(put([{ serverGroupId: g2, servers: [{ serverId: f.servers[0], params: ok }] }]), 'InvalidParameterException', new RegExp(`${f.servers[0]} is not in server group ${g2}`));
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[3], params: ok }] }]), 'InvalidParameterException', /is not in server group/);
    await rejectsWith(put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: ok }, { serverId: f.servers[0], params: ok }] }]), 'InvalidParameterException', /configured twice/);
    await rejectsWith(sms.send(new PutAppReplicationConfigurationCommand({ appId: 'app-00000000000000000', serverGroupReplicationConfigurations: [] })), 'InvalidParameterException', /does not exist/);
    assert.equal((await summary(sms, app.appId)).replicationConfigurationStatus, 'NOT_CONFIGURED', 'nothing was stored');
  });

  test('Put → CONFIGURED; READY_FOR_REPLICATION once every server has parameters; Get returns them; Delete → NOT_CONFIGURED', async () => {
    await createKeyRecord(f.t.ferry.core.db, { accountId: f.t.ferry.root.accountId, region: 'us-east-1' }, { alias: 'alias/apps' }, Date.now());
    const seed = new Date(Math.floor(Date.now() / 1000) * 1000 + DAY);
    await put([{ serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { seedTime: seed, frequency: 6, licenseType: 'BYOL', numberOfRecentAmisToKeep: 3, encrypted: true, kmsKeyId: 'alias/apps' } }] }]);
    let s = await summary(sms, app.appId);
    assert.equal(s.replicationConfigurationStatus, 'CONFIGURED');
    assert.equal(s.replicationStatus, 'READY_FOR_CONFIGURATION');
    assert.match(s.replicationStatusMessage!, /1 of 3 servers have replication parameters/);
    await put([
      { serverGroupId: g1, servers: [{ serverId: f.servers[0], params: { seedTime: seed, frequency: 6, licenseType: 'BYOL', numberOfRecentAmisToKeep: 3, encrypted: true, kmsKeyId: 'alias/apps' } }, { serverId: f.servers[1], params: { runOnce: true } }] },
      { serverGroupId: g2, servers: [{ serverId: f.servers[2], params: { frequency: 24 } }] },
    ]);
    s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'READY_FOR_REPLICATION');
    const got = (await sms.send(new GetAppReplicationConfigurationCommand({ appId: app.appId }))).serverGroupReplicationConfigurations!;
    assert.deepEqual(got.map((g) => g.serverGroupId), [g1, g2]);
    assert.deepEqual(got[0]!.serverReplicationConfigurations![0]!.serverReplicationParameters, { seedTime: seed, frequency: 6, licenseType: 'BYOL', numberOfRecentAmisToKeep: 3, encrypted: true, kmsKeyId: 'alias/apps' });
    assert.deepEqual(got[0]!.serverReplicationConfigurations![1]!.serverReplicationParameters, { runOnce: true });
    assert.equal(got[0]!.serverReplicationConfigurations![0]!.server!.vmServer!.vmName, 'vm0');
    await sms.send(new DeleteAppReplicationConfigurationCommand({ appId: app.appId }));
    s = await summary(sms, app.appId);
    assert.equal(s.replicationConfigurationStatus, 'NOT_CONFIGURED');
    assert.equal(s.replicationStatus, 'READY_FOR_CONFIGURATION');
    assert.deepEqual((await sms.send(new GetAppReplicationConfigurationCommand({ appId: app.appId }))).serverGroupReplicationConfigurations, []);
    await rejectsWith(sms.send(new GetAppReplicationConfigurationCommand({})), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new DeleteAppReplicationConfigurationCommand({ appId: 'app-00000000000000000' })), 'InvalidParameterException');
  });
});

describe('launch configuration', () => {
  const put = (entry: Partial<ServerLaunchConfiguration>, group: { serverGroupId?: string; launchOrder?: number } = { serverGroupId: g1 }) =>
    sms.send(
      new PutAppLaunchConfigurationCommand({
        appId: app.appId,
        serverGroupLaunchConfigurations: [{ ...group, serverLaunchConfigurations: [{ server: { serverId: f.servers[0] }, instanceType: 't3.micro', ...entry }] }],
      }),
    );

  test('errors: instance types, S3 locations, key pairs, logical ids, networks, membership', async (tt) => {
    await rejectsWith(put({ instanceType: 't3.enormous' }), 'InvalidParameterException', /t3 comes in nano/);
    await rejectsWith(put({ instanceType: 'q9.large' }), 'InvalidParameterException', /not one Ferry knows/);
    await rejectsWith(put({ userData: { s3Location: { bucket: 'Bad_Bucket', key: 'u.sh' } } }), 'InvalidParameterException', /bucket "Bad_Bucket"/);
    await rejectsWith(put({ userData: { s3Location: { bucket: 'ab', key: 'u.sh' } } }), 'InvalidParameterException', /at least 3/);
    await rejectsWith(put({ userData: {} }), 'MissingRequiredParameterException', /userData\.s3Location/);
    await rejectsWith(put({ userData: { s3Location: { bucket: 'sms-app-scripts', key: 'missing.sh' } } }), 'InvalidParameterException', /s3:\/\/sms-app-scripts\/missing\.sh does not exist/);
    await rejectsWith(put({ configureScript: { bucket: 'sms-app-scripts', key: 'c.sh' } }), 'MissingRequiredParameterException', /configureScriptType/);
    await rejectsWith(put({ ec2KeyName: 'nobody' }), 'InvalidParameterException', /no key pair "nobody".*ferry key-pairs import/);
    await rejectsWith(put({ logicalId: 'web-1' }), 'InvalidParameterException', /logicalId must match/);
    if (net) {
      await rejectsWith(put({ subnet: 'subnet-nowhere' }), 'InvalidParameterException', /No libvirt network on qemu:\/\/\/system has a portgroup .* named "subnet-nowhere"/);
      await rejectsWith(put({ vpc: 'vpc-nowhere' }), 'InvalidParameterException', /The vpc "vpc-nowhere" is not a libvirt network/);
      await rejectsWith(put({ vpc: net.vpc, subnet: 'subnet-nowhere' }), 'InvalidParameterException', /is not a portgroup of network/);
      await rejectsWith(put({ securityGroup: 'sg-nowhere' }), 'InvalidParameterException', /The securityGroup "sg-nowhere" is not a libvirt network filter/);
    } else {
      tt.diagnostic(`network names not checked: ${LIBVIRT_SKIP}`);
    }
    await rejectsWith(put({}, { serverGroupId: g1, launchOrder: 0 }), 'InvalidParameterException', /launchOrder must be between 1 and 1000/);
    await rejectsWith(put({}, { serverGroupId: g2 }), 'InvalidParameterException', /is not in server group/);
    await rejectsWith(put({}, {}), 'MissingRequiredParameterException', /serverGroupId/);
    await rejectsWith(put({ server: {} }), 'MissingRequiredParameterException', /server\.serverId/);
    await rejectsWith(
      sms.send(
        new PutAppLaunchConfigurationCommand({
          appId: app.appId,
          serverGroupLaunchConfigurations: [
            { serverGroupId: g1, serverLaunchConfigurations: [{ server: { serverId: f.servers[0] }, logicalId: 'Same' }, { server: { serverId: f.servers[1] }, logicalId: 'Same' }] },
          ],
        }),
      ),
      'InvalidParameterException',
      /Same is already the logical id/,
    );
    await rejectsWith(sms.send(new PutAppLaunchConfigurationCommand({ serverGroupLaunchConfigurations: [] })), 'MissingRequiredParameterException', /appId/);
    assert.equal((await summary(sms, app.appId)).launchConfigurationStatus, 'NOT_CONFIGURED');
  });

  test('Put → CONFIGURED, READY_FOR_LAUNCH once every server has an instance type; Get returns it; Delete → NOT_CONFIGURED', async () => {
    await putArtifact(f.t, 'sms-app-scripts', 'user-data.sh', '#!/bin/sh\necho hello\n');
    const full: ServerLaunchConfiguration = {
      server: { serverId: f.servers[0] },
      logicalId: 'Db',
      vpc: net?.vpc ?? 'vpc-unchecked',
      subnet: net?.subnet ?? 'subnet-unchecked',
      securityGroup: net?.securityGroup ?? 'sg-unchecked',
      ec2KeyName: 'ops',
      userData: { s3Location: { bucket: 'sms-app-scripts', key: 'user-data.sh' } },
      instanceType: 'm5.large',
      associatePublicIpAddress: false,
      iamInstanceProfileName: 'db-profile',
      configureScript: { bucket: 'sms-app-scripts', key: 'user-data.sh' },
      configureScriptType: 'SHELL_SCRIPT',
    };
    await sms.send(new PutAppLaunchConfigurationCommand({ appId: app.appId, roleName: 'cfn', autoLaunch: true, serverGroupLaunchConfigurations: [{ serverGroupId: g1, launchOrder: 2, serverLaunchConfigurations: [full] }] }));
    let s = await summary(sms, app.appId);
    assert.equal(s.launchConfigurationStatus, 'CONFIGURED');
    assert.equal(s.launchStatus, 'READY_FOR_CONFIGURATION');
    assert.match(s.launchStatusMessage!, /no launch configuration with an instanceType/);
    const got = await sms.send(new GetAppLaunchConfigurationCommand({ appId: app.appId }));
    assert.equal(got.appId, app.appId);
    assert.equal(got.roleName, 'cfn');
    assert.equal(got.autoLaunch, true);
    assert.equal(got.serverGroupLaunchConfigurations!.length, 1);
    assert.equal(got.serverGroupLaunchConfigurations![0]!.launchOrder, 2);
    const entry = got.serverGroupLaunchConfigurations![0]!.serverLaunchConfigurations![0]!;
    assert.equal(entry.server!.vmServer!.vmName, 'vm0');
    assert.deepEqual({ ...entry, server: full.server }, full);

    await sms.send(
      new PutAppLaunchConfigurationCommand({
        appId: app.appId,
        serverGroupLaunchConfigurations: [
          { serverGroupId: g1, launchOrder: 1, serverLaunchConfigurations: [{ server: { serverId: f.servers[0] }, instanceType: 'c6i.large' }, { server: { serverId: f.servers[1] }, instanceType: 'r5.large' }] },
          { serverGroupId: g2, serverLaunchConfigurations: [{ server: { serverId: f.servers[2] }, instanceType: 't2.micro' }] },
        ],
      }),
    );
    s = await summary(sms, app.appId);
    assert.equal(s.launchStatus, 'READY_FOR_LAUNCH');
    const replaced = await sms.send(new GetAppLaunchConfigurationCommand({ appId: app.appId }));
    assert.equal(replaced.roleName, 'cfn', 'roleName kept when not given');
    assert.equal(replaced.serverGroupLaunchConfigurations![1]!.launchOrder, undefined);
    await sms.send(new DeleteAppLaunchConfigurationCommand({ appId: app.appId }));
    s = await summary(sms, app.appId);
    assert.equal(s.launchConfigurationStatus, 'NOT_CONFIGURED');
    assert.equal(s.launchStatus, 'READY_FOR_CONFIGURATION');
    const cleared = await sms.send(new GetAppLaunchConfigurationCommand({ appId: app.appId }));
    assert.deepEqual([cleared.autoLaunch, cleared.roleName, cleared.serverGroupLaunchConfigurations], [false, undefined, []]);
  });
});

describe('validation configuration and output', () => {
  const source = { s3Location: { bucket: 'sms-app-scripts', key: 'check.sh' } };
  test('errors: the model patterns and bounds, required members, membership', async () => {
    await putArtifact(f.t, 'sms-app-scripts', 'check.sh', '#!/bin/sh\ntrue\n');
    const ssm = { scriptType: 'SHELL_SCRIPT' as const, command: 'systemctl is-active nginx' };
    const putApp = (config: Record<string, unknown>) => sms.send(new PutAppValidationConfigurationCommand({ appId: app.appId, appValidationConfigurations: [{ name: 'web', appValidationStrategy: 'SSM', ssmValidationParameters: ssm, ...config }] }));
    await rejectsWith(sms.send(new PutAppValidationConfigurationCommand({} as never)), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new PutAppValidationConfigurationCommand({ appId: 'app-123' })), 'InvalidParameterException', /appId must match/);
    await rejectsWith(sms.send(new PutAppValidationConfigurationCommand({ appId: 'app-00000000000000000' })), 'InvalidParameterException', /does not exist/);
    await rejectsWith(putApp({ name: 'has space' }), 'InvalidParameterException', /name must match/);
    await rejectsWith(putApp({ name: undefined }), 'MissingRequiredParameterException', /\.name/);
    await rejectsWith(putApp({ validationId: 'val-1' }), 'InvalidParameterException', /validationId must match/);
    await rejectsWith(putApp({ appValidationStrategy: undefined }), 'MissingRequiredParameterException', /appValidationStrategy/);
    await rejectsWith(putApp({ appValidationStrategy: 'SSH' }), 'InvalidParameterException', /SSM/);
    await rejectsWith(putApp({ ssmValidationParameters: undefined }), 'MissingRequiredParameterException', /ssmValidationParameters/);
    await rejectsWith(putApp({ ssmValidationParameters: { scriptType: 'SHELL_SCRIPT' } }), 'MissingRequiredParameterException', /source or \.command/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, command: 'x'.repeat(64001) } }), 'InvalidParameterException', /at most 64000/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, executionTimeoutSeconds: 59 } }), 'InvalidParameterException', /between 60 and 28800/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, executionTimeoutSeconds: 28801 } }), 'InvalidParameterException', /between 60 and 28800/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, instanceId: 'i-1' } }), 'InvalidParameterException', /instanceId must match/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, outputS3BucketName: 'Bad_Bucket' } }), 'InvalidParameterException', /outputS3BucketName/);
    await rejectsWith(putApp({ ssmValidationParameters: { ...ssm, source: { s3Location: { bucket: 'sms-app-scripts', key: 'nope.sh' } } } }), 'InvalidParameterException', /nope\.sh does not exist/);
    const putServer = (config: Record<string, unknown>, serverGroupId = g1) =>
      sms.send(new PutAppValidationConfigurationCommand({ appId: app.appId, serverGroupValidationConfigurations: [{ serverGroupId, serverValidationConfigurations: [{ server: { serverId: f.servers[0] }, name: 'boot', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source, scriptType: 'SHELL_SCRIPT' }, ...config }] }] }));
    await rejectsWith(putServer({ userDataValidationParameters: { scriptType: 'SHELL_SCRIPT' } }), 'MissingRequiredParameterException', /source\.s3Location/);
    await rejectsWith(putServer({ userDataValidationParameters: { source } }), 'MissingRequiredParameterException', /scriptType/);
    await rejectsWith(putServer({ serverValidationStrategy: undefined }), 'MissingRequiredParameterException', /serverValidationStrategy/);
    await rejectsWith(putServer({}, g2), 'InvalidParameterException', /is not in server group/);
    await rejectsWith(
      sms.send(new PutAppValidationConfigurationCommand({ appId: app.appId, appValidationConfigurations: [{ validationId: 'val-0123456789abcdef0', name: 'a', appValidationStrategy: 'SSM', ssmValidationParameters: ssm }, { validationId: 'val-0123456789abcdef0', name: 'b', appValidationStrategy: 'SSM', ssmValidationParameters: ssm }] })),
      'InvalidParameterException',
      /used twice/,
    );
  });

  test('Put, Get, Notify, GetAppValidationOutput, Delete', async () => {
    await sms.send(
      new PutAppValidationConfigurationCommand({
        appId: app.appId,
        appValidationConfigurations: [{ validationId: 'val-0123456789abcdef0', name: 'web-check', appValidationStrategy: 'SSM', ssmValidationParameters: { source, scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 600, outputS3BucketName: 'sms-app-output' } }],
        serverGroupValidationConfigurations: [{ serverGroupId: g1, serverValidationConfigurations: [{ server: { serverId: f.servers[0] }, name: 'boot-check', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source, scriptType: 'SHELL_SCRIPT' } }] }],
      }),
    );
    const config = await sms.send(new GetAppValidationConfigurationCommand({ appId: app.appId }));
    assert.deepEqual(config.appValidationConfigurations, [
      { validationId: 'val-0123456789abcdef0', name: 'web-check', appValidationStrategy: 'SSM', ssmValidationParameters: { scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 600, outputS3BucketName: 'sms-app-output', source } },
    ]);
    const serverValidation = config.serverGroupValidationConfigurations![0]!.serverValidationConfigurations![0]!;
    assert.match(serverValidation.validationId!, /^val-[0-9a-f]{17}$/, 'assigned by Ferry');
    assert.equal(serverValidation.server!.serverId, f.servers[0]);

    let outputs = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList!;
    assert.deepEqual(outputs.map((o) => [o.validationId, o.name, o.status]), [['val-0123456789abcdef0', 'web-check', 'READY_FOR_VALIDATION'], [serverValidation.validationId, 'boot-check', 'READY_FOR_VALIDATION']]);
    assert.equal(outputs[1]!.serverValidationOutput!.server!.serverId, f.servers[0]);

    const notify = (notificationContext: Record<string, unknown> | undefined) => sms.send(new NotifyAppValidationOutputCommand({ appId: app.appId, notificationContext }));
    await rejectsWith(notify(undefined), 'MissingRequiredParameterException', /notificationContext/);
    await rejectsWith(notify({ status: 'SUCCEEDED' }), 'MissingRequiredParameterException', /validationId/);
    await rejectsWith(notify({ validationId: 'val-0123456789abcdef0' }), 'MissingRequiredParameterException', /status/);
    await rejectsWith(notify({ validationId: 'val-0123456789abcdef0', status: 'GREAT' }), 'InvalidParameterException', /SUCCEEDED/);
    await rejectsWith(notify({ validationId: 'val-fffffffffffffffff', status: 'SUCCEEDED' }), 'InvalidParameterException', /not configured for app/);
    await rejectsWith(notify({ validationId: 'val-0123456789abcdef0', status: 'FAILED', statusMessage: 'x'.repeat(2501) }), 'InvalidParameterException', /at most 2500/);
    await rejectsWith(sms.send(new NotifyAppValidationOutputCommand({ appId: 'app-1', notificationContext: { validationId: 'val-0123456789abcdef0', status: 'FAILED' } })), 'InvalidParameterException', /appId must match/);
    const before = Date.now();
    await notify({ validationId: 'val-0123456789abcdef0', status: 'FAILED', statusMessage: 'nginx is down' });
    outputs = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList!;
    assert.equal(outputs[0]!.status, 'FAILED');
    assert.equal(outputs[0]!.statusMessage, 'nginx is down');
    assert.ok(outputs[0]!.latestValidationTime!.getTime() >= before - 1000);
    await notify({ validationId: 'val-0123456789abcdef0', status: 'SUCCEEDED' });
    outputs = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList!;
    assert.deepEqual([outputs[0]!.status, outputs[0]!.statusMessage], ['SUCCEEDED', undefined], 'the latest output per validation');

    await sms.send(new DeleteAppValidationConfigurationCommand({ appId: app.appId }));
    assert.deepEqual((await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList, []);
    const empty = await sms.send(new GetAppValidationConfigurationCommand({ appId: app.appId }));
    assert.deepEqual([empty.appValidationConfigurations, empty.serverGroupValidationConfigurations], [[], []]);
    await rejectsWith(sms.send(new GetAppValidationOutputCommand({ appId: 'app-x' })), 'InvalidParameterException', /appId must match/);
    await rejectsWith(sms.send(new DeleteAppValidationConfigurationCommand({ appId: 'app-00000000000000000' })), 'InvalidParameterException', /does not exist/);
  });
});
