/**
 * Concurrent CreateReplicationJob calls commit together (store/batchedCommits.ts: one transaction, each create in its
 * own savepoint): a create that fails inside a batch answers its own error, exactly as alone, and neither fails nor
 * loses its neighbours; what it wrote before failing (the account's kept job count among them) is rolled back.
 * On PostgreSQL (FERRY_TEST_STORE=postgres) the same creates run side by side and must keep the same rules in any
 * order: one job per server, and the account's limit (two creates of one server both succeeded there before the
 * tenant's creates took turns, core/jobs.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateReplicationJobCommand, GetReplicationJobsCommand, GetServersCommand } from '@aws-sdk/client-sms';
import { createJob } from '../../src/core/jobs.ts';
import { commitBatchStats } from '../../src/store/unitOfWork.ts';
import { allJobs, DAY_MS, rejects, withCatalog } from '../helpers/errorCases.ts';
import { vms } from '../helpers/testConnector.ts';
import type { TestFerry } from '../helpers/ferry.ts';

/** Every job has its pending run, and its server points back at it. */
async function assertWhole(t: TestFerry, expectedServers: string[]): Promise<void> {
  const jobs = await allJobs(t);
  assert.deepEqual(jobs.map((j) => j.serverId).sort(), [...expectedServers].sort());
  for (const job of jobs) {
    assert.equal(job.replicationRunList?.length, 1, `${job.replicationJobId} has its seed run`);
    assert.equal(job.replicationRunList![0]!.state, 'PENDING');
  }
  const { serverList } = await t.sms.send(new GetServersCommand({}));
  for (const server of serverList ?? []) {
    const job = jobs.find((j) => j.serverId === server.serverId);
    assert.equal(server.replicationJobId, job?.replicationJobId, `server ${server.serverId} points at its job, or at none`);
  }
}

test('creates in one batch: each failing one answers its own error; its neighbours commit whole', async () => {
  const { t, servers } = await withCatalog(vms(6), { maxNonTerminalJobsPerAccount: 4 });
  try {
    const tenant = { accountId: t.ferry.root.accountId, region: 'us-east-1' };
    const [s0, s1, s2, s3, s4] = ['vm-0', 'vm-1', 'vm-2', 'vm-3', 'vm-4'].map((vm) => servers.get(vm)!);
    const input = (serverId: string, extra: { kmsKeyId?: string } = {}) => ({ serverId, seedReplicationTime: new Date(Date.now() + DAY_MS), frequency: 12, ...extra });
    const before = commitBatchStats(t.ferry.core.db);
    // Started in one event-loop turn: on SQLite they wait for the writer together and run as one batch, in this order.
    const results = await Promise.allSettled([
      createJob(t.ferry.core, tenant, input(s0!)),
      createJob(t.ferry.core, tenant, input('s-00000000000000000')),
      createJob(t.ferry.core, tenant, input(s1!)),
      createJob(t.ferry.core, tenant, input(s1!)),
      createJob(t.ferry.core, tenant, input(s2!)),
      createJob(t.ferry.core, tenant, input(s3!, { kmsKeyId: 'alias/no-such-key' })),
      createJob(t.ferry.core, tenant, input(s3!)),
      createJob(t.ferry.core, tenant, input(s4!)),
    ]);
    const outcome = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name));
    const after = commitBatchStats(t.ferry.core.db);
    if (before && after) {
      // SQLite: one batch, run in the order the creates were started.
      assert.deepEqual(outcome, [
        'ok',
        'InvalidParameterException',
        'ok',
        'ReplicationJobAlreadyExistsException',
        'ok',
        'InvalidParameterException',
        'ok', // the refused create of s3 above left no job and no count behind
        'OperationNotPermittedException', // the fifth job: the limit counts only the four that committed
      ]);
      assert.equal(after.units - before.units, results.length);
      assert.ok(after.batches - before.batches < results.length, `${after.batches - before.batches} transactions for ${results.length} creates: they were batched`);
      await assertWhole(t, [s0!, s1!, s2!, s3!]);
    } else {
      // PostgreSQL: one transaction each, side by side, in any order; every order keeps the same rules.
      assert.equal(outcome[1], 'InvalidParameterException');
      assert.equal(outcome[5], 'InvalidParameterException');
      assert.deepEqual([outcome[2], outcome[3]].sort(), ['ReplicationJobAlreadyExistsException', 'ok'], 'one job for s1');
      const rest = [outcome[0], outcome[4], outcome[6], outcome[7]];
      assert.equal(rest.filter((o) => o === 'OperationNotPermittedException').length, 1, `the limit of 4 held: ${outcome}`);
      const created = [s0, s2, s3, s4].filter((_, i) => rest[i] === 'ok');
      await assertWhole(t, [s1!, ...created.map((s) => s!)]);
    }
    // The kept count is right: the account is at its limit.
    await rejects(t.sms.send(new CreateReplicationJobCommand(input(servers.get('vm-5')!))), 'OperationNotPermittedException', /limit is 4/);
  } finally {
    await t.close();
  }
});

test('concurrent CreateReplicationJob requests over HTTP: refused ones do not fail the others', async () => {
  const { t, servers } = await withCatalog(vms(8));
  try {
    const ids = [...servers.values()];
    const send = (serverId: string) =>
      t.sms.send(new CreateReplicationJobCommand({ serverId, seedReplicationTime: new Date(Date.now() + DAY_MS), frequency: 12 })).then(
        (out) => out.replicationJobId!,
        (error: Error) => error,
      );
    const results = await Promise.all([...ids.map(send), send('s-00000000000000000'), send(ids[0]!), send(ids[1]!)]);
    const created = results.filter((r): r is string => typeof r === 'string');
    const refused = results.filter((r): r is Error => r instanceof Error);
    assert.equal(created.length, ids.length, 'each server got exactly one job');
    assert.deepEqual(refused.map((e) => e.name).sort(), ['InvalidParameterException', 'ReplicationJobAlreadyExistsException', 'ReplicationJobAlreadyExistsException']);
    const listed = (await t.sms.send(new GetReplicationJobsCommand({}))).replicationJobList ?? [];
    assert.deepEqual(listed.map((j) => j.replicationJobId).sort(), [...created].sort());
    await assertWhole(t, ids);
  } finally {
    await t.close();
  }
});
