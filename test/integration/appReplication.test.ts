/**
 * App replication drives the replication engine (spec §7): StartAppReplication creates one job per server with its
 * parameters (all or nothing), StartOnDemandAppReplication starts a run on every job (§6.5 limits),
 * StopAppReplication deletes the jobs. A scripted connector moves the runs; the app's replicationStatus follows in
 * the same transaction (no waiting between a run's change and the app's), and each change is an `app.state` event.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateReplicationJobCommand,
  DeleteAppCommand,
  DeleteReplicationJobCommand,
  GetAppCommand,
  GetReplicationJobsCommand,
  PutAppReplicationConfigurationCommand,
  StartAppReplicationCommand,
  StartOnDemandAppReplicationCommand,
  StopAppReplicationCommand,
  UpdateAppCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { configureReplication, createApp, ferryWithServers, groups, rejectsWith, summary, waitForApp, type CatalogFerry } from '../helpers/apps.ts';
import { waitFor } from '../helpers/replication.ts';
import type { FerryEvent } from '../../src/core/events.ts';

let f: CatalogFerry;
let sms: SMSClient;
const appEvents: Extract<FerryEvent, { type: 'app.state' }>[] = [];

before(async () => {
  f = await ferryWithServers(8);
  sms = f.t.sms;
  f.t.ferry.core.events.subscribe((e) => {
    if (e.type === 'app.state') appEvents.push(e);
  });
});
after(() => f.t.close());

/** Claims the due runs of `count` jobs (one each). */
async function claim(count: number) {
  const runs = [];
  const deadline = Date.now() + 5000;
  while (runs.length < count) {
    runs.push(...(await f.connector.claim(count - runs.length)));
    if (Date.now() > deadline) throw new Error(`only ${runs.length} of ${count} runs became claimable`);
  }
  return runs;
}

const statusOf = async (appId: string) => (await summary(sms, appId)).replicationStatus;

describe('an app replicates through its jobs', () => {
  test('PENDING → IN_PROGRESS → REPLICATED → DELTA_* → STOPPING → STOPPED, each move committed with the run that caused it', async () => {
    const app = await createApp(sms, 'two-tier', [f.servers[0]!], [f.servers[1]!]);
    await configureReplication(sms, app, { frequency: 12 });
    assert.equal(await statusOf(app.appId), 'READY_FOR_REPLICATION');
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    let s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'REPLICATION_PENDING');

    const view = await sms.send(new GetAppCommand({ appId: app.appId }));
    const jobIds = view.serverGroups!.flatMap((g) => g.serverList!.map((x) => x.replicationJobId!));
    assert.equal(jobIds.length, 2);
    for (const jobId of jobIds) {
      const job = (await sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList![0]!;
      assert.equal(job.frequency, 12);
      assert.match(job.description!, /two-tier/);
    }

    const [r1, r2] = await claim(2);
    assert.equal(await statusOf(app.appId), 'REPLICATION_IN_PROGRESS');
    await f.connector.completeWithImage(r1!.replicationRunId);
    s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'REPLICATION_IN_PROGRESS');
    assert.match(s.replicationStatusMessage!, /1 of 2 servers replicated; 1 replicating now or about to/);
    await f.connector.completeWithImage(r2!.replicationRunId);
    s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'REPLICATED', 'no wait: the app moved in the run\'s own transaction');
    assert.ok(s.latestReplicationTime, 'latestReplicationTime from the runs');
    const firstTime = s.latestReplicationTime!.getTime();

    await sms.send(new StartOnDemandAppReplicationCommand({ appId: app.appId, description: 'before cut-over' }));
    const delta = await claim(2);
    assert.equal(await statusOf(app.appId), 'DELTA_REPLICATION_IN_PROGRESS');
    for (const run of delta) await f.connector.completeWithImage(run.replicationRunId);
    s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'DELTA_REPLICATED');
    assert.ok(s.latestReplicationTime!.getTime() >= firstTime);

    await sms.send(new StartOnDemandAppReplicationCommand({ appId: app.appId }));
    const [d1, d2] = await claim(2);
    await f.connector.completeWithImage(d1!.replicationRunId);
    await f.connector.fail(d2!.replicationRunId, 'Uploading: disk 0 could not be read');
    s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'DELTA_REPLICATION_FAILED');
    assert.match(s.replicationStatusMessage!, /disk 0 could not be read/);
    // §6.5: at most 2 on-demand runs per job in 24 hours; the App operation names the server.
    await rejectsWith(sms.send(new StartOnDemandAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', /Server s-[0-9a-f]{8}: .*2 on-demand runs in the last 24 hours/);

    await sms.send(new StopAppReplicationCommand({ appId: app.appId }));
    assert.match((await statusOf(app.appId))!, /^REPLICATION_STOP(PING|PED)$/);
    s = await waitForApp(sms, app.appId, 'REPLICATION_STOPPED', (x) => x.replicationStatus === 'REPLICATION_STOPPED');
    assert.match(s.replicationStatusMessage!, /images are kept/);
    assert.ok(s.latestReplicationTime, 'the latest replication time outlives the jobs');
    for (const jobId of jobIds) {
      const job = (await sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList![0]!;
      assert.equal(job.state, 'DELETED');
      assert.match(job.latestAmiId!, /^ami-/, 'the job keeps its images');
    }
    const moves = appEvents.filter((e) => e.appId === app.appId).map((e) => e.replicationStatus);
    for (const expected of ['READY_FOR_REPLICATION', 'REPLICATION_PENDING', 'REPLICATION_IN_PROGRESS', 'REPLICATED', 'DELTA_REPLICATION_IN_PROGRESS', 'DELTA_REPLICATED', 'DELTA_REPLICATION_FAILED', 'REPLICATION_STOPPED']) {
      assert.ok(moves.includes(expected), `app.state announced ${expected}: ${moves.join(' → ')}`);
    }
    // Stopped: a new configuration and a new start are possible.
    await configureReplication(sms, app, { runOnce: true });
    assert.equal(await statusOf(app.appId), 'READY_FOR_REPLICATION');
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceStopAppReplication: true }));
  });

  test('failures: PARTIALLY_REPLICATED when some servers have images, REPLICATION_FAILED when none do', async () => {
    const app = await createApp(sms, 'partial', [f.servers[2]!, f.servers[3]!]);
    await configureReplication(sms, app, { runOnce: true });
    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    const [a, b] = await claim(2);
    await f.connector.completeWithImage(a!.replicationRunId);
    await f.connector.fail(b!.replicationRunId, 'Validating: the VM has 23 disks');
    const s = await summary(sms, app.appId);
    assert.equal(s.replicationStatus, 'PARTIALLY_REPLICATED');
    assert.match(s.replicationStatusMessage!, /1 of 2 servers replicated\. s-[0-9a-f]{8}: Validating: the VM has 23 disks/);
    assert.equal(s.latestReplicationTime, undefined);
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceStopAppReplication: true }));

    const lone = await createApp(sms, 'lone', [f.servers[4]!]);
    await configureReplication(sms, lone, { runOnce: true });
    await sms.send(new StartAppReplicationCommand({ appId: lone.appId }));
    const [c] = await claim(1);
    await f.connector.fail(c!.replicationRunId, 'Snapshotting: no space');
    assert.equal(await statusOf(lone.appId), 'REPLICATION_FAILED');
    await sms.send(new DeleteAppCommand({ appId: lone.appId, forceStopAppReplication: true }));
  });
});

describe('rules and errors of the replication operations', () => {
  test('StartAppReplication needs servers with parameters, once; all or nothing', async () => {
    const app = await createApp(sms, 'rules', [f.servers[5]!], [f.servers[6]!]);
    await rejectsWith(sms.send(new StartAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', /have no replication parameters; set them with PutAppReplicationConfiguration/);
    await sms.send(
      new PutAppReplicationConfigurationCommand({
        appId: app.appId,
        serverGroupReplicationConfigurations: [{ serverGroupId: app.serverGroups![0]!.serverGroupId, serverReplicationConfigurations: [{ server: { serverId: f.servers[5] }, serverReplicationParameters: { runOnce: true } }] }],
      }),
    );
    await rejectsWith(sms.send(new StartAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', new RegExp(`Servers ${f.servers[6]} of app`));
    await configureReplication(sms, app, { frequency: 1 });
    // A server that already has a job of its own: the whole start is refused, and no job is left behind.
    const { replicationJobId } = await sms.send(new CreateReplicationJobCommand({ serverId: f.servers[6], seedReplicationTime: new Date(Date.now() + 3_600_000), frequency: 24 }));
    const jobsBefore = (await sms.send(new GetReplicationJobsCommand({ maxResults: 1000 }))).replicationJobList!.length;
    await rejectsWith(sms.send(new StartAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', new RegExp(`Server ${f.servers[6]}: Server ${f.servers[6]} already has replication job ${replicationJobId}`));
    assert.equal((await sms.send(new GetReplicationJobsCommand({ maxResults: 1000 }))).replicationJobList!.length, jobsBefore, 'no job created');
    assert.equal(await statusOf(app.appId), 'READY_FOR_REPLICATION');

    await rejectsWith(sms.send(new StartOnDemandAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', /not replicating.*StartAppReplication first/);
    await rejectsWith(sms.send(new StopAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', /not replicating/);
    await sms.send(new DeleteReplicationJobCommand({ replicationJobId }));
    await waitFor('the standalone job to be DELETED', async () => {
      const job = (await sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
      return job.state === 'DELETED' ? job : undefined;
    });

    await sms.send(new StartAppReplicationCommand({ appId: app.appId }));
    assert.equal(await statusOf(app.appId), 'REPLICATION_PENDING');
    await rejectsWith(sms.send(new StartAppReplicationCommand({ appId: app.appId })), 'OperationNotPermittedException', /already replicating/);
    await rejectsWith(sms.send(new PutAppReplicationConfigurationCommand({ appId: app.appId, serverGroupReplicationConfigurations: [] })), 'OperationNotPermittedException', /replicating.*StopAppReplication/);
    await rejectsWith(sms.send(new UpdateAppCommand({ appId: app.appId, serverGroups: groups([f.servers[5]!, f.servers[7]!]) })), 'OperationNotPermittedException', /StopAppReplication/);
    const renamed = await sms.send(new UpdateAppCommand({ appId: app.appId, name: 'renamed while replicating' }));
    assert.equal(renamed.appSummary!.name, 'renamed while replicating');
    await rejectsWith(sms.send(new DeleteAppCommand({ appId: app.appId })), 'OperationNotPermittedException', /forceStopAppReplication/);
    for (const Command of [StartAppReplicationCommand, StopAppReplicationCommand]) await rejectsWith(sms.send(new Command({})), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new StartOnDemandAppReplicationCommand({} as never)), 'MissingRequiredParameterException', /appId/);
    await rejectsWith(sms.send(new StartAppReplicationCommand({ appId: 'app-00000000000000000' })), 'InvalidParameterException', /does not exist/);

    const jobIds = (await sms.send(new GetAppCommand({ appId: app.appId }))).serverGroups!.flatMap((g) => g.serverList!.map((s) => s.replicationJobId!));
    await sms.send(new DeleteAppCommand({ appId: app.appId, forceStopAppReplication: true }));
    await rejectsWith(sms.send(new GetAppCommand({ appId: app.appId })), 'InvalidParameterException');
    for (const jobId of jobIds) {
      const job = (await sms.send(new GetReplicationJobsCommand({ replicationJobId: jobId }))).replicationJobList![0]!;
      assert.match(job.state!, /^DELET(ING|ED)$/, 'forceStopAppReplication deleted the jobs');
    }
  });
});
