/**
 * The error rows of spec §6.3–§6.5 (UpdateReplicationJob, DeleteReplicationJob, StartOnDemandReplicationRun) through
 * the real AWS SDK: the exception, an actionable message, and the state a refused call leaves untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteReplicationJobCommand,
  GetReplicationRunsCommand,
  ImportServerCatalogCommand,
  StartOnDemandReplicationRunCommand,
  UpdateReplicationJobCommand,
} from '@aws-sdk/client-sms';
import type { TestFerry } from '../helpers/ferry.ts';
import { vms } from '../helpers/testConnector.ts';
import { DAY_MS, rejects, withCatalog, serverIds, getJob, server, createJob } from '../helpers/errorCases.ts';

// ---------------------------------------------------------------------------------------------------------------
// §6.3 UpdateReplicationJob
// ---------------------------------------------------------------------------------------------------------------

test('UpdateReplicationJob: unknown job → ReplicationJobNotFoundException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: 'sms-job-00000000', frequency: 6 })),
      'ReplicationJobNotFoundException',
      /sms-job-00000000/,
    );
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: missing replicationJobId → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: undefined, frequency: 6 })),
      'MissingRequiredParameterException',
      /replicationJobId/,
    );
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: a deleted job → OperationNotPermittedException, and nothing changes', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { description: 'before' });
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
    const before = await getJob(t, id);
    assert.match(before.state!, /^DELET(ING|ED)$/);
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'after', frequency: 6 })),
      'OperationNotPermittedException',
      new RegExp(`${id} is DELET(ING|ED)`),
    );
    const after = await getJob(t, id);
    assert.equal(after.description, 'before');
    assert.equal(after.frequency, 12);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: frequency on a runOnce job → InvalidParameterException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { frequency: undefined, runOnce: true });
    await rejects(t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, frequency: 6 })), 'InvalidParameterException', /runOnce/);
    const job = await getJob(t, id);
    assert.equal(job.frequency, undefined);
    assert.equal(job.runOnce, true);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: out-of-range values → InvalidParameterException, and the job keeps its settings', async () => {
  const { t, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { numberOfRecentAmisToKeep: 5, licenseType: 'BYOL', description: 'orig' });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ frequency: 0 }, /frequency/],
      [{ frequency: 25 }, /frequency/],
      [{ numberOfRecentAmisToKeep: 271 }, /numberOfRecentAmisToKeep/],
      [{ numberOfRecentAmisToKeep: -1 }, /numberOfRecentAmisToKeep/],
      [{ licenseType: 'FREE' }, /licenseType/],
      [{ nextReplicationRunStartTime: new Date(Date.now() + 31 * DAY_MS) }, /nextReplicationRunStartTime.*30 days/],
    ];
    const before = await getJob(t, id);
    for (const [change, message] of cases) {
      // Each bad member comes with a good one: a refused update must not apply even the valid part.
      await rejects(
        t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'changed', ...change })),
        'InvalidParameterException',
        message,
      );
    }
    const after = await getJob(t, id);
    assert.equal(after.description, 'orig');
    assert.equal(after.frequency, 12);
    assert.equal(after.numberOfRecentAmisToKeep, 5);
    assert.equal(after.licenseType, 'BYOL');
    assert.deepEqual(after.nextReplicationRunStartTime, before.nextReplicationRunStartTime);
  } finally {
    await t.close();
  }
});

test('UpdateReplicationJob: the job\'s server became unreplicable (re-import flags it) → ServerCannotBeReplicatedException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    const id = await createJob(t, serverId, { description: 'orig' });
    await t.sms.send(new ImportServerCatalogCommand({}));
    const reimport = vms(3);
    reimport[0] = { ...reimport[0]!, replicable: false, reason: 'More than 22 volumes.' };
    assert.equal((await connector.inventory(reimport)).status, 'AVAILABLE');
    assert.equal((await serverIds(t)).get('vm-0'), serverId, 'server ids are stable across re-imports');
    await rejects(
      t.sms.send(new UpdateReplicationJobCommand({ replicationJobId: id, description: 'changed' })),
      'ServerCannotBeReplicatedException',
      /More than 22 volumes/,
    );
    assert.equal((await getJob(t, id)).description, 'orig');
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.4 DeleteReplicationJob
// ---------------------------------------------------------------------------------------------------------------

test('DeleteReplicationJob: unknown job → ReplicationJobNotFoundException; missing id → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: 'sms-job-deadbeef' })),
      'ReplicationJobNotFoundException',
      /sms-job-deadbeef/,
    );
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: undefined })), 'MissingRequiredParameterException', /replicationJobId/);
  } finally {
    await t.close();
  }
});

test('DeleteReplicationJob: a job already DELETING/DELETED → OperationNotPermittedException', async () => {
  const { t, servers } = await withCatalog();
  try {
    const serverId = servers.get('vm-0')!;
    const id = await createJob(t, serverId);
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id }));
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id })), 'OperationNotPermittedException', new RegExp(`${id} is already DELET`));
    // The scheduler finishes the deletion; deleting again is still refused.
    const deadline = Date.now() + 3000;
    while ((await getJob(t, id)).state !== 'DELETED') {
      assert.ok(Date.now() < deadline, 'the job never reached DELETED');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await rejects(t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: id })), 'OperationNotPermittedException', /already DELETED/);
    assert.equal((await server(t, serverId))?.replicationJobTerminated, true);
  } finally {
    await t.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// §6.5 StartOnDemandReplicationRun
// ---------------------------------------------------------------------------------------------------------------

async function runIds(t: TestFerry, replicationJobId: string): Promise<string[]> {
  const { replicationRunList } = await t.sms.send(new GetReplicationRunsCommand({ replicationJobId }));
  return replicationRunList!.map((r) => r.replicationRunId!);
}

test('StartOnDemandReplicationRun: unknown job → InvalidParameterException; missing id → MissingRequiredParameterException', async () => {
  const { t } = await withCatalog();
  try {
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: 'sms-job-00000000' })),
      'InvalidParameterException',
      /sms-job-00000000/,
    );
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: undefined })),
      'MissingRequiredParameterException',
      /replicationJobId/,
    );
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: while a run of the job is ACTIVE → OperationNotPermittedException, no run added', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    // Seed a day ahead so only the on-demand run is claimable.
    const id = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id }));
    const claimed = await connector.claimWhenDue();
    assert.equal(claimed.replicationRunId, replicationRunId);
    const before = await runIds(t, id);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id })),
      'OperationNotPermittedException',
      new RegExp(`${replicationRunId}.*active`),
    );
    assert.deepEqual(await runIds(t, id), before);
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: a third on-demand run within 24 h → ReplicationRunLimitExceededException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const id = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    for (let i = 1; i <= 2; i++) {
      const { replicationRunId } = await t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id, description: `od-${i}` }));
      const run = await connector.claimWhenDue();
      assert.equal(run.replicationRunId, replicationRunId);
      assert.equal(run.type, 'ON_DEMAND');
      await connector.completeWithImage(run.replicationRunId);
    }
    const runs = (await t.sms.send(new GetReplicationRunsCommand({ replicationJobId: id }))).replicationRunList!;
    assert.equal(runs.filter((r) => r.type === 'ON_DEMAND' && r.state === 'COMPLETED').length, 2, 'no on-demand run is still active');
    const before = await runIds(t, id);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: id, description: 'od-3' })),
      'ReplicationRunLimitExceededException',
      /2 on-demand runs in the last 24 hours/,
    );
    assert.deepEqual(await runIds(t, id), before);
  } finally {
    await t.close();
  }
});

test('StartOnDemandReplicationRun: a deleted or completed job → OperationNotPermittedException', async () => {
  const { t, connector, servers } = await withCatalog();
  try {
    const deleted = await createJob(t, servers.get('vm-0')!, { seedReplicationTime: new Date(Date.now() + DAY_MS) });
    await t.sms.send(new DeleteReplicationJobCommand({ replicationJobId: deleted }));
    const runsOfDeleted = await runIds(t, deleted);
    await rejects(
      t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: deleted })),
      'OperationNotPermittedException',
      new RegExp(`${deleted} is DELET(ING|ED)`),
    );
    assert.deepEqual(await runIds(t, deleted), runsOfDeleted);

    const once = await createJob(t, servers.get('vm-1')!, { frequency: undefined, runOnce: true });
    const run = await connector.claimWhenDue();
    await connector.completeWithImage(run.replicationRunId);
    assert.equal((await getJob(t, once)).state, 'COMPLETED');
    await rejects(t.sms.send(new StartOnDemandReplicationRunCommand({ replicationJobId: once })), 'OperationNotPermittedException', /COMPLETED/);
    assert.deepEqual(await runIds(t, once), [run.replicationRunId]);
  } finally {
    await t.close();
  }
});

