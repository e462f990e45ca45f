/**
 * LaunchApp, TerminateApp, autoLaunch and DeleteApp with forceTerminateApp.
 *
 * Real subsystems first: a Ferry whose launch URI reaches no libvirt daemon refuses LaunchApp with libvirt's one-line
 * reason and ends an autoLaunch LAUNCH_FAILED saying it, launching nothing; on real libvirt (qemu:///system) an
 * autoLaunch app boots once its replication completes, with what its launch configuration asks for visible on the
 * domain (EC2 size, network, portgroup and filter, labels), and an SSM validation runs a script from its bucket. The
 * whole flow with the AWS CLI, launch order, USERDATA validation and failures are in appsEndToEnd.test.ts; SIGKILLs of
 * a real `ferry serve` in appsCrash.test.ts.
 *
 * Failure injection (test/helpers/fakeInstances.ts, a stand-in for the launch subsystem) only where real libvirt
 * cannot produce the situation on demand: a termination that fails (the real subsystem retries until libvirt obeys,
 * so TERMINATE_FAILED and DELETE_FAILED need an injected refusal), and a crash at one exact instruction — between
 * claiming a launch row and recording its instance — to show the token adoption that prevents a double launch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteAppCommand,
  DeleteAppLaunchConfigurationCommand,
  DeleteAppReplicationConfigurationCommand,
  DeleteAppValidationConfigurationCommand,
  GetAppCommand,
  GetAppValidationOutputCommand,
  LaunchAppCommand,
  PutAppLaunchConfigurationCommand,
  PutAppReplicationConfigurationCommand,
  PutAppValidationConfigurationCommand,
  StartAppReplicationCommand,
  TerminateAppCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { configureLaunch, configureReplication, createApp, getArtifact, importServers, putArtifact, rejectsWith, summary, waitForApp } from '../helpers/apps.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import type { TestConnector } from '../helpers/testConnector.ts';
import { importCatalog, waitFor } from '../helpers/replication.ts';
import { FakeInstances } from '../helpers/fakeInstances.ts';
import { bootableDatastore, bootableVm, launchSkipReason, realLaunch, removeLaunchedDomains, testNetwork, virsh, virshListAll } from '../helpers/launch.ts';
import { importKeyPair } from '../../src/core/apps/keyPairs.ts';
import { LABELS } from '../../src/core/apps/launchCoordinator.ts';
import { openSqliteStore } from '../../src/store/openStore.ts';
import { FerryClient } from '../../src/client/ferryClient.ts';

const ED25519 = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 3)]).toString('base64')} ops`;

interface Env {
  t: TestFerry;
  dataDir: string;
  connector: TestConnector;
  servers: string[];
  instances: FakeInstances;
}

/** A Ferry with the stand-in launch subsystem (failure injection only) and the real artifact store. */
async function start(env: Partial<Env> & { instances: FakeInstances; dataDir: string }, servers = 0): Promise<Env> {
  // SQLite whatever FERRY_TEST_STORE says: the crash tests stage their leftovers in the store file while Ferry is down.
  const t = await startTestFerry({ dataDir: env.dataDir, instances: env.instances, store: 'sqlite' });
  env.instances.attach(t.ferry.core);
  const connector = env.connector ?? (await t.connector());
  if (!env.connector) await connector.register();
  return { ...env, t, connector, servers: servers ? await importServers(t.sms, connector, servers) : (env.servers ?? []) };
}

/** Replicates every server of the app once (runOnce), through the scripted connector. */
async function replicate(env: Pick<Env, 't' | 'connector'>, app: Awaited<ReturnType<typeof createApp>>): Promise<void> {
  await configureReplication(env.t.sms, app, { runOnce: true });
  await env.t.sms.send(new StartAppReplicationCommand({ appId: app.appId }));
  const total = app.appSummary!.totalServers!;
  for (let done = 0; done < total; ) {
    for (const run of await env.connector.claim(total)) {
      await env.connector.completeWithImage(run.replicationRunId);
      done++;
    }
  }
  assert.equal((await summary(env.t.sms, app.appId)).replicationStatus, 'REPLICATED');
}

const launchedServers = (env: Env) => env.instances.launches.map((l) => l.serverId);
const instanceOf = (env: Env, serverId: string) => env.instances.launches.find((l) => l.serverId === serverId)!.instanceId;
const waitLaunched = (env: Env, count: number) => waitFor(`${count} launch(es)`, () => (env.instances.launches.length >= count ? env.instances.launches : undefined), { timeoutMs: 10_000 });

describe('launching is unavailable: no libvirt daemon answers', () => {
  let t: TestFerry;
  let connector: TestConnector;
  let servers: string[];
  before(async () => {
    t = await startTestFerry(); // its launch URI is a socket nobody listens on (test/helpers/ferry.ts)
    connector = await t.connector();
    await connector.register();
    servers = await importServers(t.sms, connector, 2);
  });
  after(() => t.close());

  test('LaunchApp is refused with libvirt\'s one-line reason and changes nothing; autoLaunch ends LAUNCH_FAILED saying it; nothing is launched', async () => {
    const app = await createApp(t.sms, 'offline', [servers[0]!]);
    await replicate({ t, connector }, app);
    await configureLaunch(t.sms, app);
    await rejectsWith(t.sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /^LaunchApp is not possible: libvirt at qemu\+unix:\/\/\/system\?socket=\S+ does not answer: /);
    assert.equal((await summary(t.sms, app.appId)).launchStatus, 'READY_FOR_LAUNCH');
    await rejectsWith(t.sms.send(new TerminateAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launched instances/);

    const auto = await createApp(t.sms, 'auto-offline', [servers[1]!]);
    await configureLaunch(t.sms, auto, { autoLaunch: true });
    await replicate({ t, connector }, auto);
    const failed = await waitForApp(t.sms, auto.appId, 'LAUNCH_FAILED', (s) => s.launchStatus === 'LAUNCH_FAILED');
    assert.match(failed.launchStatusMessage!, new RegExp(`^0 of 1 instances running; failed: ${servers[1]}: Not launched: launching is unavailable on this Ferry: libvirt at qemu\\+unix:\\/\\/\\/system\\?socket=\\S+ does not answer`));
    assert.equal(failed.replicationStatus, 'REPLICATED');
    const ferry = new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: t.ferry.root });
    assert.deepEqual(await ferry.listInstances(), { instances: [] });
    // A failed launch has no instances to terminate: the app can be deleted at once.
    await t.sms.send(new DeleteAppCommand({ appId: auto.appId, forceStopAppReplication: true }));
    await t.sms.send(new DeleteAppCommand({ appId: app.appId, forceStopAppReplication: true }));
  });
});

describe('autoLaunch on libvirt', { skip: launchSkipReason() }, () => {
  test('the app boots once its replication completes, sized, networked and labelled as configured; an SSM validation runs a script from its bucket', async (tt) => {
    const datastore = await bootableDatastore(['kvm']);
    const launch = await realLaunch();
    const net = await testNetwork();
    const t = await startTestFerry({ datastore: datastore.dir, connectorPollMs: 200, launch: launch.launch });
    try {
      const sms = t.sms;
      const kvm = bootableVm('kvm').folder;
      const serverId = (await importCatalog(sms, [kvm])).get(kvm)!.serverId!;
      await importKeyPair(t.ferry.core, { accountId: t.ferry.root.accountId, region: 'us-east-1' }, 'ops', ED25519);
      await putArtifact(t, 'sms-app-checks', 'checks/disk.sh', '#!/bin/sh\necho "disk $1 $(head -c 512 "$FERRY_DISK" | wc -c) bytes"\n');
      const app = await createApp(sms, 'auto', [serverId]);
      await configureLaunch(sms, app, {
        autoLaunch: true,
        instanceType: 't3.micro',
        perServer: () => ({ logicalId: 'Web', ec2KeyName: 'ops', vpc: net.vpc, subnet: net.subnet, securityGroup: net.securityGroup }),
      });
      await sms.send(
        new PutAppValidationConfigurationCommand({
          appId: app.appId,
          appValidationConfigurations: [
            {
              name: 'disk',
              appValidationStrategy: 'SSM',
              ssmValidationParameters: { source: { s3Location: { bucket: 'sms-app-checks', key: 'checks/disk.sh' } }, command: 'FERRY_DISK=$(ls /dev/vda) sh disk.sh root', scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 60 },
            },
          ],
        }),
      );
      await configureReplication(sms, app, { runOnce: true });
      await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
      const launched = await waitForApp(sms, app.appId, 'LAUNCHED by autoLaunch', (s) => s.launchStatus === 'LAUNCHED' || s.launchStatus === 'LAUNCH_FAILED', 400_000);
      assert.equal(launched.launchStatus, 'LAUNCHED', launched.launchStatusMessage);
      assert.equal(launched.replicationStatus, 'REPLICATED');
      const [instance] = (await new FerryClient({ endpoint: t.ferry.url, region: 'us-east-1', credentials: t.ferry.root }).listInstances(app.appId)).instances;
      assert.ok(instance);
      assert.equal(instance.labels[LABELS.app], app.appId);
      assert.equal(instance.labels[LABELS.logicalId], 'Web');
      assert.equal(instance.labels[LABELS.stack], launched.launchDetails!.stackName);
      assert.match(instance.labels[LABELS.token]!, /^lt-/);
      const xml = virsh('dumpxml', instance.domainName);
      assert.match(xml, /<vcpu placement='static'>2<\/vcpu>/, 't3.micro: 2 vCPUs');
      assert.match(xml, /<memory unit='KiB'>1048576<\/memory>/, 't3.micro: 1 GiB');
      assert.match(xml, new RegExp(`<source network='${net.vpc}' portgroup='${net.subnet}'`));
      assert.match(xml, new RegExp(`<filterref filter='${net.securityGroup}'`));

      const output = await waitFor('the SSM validation', async () => {
        const [o] = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList!;
        return o && (o.status === 'SUCCEEDED' || o.status === 'FAILED') ? o : undefined;
      }, { timeoutMs: 120_000, intervalMs: 500 });
      assert.deepEqual([output.status, output.statusMessage], ['SUCCEEDED', 'disk root 512 bytes']);
      const location = output.appValidationOutput!.ssmOutput!.s3Location!;
      assert.equal(location.bucket, `sms-app-${t.ferry.root.accountId}-us-east-1`, 'no outputS3BucketName: the account bucket');
      assert.match((await getArtifact(t, location)).body.toString(), new RegExp(`instance: ${instance.instanceId}\n[\\s\\S]*ran: FERRY_DISK=\\$\\(ls /dev/vda\\) sh disk.sh root\nexit status: 0\n`));
      tt.diagnostic(`autoLaunch: launch → booted ${(instance.bootedAt! - instance.launchedAt).toFixed(1)} s`);

      await sms.send(new DeleteAppCommand({ appId: app.appId, forceTerminateApp: true, forceStopAppReplication: true }));
      await waitFor('the app to be deleted', async () => (await sms.send(new GetAppCommand({ appId: app.appId })).then(() => undefined, () => true)), { timeoutMs: 120_000 });
      assert.ok(!virshListAll().includes(instance.domainName), 'DeleteApp with forceTerminateApp removed its domain');
    } finally {
      await removeLaunchedDomains(t.ferry.core);
      await t.close();
      net.cleanup();
      await launch.cleanup();
      await datastore.cleanup();
    }
  });
});

describe('failure injection: a termination that fails (stand-in launch subsystem)', () => {
  let env: Env;
  let sms: SMSClient;
  before(async () => {
    env = await start({ instances: new FakeInstances(), dataDir: mkdtempSync(join(tmpdir(), 'ferry-launch-')) }, 1);
    sms = env.t.sms;
  });
  after(async () => {
    await env.t.close();
    rmSync(env.dataDir, { recursive: true, force: true });
  });

  test('a termination that fails: TERMINATE_FAILED, and DeleteApp ends DELETE_FAILED until it works', async () => {
    env.instances.autoBoot = true;
    const app = await createApp(sms, 'stubborn', [env.servers[0]!]);
    await replicate(env, app);
    await configureLaunch(sms, app);
    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    await waitForApp(sms, app.appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED');
    const instanceId = env.instances.live(app.appId)[0]!.instanceId;
    env.instances.failTerminateOf.add(instanceId);
    await sms.send(new TerminateAppCommand({ appId: app.appId }));
    const failed = await waitForApp(sms, app.appId, 'TERMINATE_FAILED', (s) => s.launchStatus === 'TERMINATE_FAILED');
    assert.match(failed.launchStatusMessage!, /Termination failed: the domain would not stop/);
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceTerminateApp: true }));
    const deleteFailed = await waitForApp(sms, app.appId, 'DELETE_FAILED', (s) => s.status === 'DELETE_FAILED');
    assert.match(deleteFailed.statusMessage!, /could not be terminated/);
    // An app that is being deleted cannot be configured: OperationNotPermittedException naming its status.
    const appId = app.appId;
    for (const call of [
      () => sms.send(new PutAppReplicationConfigurationCommand({ appId, serverGroupReplicationConfigurations: [] })),
      () => sms.send(new DeleteAppReplicationConfigurationCommand({ appId })),
      () => sms.send(new PutAppLaunchConfigurationCommand({ appId, serverGroupLaunchConfigurations: [] })),
      () => sms.send(new DeleteAppLaunchConfigurationCommand({ appId })),
      () => sms.send(new PutAppValidationConfigurationCommand({ appId, appValidationConfigurations: [] })),
      () => sms.send(new DeleteAppValidationConfigurationCommand({ appId })),
    ]) {
      await rejectsWith(call(), 'OperationNotPermittedException', new RegExp(`App ${appId} is DELETE_FAILED`));
    }
    env.instances.failTerminateOf.delete(instanceId);
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceTerminateApp: true }));
    await waitFor('deleted', async () => (await sms.send(new GetAppCommand({ appId: app.appId })).then(() => undefined, () => true)));
    assert.deepEqual(env.instances.live(app.appId), []);
    env.instances.autoBoot = false;
  });

});

describe('failure injection: a crash between claiming a launch row and recording its instance (stand-in launch subsystem)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-launch-restart-'));
  const instances = new FakeInstances();
  let env: Env;
  after(async () => {
    await env?.t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('states missed while down are read back, crash leftovers are adopted or launched, nothing is launched twice', async () => {
    env = await start({ instances, dataDir }, 4);
    const app = await createApp(env.t.sms, 'resumed', [env.servers[0]!], [env.servers[1]!, env.servers[2]!], [env.servers[3]!]);
    await replicate(env, app);
    await configureLaunch(env.t.sms, app);
    await env.t.sms.send(new LaunchAppCommand({ appId: app.appId }));
    await waitLaunched(env, 1);
    await waitForApp(env.t.sms, app.appId, 'LAUNCH_IN_PROGRESS', (s) => s.launchStatus === 'LAUNCH_IN_PROGRESS');
    await env.t.close();

    // While Ferry is down: the first instance boots (nobody hears it), and a crash is staged in wave 2 — one row asked
    // for with its instance made but not recorded, one asked for with no instance made.
    instances.core = undefined;
    await instances.boot(instanceOf(env, env.servers[0]!));
    const store = await openSqliteStore(dataDir, Date.now());
    const rows = await store.db.selectFrom('app_instances').selectAll().where('app_id', '=', app.appId).orderBy('wave').execute();
    const [, madeRow, lostRow] = rows;
    await store.db.updateTable('app_instances').set({ state: 'launching' }).where('seq', 'in', [madeRow!.seq, lostRow!.seq]).execute();
    await store.close();
    const made = await instances.launch({ tenant: { accountId: env.t.ferry.root.accountId, region: 'us-east-1' }, appId: app.appId, serverId: madeRow!.server_id, amiId: madeRow!.ami_id, vcpus: 2, memoryMiB: 1024, deviceModel: 'auto', labels: { [LABELS.token]: madeRow!.launch_token } });

    env = await start({ instances, dataDir, connector: env.connector, servers: env.servers });
    await waitLaunched(env, 3);
    const launches = launchedServers(env);
    assert.equal(launches.filter((s) => s === madeRow!.server_id).length, 1, 'the instance made before the crash was adopted, not launched again');
    assert.equal(launches.filter((s) => s === lostRow!.server_id).length, 1, 'the row with no instance was launched once');
    await instances.boot(made.instanceId);
    await instances.boot(instanceOf(env, lostRow!.server_id));
    await waitLaunched(env, 4);
    await instances.boot(instanceOf(env, env.servers[3]!));
    await waitForApp(env.t.sms, app.appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED');
    assert.deepEqual(launchedServers(env).sort(), [...env.servers].sort(), 'each server launched exactly once');

    // A termination interrupted by a restart finishes after it.
    await env.t.sms.send(new TerminateAppCommand({ appId: app.appId }));
    await env.t.close();
    instances.core = undefined;
    env = await start({ instances, dataDir, connector: env.connector, servers: env.servers });
    await waitForApp(env.t.sms, app.appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED');
    assert.deepEqual(instances.live(app.appId), []);
  });
});

