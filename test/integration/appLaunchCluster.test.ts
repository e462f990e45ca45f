/**
 * Launching in a cluster (domain/launchPlacement.ts): Ferry nodes on one PostgreSQL store, of which the one that
 * FERRY_LAUNCH_NODE names launches. The App operations work through any node; the launch node follows what the
 * others asked (their events stay in their own processes) and launches; what needs the instance's host is refused
 * elsewhere with the node to ask (test/store/launchElsewhere.test.ts); a cluster that names no launch node refuses
 * launches saying how to name one.
 *
 * The launch node runs the stand-in launch subsystem (test/helpers/fakeInstances.ts, instances boot by themselves):
 * what is under test is which node acts on what, through the shared store, not libvirt — the launch node's
 * subsystem is the one a lone Ferry runs (appLaunch.test.ts, appsEndToEnd.test.ts launch for real). Skipped, with
 * the reason, without FERRY_TEST_PG_URL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GetAppValidationOutputCommand, LaunchAppCommand, PutAppValidationConfigurationCommand, StartAppReplicationCommand, TerminateAppCommand } from '@aws-sdk/client-sms';
import { configureLaunch, configureReplication, createApp, importServers, putArtifact, rejectsWith, summary, waitForApp } from '../helpers/apps.ts';
import { waitFor } from '../helpers/replication.ts';
import { startTestFerry, unreachableLaunch, type TestFerry } from '../helpers/ferry.ts';
import { instanceRow } from '../helpers/storeFixtures.ts';
import { startFerry } from '../../src/main.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { insertInstance } from '../../src/launch/instanceRepo.ts';
import { createTestDatabase, postgresSkipReason, testPostgresUrl } from '../helpers/stores.ts';
import { FakeInstances } from '../helpers/fakeInstances.ts';
import type { TestConnector } from '../helpers/testConnector.ts';
import { LONE_TEST_NODE } from '../helpers/process.ts';

describe('launching in a cluster: one node launches, any node takes the App operations', { skip: postgresSkipReason }, () => {
  let database: { url: string; drop(): Promise<void> };
  let launchNode: TestFerry;
  let otherNode: TestFerry;
  let connector: TestConnector;
  const instances = new FakeInstances();
  instances.autoBoot = true;
  const dirs: string[] = [];
  /** A node's data dir, holding the cluster's master key (the first node's) as FERRY_MASTER_KEY would give it. */
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-launch-cluster-'));
    if (dirs.length > 0) copyFileSync(join(dirs[0]!, 'master.key'), join(dir, 'master.key'));
    dirs.push(dir);
    return dir;
  };

  before(async () => {
    database = await createTestDatabase(testPostgresUrl!);
    // The launch node is LONE_TEST_NODE (startTestFerry's default on PostgreSQL); the other node is named apart.
    launchNode = await startTestFerry({ dataDir: dataDir(), store: database.url as `postgres://${string}`, instances });
    instances.attach(launchNode.ferry.core);
    otherNode = await startTestFerry({ dataDir: dataDir(), store: database.url as `postgres://${string}`, nodeId: 'node-b' });
    // One connector, through the other node, for the cluster's catalog (a second one would be awaited by imports).
    connector = await otherNode.connector();
    await connector.register();
  });

  after(async () => {
    await otherNode?.close();
    await launchNode?.close();
    await database?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('LaunchApp, an app validation and TerminateApp through the other node: the launch node launches, validates and terminates', async () => {
    assert.deepEqual(launchNode.ferry.launchPlacement, { kind: 'here' });
    assert.deepEqual(otherNode.ferry.launchPlacement, { kind: 'elsewhere', node: LONE_TEST_NODE });
    const sms = otherNode.sms;
    const servers = await importServers(sms, connector, 2);
    const app = await createApp(sms, 'clustered', servers);
    await configureReplication(sms, app, { runOnce: true });
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    for (let done = 0; done < servers.length; ) {
      for (const run of await connector.claim(servers.length)) {
        await connector.completeWithImage(run.replicationRunId);
        done++;
      }
    }
    await configureLaunch(sms, app);

    await sms.send(new LaunchAppCommand({ appId: app.appId }));
    const launched = await waitForApp(sms, app.appId, 'LAUNCHED', (s) => s.launchStatus === 'LAUNCHED', 30_000);
    assert.equal(launched.launchStatus, 'LAUNCHED');
    assert.deepEqual(instances.launches.map((l) => l.serverId).sort(), [...servers].sort(), 'the launch node launched each server once');

    // An app validation configured through the other node on the launched app is queued there and run by the launch
    // node (its stand-in subsystem cannot run commands: the validation ends FAILED saying so, not QUEUED).
    await putArtifact(launchNode, 'sms-app-checks', 'check.sh', '#!/bin/sh\necho ok\n');
    await sms.send(
      new PutAppValidationConfigurationCommand({
        appId: app.appId,
        appValidationConfigurations: [
          { name: 'check', appValidationStrategy: 'SSM', ssmValidationParameters: { source: { s3Location: { bucket: 'sms-app-checks', key: 'check.sh' } }, command: 'sh check.sh', scriptType: 'SHELL_SCRIPT', executionTimeoutSeconds: 60 } },
        ],
      }),
    );
    const ran = await waitFor('the app validation to be run by the launch node', async () => {
      const [output] = (await sms.send(new GetAppValidationOutputCommand({ appId: app.appId }))).validationOutputList ?? [];
      return output && output.status !== 'PENDING' && output.status !== 'IN_PROGRESS' ? output : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(ran.status, 'FAILED');
    assert.match(ran.statusMessage ?? '', /runCommand is not part of this stand-in/);

    await sms.send(new TerminateAppCommand({ appId: app.appId }));
    await waitForApp(sms, app.appId, 'TERMINATED', (s) => s.launchStatus === 'TERMINATED', 30_000);
    assert.equal((await summary(launchNode.sms, app.appId)).launchStatus, 'TERMINATED');
    assert.ok([...instances.instances.values()].every((i) => i.state === 'terminated'), 'the launch node terminated every instance');
  });

  test('an autoLaunch planned by the other node, whose connector completed the replication, is launched by the launch node', async () => {
    const sms = otherNode.sms;
    const servers = await importServers(sms, connector, 1, 'auto'); // the connector's new inventory
    const app = await createApp(sms, 'auto-clustered', servers);
    await configureLaunch(sms, app, { autoLaunch: true });
    await configureReplication(sms, app, { runOnce: true });
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    const before = instances.launches.length;
    for (const run of await connector.claim(1)) await connector.completeWithImage(run.replicationRunId);
    await waitForApp(sms, app.appId, 'LAUNCHED by autoLaunch', (s) => s.launchStatus === 'LAUNCHED', 30_000);
    assert.deepEqual(instances.launches.slice(before).map((l) => l.serverId), servers);
  });

  test('a cluster that names no launch node refuses LaunchApp, saying how to name one', async () => {
    // A cluster of its own (another database): the first test's connectors would be awaited by this one's import.
    const own = await createTestDatabase(testPostgresUrl!);
    const unnamed = await startTestFerry({ dataDir: dataDir(), store: own.url as `postgres://${string}`, nodeId: 'node-c', launch: { node: undefined } });
    try {
      assert.deepEqual(unnamed.ferry.launchPlacement, { kind: 'nowhere' });
      const sms = unnamed.sms;
      const connector = await unnamed.connector();
      await connector.register();
      const servers = await importServers(sms, connector, 1, 'unnamed');
      const app = await createApp(sms, 'unnamed', servers);
      await configureReplication(sms, app, { runOnce: true });
      await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
      for (const run of await connector.claim(1)) await connector.completeWithImage(run.replicationRunId);
      await configureLaunch(sms, app);
      await rejectsWith(sms.send(new LaunchAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /^LaunchApp is not possible: in a cluster, one node launches instances and none is named: set FERRY_LAUNCH_NODE/);
      assert.equal((await summary(sms, app.appId)).launchStatus, 'READY_FOR_LAUNCH');
    } finally {
      await unnamed.close();
      await own.drop();
    }
  });

  test('a node of a cluster naming no launch node warns of the launched instances nobody watches now', async () => {
    // The store launched before it was shared (or before the launch node was unnamed): one running instance.
    await insertInstance(launchNode.ferry.core, instanceRow('i-0000000000000000b', Date.now()), []);
    const warnings: string[] = [];
    const sink = new Writable({ write: (chunk, _encoding, done) => (warnings.push(String(chunk)), done()) });
    const dir = dataDir();
    const node = await startFerry({ dataDir: dir, store: database.url, nodeId: 'node-d', log: createLogger('warn', sink), env: {}, launch: unreachableLaunch(dir) });
    try {
      assert.deepEqual(node.launchPlacement, { kind: 'nowhere' });
      assert.ok(
        warnings.some((line) => /1 launched instance\(s\) are not watched by any node: in a cluster, one node launches instances and none is named/.test(line)),
        warnings.join(''),
      );
    } finally {
      await node.close();
    }
  });
});
