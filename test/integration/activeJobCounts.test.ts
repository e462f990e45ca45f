/**
 * The per-tenant count of non-terminal jobs (store/jobs/activeJobCounts.ts) that CreateReplicationJob checks its
 * limit against: kept in step with the jobs themselves through creation, completion, deletion and the scheduler's
 * DELETING → DELETED, per account, and rebuilt from the jobs by migration 11 on a store that predates it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  CreateReplicationJobCommand,
  DeleteReplicationJobCommand,
  GetReplicationJobsCommand,
  GetServersCommand,
  ImportServerCatalogCommand,
  type SMSClient,
} from '@aws-sdk/client-sms';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { vms, type TestConnector } from '../helpers/testConnector.ts';
import { NON_TERMINAL_JOB_STATES } from '../../src/domain/enums.ts';
import { openSqliteStore } from '../../src/store/openStore.ts';

/** Per "account/region": the kept count, and the count of the jobs as they are. */
function counts(dataDir: string): { kept: Record<string, number>; actual: Record<string, number> } {
  const db = new DatabaseSync(join(dataDir, 'ferry.db'), { readOnly: true });
  try {
    // One snapshot for both reads: the running server may commit between two statements.
    db.exec('BEGIN');
    const kept: Record<string, number> = {};
    for (const row of db.prepare('SELECT account_id, region, active_jobs FROM account_job_counts').all() as { account_id: string; region: string; active_jobs: number }[]) {
      if (row.active_jobs !== 0) kept[`${row.account_id}/${row.region}`] = row.active_jobs;
    }
    const actual: Record<string, number> = {};
    const states = NON_TERMINAL_JOB_STATES.map((s) => `'${s}'`).join(',');
    for (const row of db.prepare(`SELECT account_id, region, count(*) AS n FROM jobs WHERE state IN (${states}) GROUP BY account_id, region`).all() as { account_id: string; region: string; n: number }[]) {
      actual[`${row.account_id}/${row.region}`] = row.n;
    }
    return { kept, actual };
  } finally {
    db.close();
  }
}

function assertInStep(dataDir: string, expected: Record<string, number>, step: string): void {
  const { kept, actual } = counts(dataDir);
  assert.deepEqual(actual, expected, `${step}: the jobs`);
  assert.deepEqual(kept, actual, `${step}: the kept count follows the jobs`);
}

async function catalog(t: TestFerry, sms: SMSClient, connector: TestConnector, n: number): Promise<string[]> {
  await connector.register();
  await sms.send(new ImportServerCatalogCommand({}));
  assert.equal((await connector.inventory(vms(n))).status, 'AVAILABLE');
  return (await sms.send(new GetServersCommand({ maxResults: 100 }))).serverList!.map((s) => s.serverId!);
}

test('the active-job count follows every job transition, per account, and migration 11 rebuilds it', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-counts-'));
  // Migration 11's rebuild is checked on a SQLite file the test opens itself: this test is SQLite's whatever FERRY_TEST_STORE says.
  const t = await startTestFerry({ dataDir, store: 'sqlite' });
  try {
    const root = t.ferry.root.accountId;
    const other = await t.createAccount('counts-other');
    const otherSms = t.client(other);
    const rootConnector = await t.connector();
    const otherConnector = await t.connector({ accountId: other.accountId });
    const rootServers = await catalog(t, t.sms, rootConnector, 4);
    const otherServers = await catalog(t, otherSms, otherConnector, 2);
    const create = (sms: SMSClient, serverId: string, runOnce = false) =>
      sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(), ...(runOnce ? { runOnce: true } : { frequency: 12 }) }));

    const once = (await create(t.sms, rootServers[0]!, true)).replicationJobId!;
    const kept = (await create(t.sms, rootServers[1]!)).replicationJobId!;
    const deleted = (await create(t.sms, rootServers[2]!)).replicationJobId!;
    await create(otherSms, otherServers[0]!);
    assertInStep(dataDir, { [`${root}/us-east-1`]: 3, [`${other.accountId}/us-east-1`]: 1 }, 'after the creates');

    // A one-time job whose run completes is COMPLETED: terminal, out of the count.
    const run = await rootConnector.claimWhenDue();
    assert.equal(run.replicationJobId, once);
    await rootConnector.completeWithImage(run.replicationRunId);
    assertInStep(dataDir, { [`${root}/us-east-1`]: 2, [`${other.accountId}/us-east-1`]: 1 }, 'after the completion');

    // Deleting: DELETING still counts; the scheduler's DELETED does not.
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: deleted }));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { replicationJobList } = await t.sms.send(new GetReplicationJobsCommand({ replicationJobId: deleted }));
      const state = replicationJobList![0]!.state;
      if (state === 'DELETED') break;
      assert.equal(state, 'DELETING');
      // The scheduler may finish the deletion between the read above and this one: either way the count follows.
      const { kept: keptNow, actual } = counts(dataDir);
      assert.deepEqual(keptNow, actual, 'while DELETING: the kept count follows the jobs');
      assert.equal(actual[`${other.accountId}/us-east-1`], 1, 'while DELETING: the other account is untouched');
      assert.ok([1, 2].includes(actual[`${root}/us-east-1`] ?? 0), 'while DELETING: the deleting job counts until it is DELETED');
      assert.ok(Date.now() < deadline, 'the scheduler finishes the deletion');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assertInStep(dataDir, { [`${root}/us-east-1`]: 1, [`${other.accountId}/us-east-1`]: 1 }, 'after DELETED');
    // The freed server takes a new job, which counts.
    await create(t.sms, rootServers[2]!);
    assertInStep(dataDir, { [`${root}/us-east-1`]: 2, [`${other.accountId}/us-east-1`]: 1 }, 'after a new job on the freed server');
    assert.ok(kept);
  } finally {
    await t.close();
  }

  try {
    // A store from before migration 11: the count is rebuilt from the jobs.
    const db = new DatabaseSync(join(dataDir, 'ferry.db'));
    db.exec('DROP TABLE account_job_counts; DELETE FROM ferry_migrations WHERE version = 11;');
    db.close();
    const store = await openSqliteStore(dataDir, Date.now());
    await store.close();
    const { kept, actual } = counts(dataDir);
    assert.equal(Object.values(actual).reduce((a, b) => a + b, 0), 3);
    assert.deepEqual(kept, actual, 'migration 11 counted the jobs');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
