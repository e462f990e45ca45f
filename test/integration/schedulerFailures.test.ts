/**
 * The scheduler and failing or extra runs: on-demand runs and their rolling 24 h limit, three failures pausing a job,
 * resuming it, a paused job deleted after 4 days, and a silent connector's lease running out.
 * Shared setup: test/helpers/schedulerHarness.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartOnDemandReplicationRunCommand, UpdateReplicationJobCommand } from '@aws-sdk/client-sms';
import { amiId, ConnectorApiError } from '../helpers/testConnector.ts';
import { DAY, HOUR, MINUTE, SECOND } from '../../src/lib/clock.ts';
import {
  START,
  setup,
  tick,
  at,
  createJob,
  job,
  runs,
  server,
  time,
  pendingRuns,
  claimOne,
  rejects,
  failUntilPaused,
} from '../helpers/schedulerHarness.ts';

test('on-demand runs while PENDING or ACTIVE; 2 per rolling 24 h, recovering after 24 h', async () => {
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

test('3 consecutive failures → PAUSED_ON_FAILURE; resume via UpdateReplicationJob and via StartOnDemandReplicationRun', async () => {
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

test('a paused job not resumed within 4 days is DELETED', async () => {
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

test('lease expiry: a silent connector’s run FAILS naming it, counts as a failure, a retry follows', async () => {
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
