/**
 * A replication job's life beyond single runs: the 90-day limit, restarting after downtime (one MISSED record and one
 * catch-up run), numberOfRecentAmisToKeep pruning images, and DeleteReplicationJob.
 * Shared setup: test/helpers/schedulerHarness.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteReplicationJobCommand, StartOnDemandReplicationRunCommand, UpdateReplicationJobCommand } from '@aws-sdk/client-sms';
import { startTestFerry } from '../helpers/ferry.ts';
import { ConnectorApiError, TestConnector } from '../helpers/testConnector.ts';
import { DAY, HOUR, MINUTE } from '../../src/lib/clock.ts';
import {
  START,
  LONG_LEASE,
  type Harness,
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
} from '../helpers/schedulerHarness.ts';

test('the 90-day limit since the first replication → DELETED with a statusMessage, server terminated', async () => {
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

test('restart after downtime: one MISSED record for the skipped slots and one catch-up run due now', async () => {
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

test('numberOfRecentAmisToKeep = 2: four completed runs leave two images, the two oldest queued then drained', async () => {
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

test('DeleteReplicationJob → DELETING, then DELETED after a tick; pending/active runs DELETED; images kept', async () => {
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
