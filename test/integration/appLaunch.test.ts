/**
 * LaunchApp, TerminateApp, autoLaunch and DeleteApp with forceTerminateApp, driven through the launch-subsystem port
 * (src/apps/ports.ts). The subsystem here is a test stand-in (test/helpers/fakeInstances.ts) whose instances boot
 * when the test says so; the real one (libvirt) plugs into the same port. Checked: groups launch in launchOrder
 * waves, each only once the previous wave runs; statuses move only on instance events; a failure stops later waves;
 * a restart resumes a launch without launching anything twice; what each instance is given (size, key, user data,
 * validation scripts, network, labels).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteAppCommand,
  GetAppCommand,
  GetAppValidationOutputCommand,
  LaunchAppCommand,
  PutAppValidationConfigurationCommand,
  StartAppReplicationCommand,
  TerminateAppCommand,
  UpdateAppCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { configureLaunch, configureReplication, createApp, groups, importServers, rejectsWith, summary, waitForApp } from '../helpers/apps.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import type { TestConnector } from '../helpers/testConnector.ts';
import { waitFor } from '../helpers/replication.ts';
import { FakeInstances } from '../helpers/fakeInstances.ts';
import { MemoryArtifacts } from '../helpers/memoryArtifacts.ts';
import { importKeyPair } from '../../src/core/apps/keyPairs.ts';
import { LABELS } from '../../src/core/apps/launchCoordinator.ts';
import { openSqliteStore } from '../../src/store/openStore.ts';
import type { FerryEvent } from '../../src/core/events.ts';

const ED25519 = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 3)]).toString('base64')} ops`;

interface Env {
  t: TestFerry;
  dataDir: string;
  connector: TestConnector;
  servers: string[];
  instances: FakeInstances;
  artifacts: MemoryArtifacts;
  events: Extract<FerryEvent, { type: 'app.state' }>[];
}


async function start(env: Partial<Env> & { instances: FakeInstances; artifacts: MemoryArtifacts; dataDir: string }, servers = 0): Promise<Env> {
  const t = await startTestFerry({ dataDir: env.dataDir, instances: env.instances, artifacts: env.artifacts });
  env.instances.attach(t.ferry.core);
  const events: Env['events'] = [];
  t.ferry.core.events.subscribe((e) => {
    if (e.type === 'app.state') events.push(e);
  });
  const connector = env.connector ?? (await t.connector());
  if (!env.connector) await connector.register();
  return { ...env, t, connector, events, servers: servers ? await importServers(t.sms, connector, servers) : (env.servers ?? []) };
}

/** Replicates every server of the app once (runOnce), through the scripted connector. */
async function replicate(env: Env, app: Awaited<ReturnType<typeof createApp>>): Promise<void> {
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

describe('LaunchApp and TerminateApp', () => {
  let env: Env;
  let sms: SMSClient;
  before(async () => {
    env = await start({ instances: new FakeInstances(), artifacts: new MemoryArtifacts(), dataDir: mkdtempSync(join(tmpdir(), 'ferry-launch-')) }, 6);
    sms = env.t.sms;
    await importKeyPair(env.t.ferry.core, { accountId: env.t.ferry.root.accountId, region: 'us-east-1' }, 'ops', ED25519);
    env.artifacts.put(env.t.ferry.root.accountId, 'sms-app-scripts', 'user-data.sh', '#!/bin/sh\necho hello\n');
    env.artifacts.put(env.t.ferry.root.accountId, 'sms-app-scripts', 'check.sh', '#!/bin/sh\ncurl -fs localhost\n');
  });
  after(async () => {
    await env.t.close();
    rmSync(env.dataDir, { recursive: true, force: true });
  });

  test('waves in launchOrder, each after the previous one runs; LAUNCHED; then TERMINATED', async () => {
    const app = await createApp(sms, 'ordered', [env.servers[0]!], [env.servers[1]!, env.servers[2]!], [env.servers[3]!]);
    await replicate(env, app);
    await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launch configuration/);
    await configureLaunch(sms, app, {
      orders: [1, 2, 3],
      perServer: (id) =>
        id === env.servers[0]
          ? { ec2KeyName: 'ops', userData: { s3Location: { bucket: 'sms-app-scripts', key: 'user-data.sh' } }, vpc: 'vpc-ferry', subnet: 'subnet-ferry', securityGroup: 'sg-ferry', logicalId: 'Db' }
          : {},
    });
    await sms.send(
      new PutAppValidationConfigurationCommand({
        appId: app.appId,
        serverGroupValidationConfigurations: [
          { serverGroupId: app.serverGroups![0]!.serverGroupId, serverValidationConfigurations: [{ server: { serverId: env.servers[0] }, name: 'http', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-app-scripts', key: 'check.sh' } }, scriptType: 'SHELL_SCRIPT' } }] },
        ],
      }),
    );
    assert.equal((await summary(sms, app.appId)).launchStatus, 'READY_FOR_LAUNCH');

    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    const afterLaunch = await summary(sms, app.appId);
    assert.match(afterLaunch.launchStatus!, /^LAUNCH_(PENDING|IN_PROGRESS)$/);
    assert.match(afterLaunch.launchDetails!.stackName!, /^sms-app-[0-9a-f]{17}$/);
    assert.match(afterLaunch.launchDetails!.stackId!, new RegExp(`^arn:aws:cloudformation:us-east-1:${env.t.ferry.root.accountId}:stack/sms-app-[0-9a-f]{17}/[0-9a-f-]{36}$`));
    await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /already LAUNCH_/);

    await waitLaunched(env, 1);
    await waitForApp(sms, app.appId, 'LAUNCH_IN_PROGRESS', (s) => s.launchStatus === 'LAUNCH_IN_PROGRESS');
    assert.deepEqual(launchedServers(env), [env.servers[0]], 'only the first wave');
    const spec = env.instances.specs.get(instanceOf(env, env.servers[0]!))!;
    assert.deepEqual([spec.vcpus, spec.memoryMiB, spec.deviceModel, spec.appId], [2, 1024, 'auto', app.appId], 't3.micro: 2 vCPUs, 1 GiB');
    assert.equal(spec.amiId.startsWith('ami-'), true);
    assert.equal(spec.sshPublicKey, ED25519);
    assert.equal(spec.userData!.toString(), '#!/bin/sh\necho hello\n');
    assert.deepEqual(spec.network, { vpc: 'vpc-ferry', subnet: 'subnet-ferry', securityGroup: 'sg-ferry' });
    assert.deepEqual(spec.validations!.map((v) => [v.name, v.scriptType, v.script.toString()]), [['http', 'SHELL_SCRIPT', '#!/bin/sh\ncurl -fs localhost\n']]);
    assert.equal(spec.labels![LABELS.app], app.appId);
    assert.match(spec.labels![LABELS.token]!, /^lt-/);
    assert.equal(spec.labels![LABELS.logicalId], 'Db');

    await env.instances.boot(instanceOf(env, env.servers[0]!));
    await waitLaunched(env, 3);
    assert.deepEqual(launchedServers(env).slice(1).sort(), [env.servers[1], env.servers[2]].sort());
    await env.instances.boot(instanceOf(env, env.servers[1]!));
    // Wave 3 waits for every instance of wave 2.
    await waitForApp(sms, app.appId, '2 running', (s) => /2 of 4 instances running/.test(s.launchStatusMessage ?? ''));
    assert.equal(env.instances.launches.length, 3);
    await env.instances.boot(instanceOf(env, env.servers[2]!));
    await waitLaunched(env, 4);
    await env.instances.boot(instanceOf(env, env.servers[3]!));
    const launched = await waitForApp(sms, app.appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED');
    assert.ok(launched.launchDetails!.latestLaunchTime);
    const at = env.instances.launches.map((l) => l.at);
    assert.deepEqual([...at].sort((a, b) => a - b), at, 'launched in order');

    const outputs = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList!;
    assert.deepEqual(outputs.map((o) => [o.name, o.status, o.statusMessage]), [['http', 'SUCCEEDED', 'http passed']]);
    assert.ok(outputs[0]!.latestValidationTime);
    assert.equal(outputs[0]!.serverValidationOutput!.server!.serverId, env.servers[0]);

    await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /TerminateApp first/);
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: app.appId, serverGroups: groups([env.servers[0]!]) })), 'OperationNotPermittedException', /TerminateApp/);
    await rejectsWith(sms.send(new DeleteAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /forceTerminateApp/);

    await sms.send(new TerminateAppCommand({ appId: app.appId }));
    assert.match((await summary(sms, app.appId)).launchStatus!, /^TERMINATE(_IN_PROGRESS|D)$/);
    await waitForApp(sms, app.appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED');
    assert.deepEqual(env.instances.live(app.appId), []);
    await rejectsWith(sms.send(new TerminateAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /no launched instances/);
    const moves = env.events.filter((e) => e.appId === app.appId).map((e) => e.launchStatus);
    for (const s of ['READY_FOR_LAUNCH', 'LAUNCH_IN_PROGRESS', 'LAUNCHED', 'TERMINATED']) assert.ok(moves.includes(s), `${s} in ${moves.join(' → ')}`);

    // A second launch: a new stack id, every server launched once more.
    const stackId = launched.launchDetails!.stackId;
    env.instances.autoBoot = true;
    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    const again = await waitForApp(sms, app.appId, 'LAUNCHED again', (s) => s.launchStatus === 'LAUNCHED');
    env.instances.autoBoot = false;
    assert.notEqual(again.launchDetails!.stackId, stackId);
    assert.equal(env.instances.launches.length, 8);
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceTerminateApp: true }));
    await waitFor('the app to be deleted', async () => (await sms.send(new GetAppCommand({ appId: app.appId })).then(() => undefined, (e: Error) => e.name)) ?? undefined);
    assert.deepEqual(env.instances.live(app.appId), []);
  });

  test('a failure stops the later waves: PARTIALLY_LAUNCHED; a failed validation shows FAILED with its message', async () => {
    env.instances.publishInTransaction = true; // the subsystem announces from its own transactions: the app hook path
    const app = await createApp(sms, 'fails', [env.servers[4]!], [env.servers[5]!]);
    await replicate(env, app);
    await configureLaunch(sms, app);
    const before = env.instances.launches.length;
    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    await waitLaunched(env, before + 1);
    const first = env.instances.launches[before]!.instanceId;
    await env.instances.fail(first, 'no boot marker on the serial console within 300 s');
    const failed = await waitForApp(sms, app.appId, 'LAUNCH_FAILED', (s) => s.launchStatus === 'LAUNCH_FAILED');
    assert.match(failed.launchStatusMessage!, /0 of 2 instances running; failed: s-[0-9a-f]+: no boot marker/);
    assert.equal(env.instances.launches.length, before + 1, 'the second wave never started');

    await sms.send(new TerminateAppCommand({ appId: app.appId }));
    await waitForApp(sms, app.appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED');

    // Two servers in one wave, one fails: PARTIALLY_LAUNCHED.
    await sms.send(new DeleteAppCommand({ appId: app.appId }));
    const one = await createApp(sms, 'one-wave', [env.servers[4]!, env.servers[5]!]);
    await replicate(env, one);
    await configureLaunch(sms, one);
    const validationId = 'val-00000000000000abc';
    env.artifacts.put(env.t.ferry.root.accountId, 'sms-app-scripts', 'v.sh', 'exit 1');
    await sms.send(
      new PutAppValidationConfigurationCommand({
        appId: one.appId,
        serverGroupValidationConfigurations: [{ serverGroupId: one.serverGroups![0]!.serverGroupId, serverValidationConfigurations: [{ validationId, server: { serverId: env.servers[4] }, name: 'v', serverValidationStrategy: 'USERDATA', userDataValidationParameters: { source: { s3Location: { bucket: 'sms-app-scripts', key: 'v.sh' } }, scriptType: 'SHELL_SCRIPT' } }] }],
      }),
    );
    env.instances.validationOutcome.set(validationId, { status: 'FAILED', message: 'v.sh exited with 1: connection refused' });
    const mark = env.instances.launches.length;
    await sms.send(new LaunchAppCommand({ appId: one.appId }));
    await waitLaunched(env, mark + 2);
    const latest = (serverId: string) => env.instances.launches.slice(mark).find((l) => l.serverId === serverId)!.instanceId;
    await env.instances.boot(latest(env.servers[4]!));
    await env.instances.fail(latest(env.servers[5]!), 'kernel panic');
    const partial = await waitForApp(sms, one.appId, 'PARTIALLY_LAUNCHED', (s) => s.launchStatus === 'PARTIALLY_LAUNCHED');
    assert.match(partial.launchStatusMessage!, /1 of 2 instances running; failed: .*kernel panic/);
    const output = (await sms.send(new GetAppValidationOutputCommand({ appId: one.appId }))).validationOutputList!;
    assert.deepEqual(output.map((o) => [o.validationId, o.status, o.statusMessage]), [[validationId, 'FAILED', 'v.sh exited with 1: connection refused']]);
    await sms.send(new DeleteAppCommand({ appId: one.appId, forceTerminateApp: true }));
    await waitFor('deleted', async () => (await sms.send(new GetAppCommand({ appId: one.appId })).then(() => undefined, () => true)));
    env.instances.publishInTransaction = false;
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
    env.instances.failTerminateOf.delete(instanceId);
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceTerminateApp: true }));
    await waitFor('deleted', async () => (await sms.send(new GetAppCommand({ appId: app.appId })).then(() => undefined, () => true)));
    assert.deepEqual(env.instances.live(app.appId), []);
    env.instances.autoBoot = false;
  });

  test('LaunchApp when the launch subsystem says it is unavailable: refused with its reason, nothing changes', async () => {
    const app = await createApp(sms, 'offline', [env.servers[1]!]);
    await replicate(env, app);
    await configureLaunch(sms, app);
    env.instances.availabilityAnswer = { available: false, reason: 'libvirtd is not running (start it with libvirtd --daemon)' };
    await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /LaunchApp is not possible: libvirtd is not running/);
    env.instances.availabilityAnswer = { available: true };
    assert.equal((await summary(sms, app.appId)).launchStatus, 'READY_FOR_LAUNCH');
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceStopAppReplication: true }));
  });
});

describe('a restart resumes a launch', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-launch-restart-'));
  const instances = new FakeInstances();
  const artifacts = new MemoryArtifacts();
  let env: Env;
  after(async () => {
    await env?.t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('states missed while down are read back, crash leftovers are adopted or launched, nothing is launched twice', async () => {
    env = await start({ instances, artifacts, dataDir }, 4);
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

    env = await start({ instances, artifacts, dataDir, connector: env.connector, servers: env.servers });
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
    env = await start({ instances, artifacts, dataDir, connector: env.connector, servers: env.servers });
    await waitForApp(env.t.sms, app.appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED');
    assert.deepEqual(instances.live(app.appId), []);
  });
});

describe('autoLaunch', () => {
  test('launches the app when its first replication completes; without a launch subsystem it fails saying so', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-autolaunch-'));
    const env = await start({ instances: new FakeInstances(), artifacts: new MemoryArtifacts(), dataDir }, 2);
    env.instances.autoBoot = true;
    try {
      const app = await createApp(env.t.sms, 'auto', [env.servers[0]!]);
      await configureLaunch(env.t.sms, app, { autoLaunch: true });
      await replicate(env, app);
      const launched = await waitForApp(env.t.sms, app.appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED');
      assert.equal(launched.replicationStatus, 'REPLICATED');
      assert.equal(env.instances.launches.length, 1);
    } finally {
      await env.t.close();
      rmSync(dataDir, { recursive: true, force: true });
    }

    const bare = await startTestFerry();
    try {
      const connector = await bare.connector();
      await connector.register();
      const servers = await importServers(bare.sms, connector, 1);
      const app = await createApp(bare.sms, 'auto-without', [servers[0]!]);
      await configureLaunch(bare.sms, app, { autoLaunch: true });
      await replicate({ t: bare, connector } as Env, app);
      const s = await summary(bare.sms, app.appId);
      assert.equal(s.launchStatus, 'LAUNCH_FAILED');
      assert.match(s.launchStatusMessage!, /autoLaunch could not start: this Ferry runs without a launch subsystem/);
      await rejectsWith(bare.sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /LaunchApp is not possible: this Ferry runs without a launch subsystem/);
    } finally {
      await bare.close();
    }
  });
});
