/**
 * The scheduler's slots over days of simulated time: the first AUTOMATIC run at seedReplicationTime then every
 * `frequency` hours, UpdateReplicationJob moving the next slot, skip-not-queue (MISSED slots) and runOnce jobs.
 * Shared setup: test/helpers/schedulerHarness.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartOnDemandReplicationRunCommand, UpdateReplicationJobCommand } from '@aws-sdk/client-sms';
import { DAY, HOUR, MINUTE, SECOND } from '../../src/lib/clock.ts';
import { START, setup, at, createJob, job, runs, server, time, pendingRuns, claimOne, rejects } from '../helpers/schedulerHarness.ts';

test('first AUTOMATIC run at seedReplicationTime, then every `frequency` hours for days', async () => {
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

test('UpdateReplicationJob: a new frequency or next run time applies from the next scheduled run', async () => {
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

test('skip-not-queue: a slot falling due while a run is active is MISSED; the job moves to the following slot', async () => {
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

test('runOnce: COMPLETED after one run and nothing more; three failures make it FAILED', async () => {
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
