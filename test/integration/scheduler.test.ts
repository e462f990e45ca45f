/**
 * The scheduler over days of simulated time: a real Ferry with an injected ManualClock, real SDK clients and a
 * scripted connector. The background loop is stopped; each test moves the clock and calls `scheduler.tick(now)`
 * itself, so nothing waits on real timers and every step is deterministic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  UpdateReplicationJobCommand,
  type CreateReplicationJobCommandInput,
  type ReplicationJob,
  type ReplicationRun,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { amiId, ConnectorApiError, TestConnector, vms } from '../helpers/testConnector.ts';
import { DAY, HOUR, MINUTE, SECOND, ManualClock } from '../../src/lib/clock.ts';
import type { Policy } from '../../src/domain/policy.ts';

const START = Date.UTC(2026, 0, 1);
/** Long enough that moving the clock across a run's work never expires its lease (except where a test wants it). */
const LONG_LEASE: Partial<Policy> = { runLeaseMs: 2 * DAY };

interface Harness {
  t: TestFerry;
  clock: ManualClock;
  connector: TestConnector;
  serverIds: string[];
}

async function setup(options: { policy?: Partial<Policy>; dataDir?: string } = {}): Promise<Harness> {
  const clock = new ManualClock(START);
  const t = await startTestFerry({ clock, policy: options.policy ?? LONG_LEASE, dataDir: options.dataDir });
  await t.ferry.scheduler.stop(); // the test drives every tick itself
  const connector = await t.connector();
  await connector.register();
  await t.sms.send(new ImportServerCatalogCommand({}));
  await connector.heartbeat();
  await connector.inventory(vms(3));
  const { serverList } = await t.sms.send(new GetServersCommand({}));
  return { t, clock, connector, serverIds: serverList!.map((s) => s.serverId!) };
}

/** One scheduler pass at the clock's time; a wake-up at or before now would make the loop spin. */
async function tick(h: Harness): Promise<number | null> {
  const now = h.clock.now();
  const wake = await h.t.ferry.scheduler.tick(now);
  assert.ok(wake === null || wake > now, `tick at ${new Date(now).toISOString()} asked to wake at ${wake === null ? null : new Date(wake).toISOString()}`);
  return wake;
}

async function at(h: Harness, time: number): Promise<number | null> {
  h.clock.set(time);
  return tick(h);
}

async function createJob(h: Harness, input: Partial<CreateReplicationJobCommandInput> & { serverId?: string }): Promise<string> {
  await h.connector.heartbeat(); // the clock may have moved past the connector's last heartbeat
  const { replicationJobId } = await h.t.sms.send(
    new CreateReplicationJobCommand({ serverId: h.serverIds[0]!, seedReplicationTime: new Date(h.clock.now()), ...input }),
  );
  return replicationJobId!;
}

async function job(h: Harness, replicationJobId: string): Promise<ReplicationJob> {
  return (await h.t.sms.send(new GetReplicationJobsCommand({ replicationJobId }))).replicationJobList![0]!;
}

/** All runs of a job, newest first. */
async function runs(h: Harness, replicationJobId: string): Promise<ReplicationRun[]> {
  return (await h.t.sms.send(new GetReplicationRunsCommand({ replicationJobId, maxResults: 1000 }))).replicationRunList!;
}

async function server(h: Harness, serverId: string) {
  return (await h.t.sms.send(new GetServersCommand({}))).serverList!.find((s) => s.serverId === serverId)!;
}

const time = (d: Date | undefined): number | undefined => d?.getTime();
const pendingRuns = (list: ReplicationRun[]) => list.filter((r) => r.state === 'PENDING');

async function claimOne(h: Harness) {
  const claimed = await h.connector.claim();
  assert.equal(claimed.length, 1, `expected one claimable run at ${new Date(h.clock.now()).toISOString()}`);
  return claimed[0]!;
}

async function rejects(promise: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(promise, (e: Error) => {
    assert.equal(e.name, name);
    return true;
  });
}

test('scheduler', async (s) => {
  await s.test('does not spin: tick returns null or a future time, or the due run’s following slot / lease', async () => {
    const clock = new ManualClock(START);
    const t = await startTestFerry({ clock });
    try {
      await t.ferry.scheduler.stop();
      const h: Harness = { t, clock, connector: await t.connector(), serverIds: [] };
      assert.equal(await tick(h), null, 'nothing to do at all');
      await h.connector.register();
      await t.sms.send(new ImportServerCatalogCommand({}));
      assert.equal(await tick(h), START + t.ferry.core.policy.catalogImportTimeoutMs, 'wakes for the import timeout');
      await h.connector.inventory(vms(1));
      assert.equal(await tick(h), null, 'catalog available, no jobs');
      h.serverIds = (await t.sms.send(new GetServersCommand({}))).serverList!.map((x) => x.serverId!);

      const seed = START + 3 * HOUR;
      await createJob(h, { seedReplicationTime: new Date(seed), frequency: 6 });
      assert.equal(await tick(h), seed, 'sleeps until the first run');
      assert.equal(await at(h, seed - 1), seed);
      // Due, but no connector has taken it: wake when it would be missed, not now.
      assert.equal(await at(h, seed), seed + 6 * HOUR);
      assert.equal(await at(h, seed + 10 * MINUTE), seed + 6 * HOUR);
      const run = await claimOne(h);
      // Active: wake when its lease would run out (sooner than the next slot).
      assert.equal(await tick(h), seed + 10 * MINUTE + 2 * MINUTE + 1);
      assert.equal(run.leaseExpiresAt, seed + 12 * MINUTE);
    } finally {
      await t.close();
    }
  });

  await s.test('the real loop sleeps: with nothing due and a due-but-unclaimed run it does not tick again', async () => {
    // The system clock and the running loop, watched for a moment of real time.
    const t = await startTestFerry();
    try {
      const connector = await t.connector();
      await connector.register();
      await t.sms.send(new ImportServerCatalogCommand({}));
      await connector.inventory(vms(1));
      const serverId = (await t.sms.send(new GetServersCommand({}))).serverList![0]!.serverId!;
      await t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() - 1000), frequency: 1 }));
      const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      // Let the ticks the changes above asked for run (a spinning loop never settles).
      let settled = t.ferry.scheduler.lastTickAt;
      for (let i = 0; i < 10; i++) {
        await sleep(100);
        if (t.ferry.scheduler.lastTickAt === settled) break;
        settled = t.ferry.scheduler.lastTickAt;
      }
      assert.ok(settled !== undefined && settled > Date.now() - 10_000);
      await sleep(300);
      assert.equal(t.ferry.scheduler.lastTickAt, settled, 'no tick while nothing new can happen');
      assert.equal(t.ferry.scheduler.lastError, undefined);
    } finally {
      await t.close();
    }
  });

  await s.test('first AUTOMATIC run at seedReplicationTime, then every `frequency` hours for days', async () => {
    const h = await setup();
    try {
      const seed = START + HOUR;
      const frequency = 8;
      const id = await createJob(h, { seedReplicationTime: new Date(seed), frequency });
      let j = await job(h, id);
      assert.equal(j.state, 'PENDING');
      assert.equal(time(j.seedReplicationTime), seed);
      assert.equal(j.frequency, frequency);
      assert.equal(time(j.nextReplicationRunStartTime), seed);
      assert.deepEqual((await runs(h, id)).map((r) => [r.type, r.state, time(r.scheduledStartTime)]), [['AUTOMATIC', 'PENDING', seed]]);
      assert.deepEqual(await h.connector.claim(), [], 'not before the seed time');
      await at(h, seed - SECOND);
      assert.deepEqual(await h.connector.claim(), []);

      const slots = 10; // 80 hours
      for (let k = 0; k < slots; k++) {
        const slot = seed + k * frequency * HOUR;
        await at(h, slot);
        const run = await claimOne(h);
        assert.equal(run.type, 'AUTOMATIC');
        assert.equal(run.scheduledStartTime, slot);
        j = await job(h, id);
        assert.equal(j.state, 'ACTIVE');
        assert.equal(time(j.nextReplicationRunStartTime), slot + frequency * HOUR, `next run after slot ${k}`);
        assert.equal(j.replicationRunList?.[0]?.replicationRunId !== run.replicationRunId, true, 'latest run is the next pending one');
        await at(h, slot + HOUR);
        await h.connector.progress(run.replicationRunId, 'Uploading', '50%');
        await at(h, slot + 2 * HOUR);
        const image = await h.connector.completeWithImage(run.replicationRunId);
        j = await job(h, id);
        assert.equal(j.latestAmiId, image);
        assert.equal(time(j.nextReplicationRunStartTime), slot + frequency * HOUR);
      }
      const list = await runs(h, id);
      assert.equal(list.length, slots + 1);
      assert.deepEqual(
        list.map((r) => [r.state, time(r.scheduledStartTime)]),
        [['PENDING', seed + slots * frequency * HOUR], ...Array.from({ length: slots }, (_, i) => ['COMPLETED', seed + (slots - 1 - i) * frequency * HOUR])],
      );
      assert.ok(list.every((r) => r.type === 'AUTOMATIC'));
      assert.equal(list.filter((r) => r.state === 'MISSED').length, 0);
      assert.equal(time(list[1]!.completedTime), seed + (slots - 1) * frequency * HOUR + 2 * HOUR);
    } finally {
      await h.t.close();
    }
  });

  await s.test('UpdateReplicationJob: a new frequency or next run time applies from the next scheduled run', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 12 });
      const first = await claimOne(h);
      await at(h, START + HOUR);
      await h.t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, frequency: 6 }));
      let j = await job(h, id);
      assert.equal(j.frequency, 6);
      assert.equal(time(j.nextReplicationRunStartTime), START + 12 * HOUR, 'the already planned run keeps its time');
      await h.connector.completeWithImage(first.replicationRunId);
      await at(h, START + 12 * HOUR);
      await claimOne(h);
      assert.equal(time((await job(h, id)).nextReplicationRunStartTime), START + 18 * HOUR, 'then every 6 hours');

      await h.t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, nextReplicationRunStartTime: new Date(START + 20 * HOUR) }));
      j = await job(h, id);
      assert.equal(time(j.nextReplicationRunStartTime), START + 20 * HOUR);
      assert.deepEqual(pendingRuns(await runs(h, id)).map((r) => time(r.scheduledStartTime)), [START + 20 * HOUR], 'the pending run moved, no second one');
    } finally {
      await h.t.close();
    }
  });

  await s.test('skip-not-queue: a slot falling due while a run is active is MISSED; the job moves to the following slot', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 4 });
      const first = await claimOne(h);
      await at(h, START + 4 * HOUR);
      let list = await runs(h, id);
      const missed = list.find((r) => time(r.scheduledStartTime) === START + 4 * HOUR)!;
      assert.equal(missed.state, 'MISSED');
      assert.equal(missed.type, 'AUTOMATIC');
      assert.match(missed.statusMessage!, /another replication run of this job was still active/);
      assert.equal(list.find((r) => r.replicationRunId === first.replicationRunId)!.state, 'ACTIVE');
      assert.deepEqual(pendingRuns(list).map((r) => time(r.scheduledStartTime)), [START + 8 * HOUR], 'not queued: one pending run, at the following slot');
      assert.equal(time((await job(h, id)).nextReplicationRunStartTime), START + 8 * HOUR);
      assert.deepEqual(await h.connector.claim(), [], 'nothing runs beside the active run');

      await at(h, START + 5 * HOUR);
      await h.connector.completeWithImage(first.replicationRunId);
      assert.deepEqual(await h.connector.claim(), [], 'the missed slot is not made up');
      await at(h, START + 8 * HOUR);
      const third = await claimOne(h);
      assert.equal(third.scheduledStartTime, START + 8 * HOUR);
      await h.connector.completeWithImage(third.replicationRunId);

      // An ON_DEMAND run blocks the schedule the same way.
      await at(h, START + 11 * HOUR);
      const onDemandId = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }))).replicationRunId!;
      assert.equal((await claimOne(h)).replicationRunId, onDemandId);
      await at(h, START + 12 * HOUR);
      list = await runs(h, id);
      assert.equal(list.find((r) => time(r.scheduledStartTime) === START + 12 * HOUR && r.type === 'AUTOMATIC')!.state, 'MISSED');
      assert.equal(time((await job(h, id)).nextReplicationRunStartTime), START + 16 * HOUR);
      await h.connector.completeWithImage(onDemandId);
      assert.deepEqual(
        (await runs(h, id)).map((r) => [r.type, r.state, time(r.scheduledStartTime)]),
        // newest first by creation: the +12h run was planned when the +8h run started, before the on-demand run
        [
          ['AUTOMATIC', 'PENDING', START + 16 * HOUR],
          ['ON_DEMAND', 'COMPLETED', START + 11 * HOUR],
          ['AUTOMATIC', 'MISSED', START + 12 * HOUR],
          ['AUTOMATIC', 'COMPLETED', START + 8 * HOUR],
          ['AUTOMATIC', 'MISSED', START + 4 * HOUR],
          ['AUTOMATIC', 'COMPLETED', START],
        ],
      );
    } finally {
      await h.t.close();
    }
  });

  await s.test('runOnce: COMPLETED after one run and nothing more; three failures make it FAILED', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { runOnce: true });
      let j = await job(h, id);
      assert.equal(j.runOnce, true);
      assert.equal(j.frequency, undefined);
      assert.equal(time(j.nextReplicationRunStartTime), START);
      const run = await claimOne(h);
      assert.equal((await job(h, id)).nextReplicationRunStartTime, undefined, 'no further run planned');
      await at(h, START + 3 * HOUR);
      const image = await h.connector.completeWithImage(run.replicationRunId);
      j = await job(h, id);
      assert.equal(j.state, 'COMPLETED');
      assert.equal(j.latestAmiId, image);
      assert.equal(j.nextReplicationRunStartTime, undefined);
      for (let day = 1; day <= 5; day++) {
        assert.equal(await at(h, START + day * DAY), null, 'nothing left to schedule');
        assert.deepEqual(await h.connector.claim(), []);
      }
      assert.deepEqual((await runs(h, id)).map((r) => r.state), ['COMPLETED']);
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'OperationNotPermittedException');
      assert.equal((await server(h, h.serverIds[0]!)).replicationJobTerminated, false);

      // A one-time job that keeps failing retries, then FAILS (it never pauses).
      const failing = await createJob(h, { runOnce: true, serverId: h.serverIds[1]! });
      for (let attempt = 1; attempt <= 3; attempt++) {
        const r = await claimOne(h);
        assert.equal(r.replicationJobId, failing);
        await h.connector.fail(r.replicationRunId, `ServerError: attempt ${attempt} failed.`);
        j = await job(h, failing);
        if (attempt < 3) {
          assert.equal(j.state, 'ACTIVE');
          assert.match(j.statusMessage!, new RegExp(`${3 - attempt} re-try run\\(s\\) remaining`));
          assert.equal(time(j.nextReplicationRunStartTime), h.clock.now() + 15 * MINUTE);
          await at(h, h.clock.now() + 15 * MINUTE);
        }
      }
      assert.equal(j.state, 'FAILED');
      assert.match(j.statusMessage!, /ServerError: attempt 3 failed\./);
      assert.equal(j.nextReplicationRunStartTime, undefined);
      assert.deepEqual((await runs(h, failing)).map((r) => r.state), ['FAILED', 'FAILED', 'FAILED']);
      assert.equal((await server(h, h.serverIds[1]!)).replicationJobTerminated, true, 'a failed job is terminated (spec §4.2)');
      await at(h, h.clock.now() + 5 * DAY);
      assert.equal((await job(h, failing)).state, 'FAILED');
    } finally {
      await h.t.close();
    }
  });

  await s.test('on-demand runs while PENDING or ACTIVE; 2 per rolling 24 h, recovering after 24 h', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { seedReplicationTime: new Date(START + 12 * HOUR), frequency: 24 });
      await at(h, START + HOUR);
      const first = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id, description: 'first' }))).replicationRunId!;
      assert.match(first, /^sms-run-[0-9a-f]{8}$/);
      let j = await job(h, id);
      assert.equal(j.state, 'PENDING', 'an on-demand run waiting to start does not change the job');
      const pending = (await runs(h, id)).find((r) => r.replicationRunId === first)!;
      assert.equal(pending.type, 'ON_DEMAND');
      assert.equal(pending.state, 'PENDING');
      assert.equal(pending.description, 'first');
      assert.equal(time(pending.scheduledStartTime), START + HOUR);
      const claimed = await claimOne(h);
      assert.equal(claimed.replicationRunId, first);
      assert.equal(claimed.type, 'ON_DEMAND');
      j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(time(j.nextReplicationRunStartTime), START + 12 * HOUR, 'the schedule is untouched');
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'OperationNotPermittedException');
      await at(h, START + 2 * HOUR);
      await h.connector.completeWithImage(first);

      await at(h, START + 3 * HOUR);
      const second = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }))).replicationRunId!;
      assert.equal((await claimOne(h)).replicationRunId, second);
      await h.connector.completeWithImage(second);
      await at(h, START + 4 * HOUR);
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'ReplicationRunLimitExceededException');
      await at(h, START + HOUR + DAY - SECOND);
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'ReplicationRunLimitExceededException');

      await at(h, START + HOUR + DAY); // the first one leaves the window
      const third = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }))).replicationRunId!;
      assert.equal((await claimOne(h)).replicationRunId, third, 'on-demand runs are claimed before a due automatic run');
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'OperationNotPermittedException');
      await h.connector.completeWithImage(third);
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'ReplicationRunLimitExceededException');
      await at(h, START + 3 * HOUR + DAY);
      const fourth = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }))).replicationRunId!;
      assert.equal((await runs(h, id)).filter((r) => r.type === 'ON_DEMAND').length, 4);
      assert.equal((await runs(h, id)).find((r) => r.replicationRunId === fourth)!.state, 'PENDING');
    } finally {
      await h.t.close();
    }
  });

  /** Claims and fails the job's next runs until it pauses; returns the pause time. */
  async function failUntilPaused(h: Harness, id: string, firstRemaining = 2): Promise<number> {
    for (let remaining = firstRemaining; ; remaining--) {
      const run = await claimOne(h);
      assert.equal(run.replicationJobId, id);
      await h.connector.fail(run.replicationRunId, 'ServerError: Failed to upload base disk(s) to S3.');
      const j = await job(h, id);
      const failed = (await runs(h, id)).find((r) => r.replicationRunId === run.replicationRunId)!;
      assert.equal(failed.state, 'FAILED');
      assert.equal(failed.statusMessage, 'ServerError: Failed to upload base disk(s) to S3.');
      assert.equal(time(failed.completedTime), h.clock.now());
      if (remaining === 0) {
        assert.equal(j.state, 'PAUSED_ON_FAILURE');
        return h.clock.now();
      }
      assert.equal(j.state, 'ACTIVE');
      assert.equal(j.statusMessage, `Replication run failed: ServerError: Failed to upload base disk(s) to S3. ${remaining} re-try run(s) remaining.`);
      assert.equal(time(j.nextReplicationRunStartTime), h.clock.now() + 15 * MINUTE, 'retry after the retry delay');
      assert.deepEqual(await h.connector.claim(), [], 'no retry before the delay');
      await at(h, h.clock.now() + 15 * MINUTE);
    }
  }

  await s.test('3 consecutive failures → PAUSED_ON_FAILURE; resume via UpdateReplicationJob and via StartOnDemandReplicationRun', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 12 });
      const pausedAt = await failUntilPaused(h, id);
      assert.equal(pausedAt, START + 30 * MINUTE);
      let j = await job(h, id);
      assert.match(j.statusMessage!, /paused after 3 consecutive failed runs/);
      assert.match(j.statusMessage!, /Failed to upload base disk\(s\) to S3/);
      assert.equal(j.nextReplicationRunStartTime, undefined);
      let list = await runs(h, id);
      assert.deepEqual(pendingRuns(list), [], 'a paused job has no pending run');
      assert.deepEqual(
        list.map((r) => time(r.scheduledStartTime)),
        [START + 30 * MINUTE, START + 15 * MINUTE, START],
      );
      // Paused for a day: nothing runs, nothing is deleted.
      await at(h, START + DAY);
      assert.equal((await job(h, id)).state, 'PAUSED_ON_FAILURE');
      assert.deepEqual(await h.connector.claim(), []);

      // Resume 1: UpdateReplicationJob(nextReplicationRunStartTime).
      const resumeAt = START + DAY + 2 * HOUR;
      await h.t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, nextReplicationRunStartTime: new Date(resumeAt) }));
      j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(j.statusMessage, undefined);
      assert.equal(time(j.nextReplicationRunStartTime), resumeAt);
      assert.deepEqual(pendingRuns(await runs(h, id)).map((r) => [r.type, time(r.scheduledStartTime)]), [['AUTOMATIC', resumeAt]]);
      assert.deepEqual(await h.connector.claim(), []);
      await at(h, resumeAt);
      // Failures were forgiven: the count starts again at "2 remaining".
      const pausedAgain = await failUntilPaused(h, id, 2);
      assert.equal(pausedAgain, resumeAt + 30 * MINUTE);

      // Resume 2: StartOnDemandReplicationRun.
      await at(h, pausedAgain + HOUR);
      const onDemand = (await h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }))).replicationRunId!;
      j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(j.statusMessage, undefined);
      assert.equal(time(j.nextReplicationRunStartTime), resumeAt + 12 * HOUR, 'the schedule continues from its anchor');
      list = await runs(h, id);
      assert.deepEqual(pendingRuns(list).map((r) => r.type).sort(), ['AUTOMATIC', 'ON_DEMAND']);
      assert.equal((await claimOne(h)).replicationRunId, onDemand);
      const image = await h.connector.completeWithImage(onDemand);
      j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(j.latestAmiId, image);
      await at(h, resumeAt + 12 * HOUR);
      assert.equal((await claimOne(h)).scheduledStartTime, resumeAt + 12 * HOUR);
    } finally {
      await h.t.close();
    }
  });

  await s.test('a paused job not resumed within 4 days is DELETED', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 6 });
      const pausedAt = await failUntilPaused(h, id);
      assert.equal(await tick(h), pausedAt + 4 * DAY, 'wakes for the pause expiry');
      assert.equal(await at(h, pausedAt + 4 * DAY - 1), pausedAt + 4 * DAY);
      assert.equal((await job(h, id)).state, 'PAUSED_ON_FAILURE');
      await at(h, pausedAt + 4 * DAY);
      const j = await job(h, id);
      assert.equal(j.state, 'DELETED');
      assert.match(j.statusMessage!, /paused on failure for more than 4 days/);
      assert.equal(j.nextReplicationRunStartTime, undefined);
      assert.equal((await server(h, h.serverIds[0]!)).replicationJobTerminated, true);
      assert.deepEqual(pendingRuns(await runs(h, id)), []);
      await rejects(
        h.t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, nextReplicationRunStartTime: new Date(h.clock.now()) })),
        'OperationNotPermittedException',
      );
      // The server is free for a new job.
      const next = await createJob(h, { frequency: 6 });
      assert.notEqual(next, id);
      assert.equal((await server(h, h.serverIds[0]!)).replicationJobTerminated, false);
    } finally {
      await h.t.close();
    }
  });

  await s.test('the 90-day limit since the first replication → DELETED with a statusMessage, server terminated', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 24 });
      let lastImage = '';
      for (let day = 0; day < 90; day++) {
        await at(h, START + day * DAY);
        const run = await claimOne(h);
        assert.equal(run.scheduledStartTime, START + day * DAY);
        lastImage = await h.connector.completeWithImage(run.replicationRunId);
      }
      let j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(time(j.nextReplicationRunStartTime), START + 90 * DAY);
      assert.equal(await tick(h), START + 90 * DAY);
      assert.equal(await at(h, START + 90 * DAY - 1), START + 90 * DAY);
      assert.equal((await job(h, id)).state, 'ACTIVE');

      await at(h, START + 90 * DAY);
      j = await job(h, id);
      assert.equal(j.state, 'DELETED');
      assert.match(j.statusMessage!, /90-day replication limit/);
      assert.equal(j.nextReplicationRunStartTime, undefined);
      assert.equal(j.latestAmiId, lastImage, 'images are kept');
      const srv = await server(h, h.serverIds[0]!);
      assert.equal(srv.replicationJobId, id);
      assert.equal(srv.replicationJobTerminated, true);
      const list = await runs(h, id);
      assert.equal(list.filter((r) => r.state === 'COMPLETED').length, 90);
      assert.deepEqual(pendingRuns(list), []);
      assert.deepEqual(await h.connector.claim(), []);
    } finally {
      await h.t.close();
    }
  });

  await s.test('lease expiry: a silent connector’s run FAILS naming it, counts as a failure, a retry follows', async () => {
    const h = await setup({ policy: {} }); // default 2-minute lease
    try {
      const id = await createJob(h, { frequency: 12 });
      const run = await claimOne(h);
      assert.equal(run.leaseExpiresAt, START + 2 * MINUTE);
      await at(h, START + MINUTE);
      const { leaseExpiresAt } = await h.connector.progress(run.replicationRunId, 'Uploading', '10%');
      assert.equal(leaseExpiresAt, START + 3 * MINUTE);
      assert.equal(await at(h, START + 3 * MINUTE), START + 3 * MINUTE + 1, 'the lease holds up to its expiry');
      assert.equal((await runs(h, id)).find((r) => r.replicationRunId === run.replicationRunId)!.state, 'ACTIVE');

      const expiredAt = START + 3 * MINUTE + 1;
      await at(h, expiredAt);
      const failed = (await runs(h, id)).find((r) => r.replicationRunId === run.replicationRunId)!;
      assert.equal(failed.state, 'FAILED');
      assert.ok(failed.statusMessage!.includes(h.connector.connectorId), failed.statusMessage);
      assert.match(failed.statusMessage!, /stopped reporting progress/);
      assert.equal(failed.stageDetails, undefined);
      let j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.match(j.statusMessage!, /2 re-try run\(s\) remaining\.$/);
      assert.equal(time(j.nextReplicationRunStartTime), expiredAt + 15 * MINUTE);

      // The connector comes back: its run is no longer its own.
      await assert.rejects(h.connector.progress(run.replicationRunId, 'Uploading', '20%'), (e: ConnectorApiError) => e.status === 409);
      await assert.rejects(h.connector.complete(run.replicationRunId, amiId(1)), (e: ConnectorApiError) => e.status === 409);

      await at(h, expiredAt + 15 * MINUTE);
      const retry = await claimOne(h);
      assert.notEqual(retry.replicationRunId, run.replicationRunId);
      assert.equal(retry.type, 'AUTOMATIC');
      assert.equal(retry.scheduledStartTime, expiredAt + 15 * MINUTE);
      await h.connector.completeWithImage(retry.replicationRunId);
      j = await job(h, id);
      assert.equal(j.state, 'ACTIVE');
      assert.equal(j.statusMessage, undefined);
      assert.equal(time(j.nextReplicationRunStartTime), START + 12 * HOUR, 'back on the schedule');
    } finally {
      await h.t.close();
    }
  });

  await s.test('restart after downtime: one MISSED record for the skipped slots and one catch-up run due now', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-sched-restart-'));
    try {
      const h = await setup({ dataDir });
      let id: string;
      let image: string;
      try {
        id = await createJob(h, { frequency: 6 });
        const run = await claimOne(h);
        await at(h, START + HOUR);
        image = await h.connector.completeWithImage(run.replicationRunId);
        assert.equal(time((await job(h, id)).nextReplicationRunStartTime), START + 6 * HOUR);
      } finally {
        await h.t.close();
      }

      // Down for three days: the slots at +6h, +12h, …, +72h all pass with nobody to run them. The eleven at
      // +6h…+66h collapse into one MISSED record; +72h, the latest slot already due, is the catch-up run.
      const now = START + 3 * DAY + 2 * HOUR;
      h.clock.set(now);
      const t = await startTestFerry({ dataDir, clock: h.clock, policy: LONG_LEASE });
      try {
        await t.ferry.scheduler.stop();
        const connector = new TestConnector(t.ferry.url, h.connector.token, h.connector.connectorId);
        const h2: Harness = { t, clock: h.clock, connector, serverIds: h.serverIds };
        assert.equal(await tick(h2), START + 78 * HOUR, 'next wake-up: the catch-up run’s following slot');
        const list = await runs(h2, id);
        assert.deepEqual(
          list.map((r) => [r.state, time(r.scheduledStartTime)]),
          [
            ['PENDING', START + 72 * HOUR],
            ['MISSED', START + 6 * HOUR],
            ['COMPLETED', START],
          ],
        );
        assert.match(list[1]!.statusMessage!, /11 scheduled runs fell due/);
        const j = await job(h2, id);
        assert.equal(j.state, 'ACTIVE');
        assert.equal(time(j.nextReplicationRunStartTime), START + 72 * HOUR);
        // Ticking again changes nothing.
        await tick(h2);
        assert.equal((await runs(h2, id)).length, 3);

        const catchUp = await claimOne(h2);
        assert.equal(catchUp.scheduledStartTime, START + 72 * HOUR);
        assert.equal(catchUp.parentAmiId, image);
        assert.equal(time((await job(h2, id)).nextReplicationRunStartTime), START + 78 * HOUR);
      } finally {
        await t.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  await s.test('numberOfRecentAmisToKeep = 2: four completed runs leave two images, the two oldest queued then drained', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 1, numberOfRecentAmisToKeep: 2 });
      const db = h.t.ferry.core.db;
      const queue = () =>
        db.selectFrom('image_deletions').select(['ami_id', 'replication_job_id', 'done_at']).where('replication_job_id', '=', id).orderBy('seq').execute();
      const images: string[] = [];
      for (let k = 0; k < 4; k++) {
        h.clock.set(START + k * HOUR); // claims settle due runs themselves; no tick, so the queue stays undrained
        const run = await claimOne(h);
        if (k > 0) assert.equal(run.parentAmiId, images[k - 1]);
        h.clock.set(START + k * HOUR + 30 * MINUTE);
        images.push(await h.connector.completeWithImage(run.replicationRunId));
        assert.equal((await queue()).length, Math.max(0, k + 1 - 2));
      }
      const kept = await db
        .selectFrom('runs')
        .select('ami_id')
        .where('replication_job_id', '=', id)
        .where('ami_id', 'is not', null)
        .where('ami_deleted', '=', 0)
        .orderBy('seq')
        .execute();
      assert.deepEqual(kept.map((r) => r.ami_id), [images[2], images[3]]);
      assert.deepEqual((await queue()).map((r) => ({ ...r })), [
        { ami_id: images[0], replication_job_id: id, done_at: null },
        { ami_id: images[1], replication_job_id: id, done_at: null },
      ]);
      assert.equal((await job(h, id)).latestAmiId, images[3]);

      const now = h.clock.now();
      await tick(h);
      assert.deepEqual((await queue()).map((r) => r.done_at), [now, now], 'the next tick drains the queue');

      // Lowering the limit retires at once.
      await h.t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, numberOfRecentAmisToKeep: 1 }));
      assert.deepEqual((await queue()).map((r) => [r.ami_id, r.done_at]), [
        [images[0], now],
        [images[1], now],
        [images[2], null],
      ]);
      assert.equal((await job(h, id)).latestAmiId, images[3]);
    } finally {
      await h.t.close();
    }
  });

  await s.test('DeleteReplicationJob → DELETING, then DELETED after a tick; pending/active runs DELETED; images kept', async () => {
    const h = await setup();
    try {
      const id = await createJob(h, { frequency: 2, numberOfRecentAmisToKeep: 0 });
      const first = await claimOne(h);
      await at(h, START + 30 * MINUTE);
      const image = await h.connector.completeWithImage(first.replicationRunId);
      await at(h, START + 2 * HOUR);
      const active = await claimOne(h);
      await h.connector.progress(active.replicationRunId, 'Uploading', '30%');
      const pendingBefore = pendingRuns(await runs(h, id));
      assert.deepEqual(pendingBefore.map((r) => time(r.scheduledStartTime)), [START + 4 * HOUR]);

      await at(h, START + 2 * HOUR + 5 * MINUTE);
      await h.t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
      let j = await job(h, id);
      assert.equal(j.state, 'DELETING');
      assert.equal(j.nextReplicationRunStartTime, undefined);
      assert.equal(j.latestAmiId, image);
      const list = await runs(h, id);
      assert.deepEqual(
        list.map((r) => [r.replicationRunId, r.state]),
        [
          [pendingBefore[0]!.replicationRunId, 'DELETED'],
          [active.replicationRunId, 'DELETED'],
          [first.replicationRunId, 'COMPLETED'],
        ],
      );
      assert.equal(list[2]!.amiId, image);
      assert.equal((await server(h, h.serverIds[0]!)).replicationJobTerminated, true);
      await assert.rejects(h.connector.progress(active.replicationRunId, 'Uploading', '40%'), (e: ConnectorApiError) => e.status === 409);
      await rejects(h.t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id })), 'OperationNotPermittedException');
      await rejects(h.t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })), 'OperationNotPermittedException');

      assert.equal(await tick(h), null, 'nothing left to do once the deletion is finished');
      j = await job(h, id);
      assert.equal(j.state, 'DELETED');
      assert.match(j.statusMessage!, /^Deleted/);
      assert.equal(j.latestAmiId, image, 'AMIs are never deleted by DeleteReplicationJob');
      const queued = await h.t.ferry.core.db.selectFrom('image_deletions').selectAll().where('replication_job_id', '=', id).execute();
      assert.deepEqual(queued, []);
      await at(h, START + 5 * DAY);
      assert.deepEqual(await h.connector.claim(), []);
      assert.equal((await runs(h, id)).length, 3);
      assert.equal((await job(h, id)).state, 'DELETED', 'deleted jobs stay visible');
    } finally {
      await h.t.close();
    }
  });
});
