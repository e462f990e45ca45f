/**
 * "A run is due for this connector" is one rule (domain/replicationRun.ts isRunDueFor) that heartbeats (runsWaiting)
 * and claims both ask through one query (store/runs/dueRuns.ts, through core/runs.ts listDueRuns). Here the query is held to the rule over a
 * matrix of run, job and server states, and a heartbeat never announces a run a claim would not hand out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetServersCommand, ImportServerCatalogCommand } from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { connectorForToken } from '../../src/core/connectors.ts';
import { listDueRuns } from '../../src/core/runs.ts';
import { isRunDueFor } from '../../src/domain/replicationRun.ts';
import { ReplicationJobState, ReplicationRunState } from '../../src/domain/enums.ts';

async function withJobs(count: number, work: (t: TestFerry, connector: TestConnector, jobIds: string[]) => Promise<void>): Promise<void> {
  const t = await startTestFerry();
  try {
    const connector = await t.connector();
    await connector.register();
    await t.sms.send(new ImportServerCatalogCommand({}));
    await connector.heartbeat();
    await connector.inventory(vms(count));
    // The inventory is parsed off the request path: wait until the catalog holds every server it sent.
    let serverList = (await t.sms.send(new GetServersCommand({}))).serverList ?? [];
    for (const deadline = Date.now() + 30_000; serverList.length < count; ) {
      assert.ok(Date.now() < deadline, `the catalog shows ${serverList.length} of ${count} servers`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      serverList = (await t.sms.send(new GetServersCommand({}))).serverList ?? [];
    }
    const jobIds: string[] = [];
    for (const server of serverList) {
      const { replicationJobId } = await t.sms.send(
        new CreateReplicationJobCommand({ serverId: server.serverId!, seedReplicationTime: new Date(), frequency: 12 }),
      );
      jobIds.push(replicationJobId!);
    }
    await work(t, connector, jobIds);
  } finally {
    await t.close();
  }
}

test('the due-runs query returns exactly the runs the rule calls due, across run, job and schedule states', async () => {
  const jobStates = Object.values(ReplicationJobState);
  const runStates = Object.values(ReplicationRunState);
  await withJobs(jobStates.length, async (t, connector, jobIds) => {
    const db = t.ferry.core.db;
    // The running scheduler would move the matrix's past-due runs (missed, expired) while it is built: the rule is
    // checked on the rows as written, so stop it first.
    await t.ferry.scheduler.stop();
    const now = t.ferry.core.clock.now();
    // Each job in one state; each gets a run in every run state, due (past) and not yet due (future).
    for (const [i, jobId] of jobIds.entries()) {
      await db.updateTable('jobs').set({ state: jobStates[i]! }).where('replication_job_id', '=', jobId).execute();
      const [seed] = await db.selectFrom('runs').selectAll().where('replication_job_id', '=', jobId).execute();
      let n = 0;
      for (const state of runStates) {
        for (const offset of [-60_000, 60_000]) {
          const { seq: _seq, ...copy } = seed!;
          await db
            .insertInto('runs')
            .values({ ...copy, replication_run_id: `sms-run-${(i * 100 + n++).toString(16).padStart(8, '0')}`, state, scheduled_start_time: now + offset, miss_at: null })
            .execute();
        }
      }
    }
    const row = (await connectorForToken(t.ferry.core, connector.token))!;
    // The matrix and the query read one snapshot: the running server's scheduler may move a run in between.
    const { rows, expected, due } = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('runs')
        .innerJoin('jobs', 'jobs.replication_job_id', 'runs.replication_job_id')
        .innerJoin('servers', 'servers.server_id', 'jobs.server_id')
        .select(['runs.replication_run_id', 'runs.state', 'runs.scheduled_start_time', 'jobs.state as job_state', 'servers.connector_id', 'jobs.vm_manager_id'])
        .execute();
      const expected = rows
        .filter((r) =>
          isRunDueFor(
            { connectorId: row.connector_id, vmManagerId: row.vm_manager_id },
            { runState: r.state, scheduledStartTime: r.scheduled_start_time, jobState: r.job_state, serverConnectorId: r.connector_id, jobVmManagerId: r.vm_manager_id },
            now,
          ),
        )
        .map((r) => r.replication_run_id)
        .sort();
      const due = (await listDueRuns(trx, row, now, 10_000)).map((r) => r.replication_run_id).sort();
      return { rows, expected, due };
    });
    assert.ok(expected.length > 0 && expected.length < rows.length, 'the matrix has due and not-due runs');
    assert.deepEqual(due, expected);
    // Another connector of the account, on another VM manager and without these servers, has none due.
    const other = await t.connector();
    await other.register({ vmManagerId: 'vcenter-other' });
    assert.deepEqual(await listDueRuns(db, (await connectorForToken(t.ferry.core, other.token))!, now, 10_000), []);
  });
});

test('a heartbeat announces waiting runs only when a claim would hand one out (a paused job’s pending run is not waiting)', async () => {
  await withJobs(1, async (t, connector, [jobId]) => {
    const db = t.ferry.core.db;
    // A job paused on failure that still has a pending on-demand run (left by a crash between two writes, or queued by
    // a future path): the claim does not start runs of paused jobs, so the heartbeat must not say one waits.
    await db.updateTable('jobs').set({ state: 'PAUSED_ON_FAILURE', paused_at: t.ferry.core.clock.now() }).where('replication_job_id', '=', jobId!).execute();
    await db.updateTable('runs').set({ type: 'ON_DEMAND', scheduled_start_time: 0, miss_at: null }).where('replication_job_id', '=', jobId!).execute();
    assert.deepEqual(await connector.claim(5), []);
    assert.equal((await connector.heartbeat()).runsWaiting, false);
    // Once the job can run again, both agree the other way.
    await db.updateTable('jobs').set({ state: 'ACTIVE', paused_at: null }).where('replication_job_id', '=', jobId!).execute();
    assert.equal((await connector.heartbeat()).runsWaiting, true);
    assert.equal((await connector.claim(5)).length, 1);
  });
});
