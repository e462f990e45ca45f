/**
 * The runs repository's contract, held against every store dialect: the due-runs query is exactly the domain rule
 * (isRunDueFor), claims take a due run once however many claimers race for it, and the scheduler's lookups find the
 * runs their steps act on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { addConnector, addJob, addRun, addServer, coreOver } from '../helpers/storeFixtures.ts';
import * as runs from '../../src/store/runs/index.ts';
import { inUnitOfWork } from '../../src/store/unitOfWork.ts';
import { isRunDueFor } from '../../src/domain/replicationRun.ts';
import { ReplicationJobState, ReplicationRunState } from '../../src/domain/enums.ts';
import { claimRuns } from '../../src/core/runs.ts';
import { idTaken } from '../../src/store/idTaken.ts';

const NOW = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`runs repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('listDue returns exactly the runs isRunDueFor calls due, on-demand first, and claimDue the same', async () => {
      const { store } = sut;
      const mine = await addConnector(store, 'c-due-mine', 'vcenter-a', NOW);
      const other = await addConnector(store, 'c-due-other', 'vcenter-b', NOW);
      // Servers reported by `mine` on vcenter-a, by `other` on vcenter-a (served by mine through the VM manager), and
      // by `other` on vcenter-b (not served by mine).
      const servers = [
        await addServer(store, 's-due-1', mine.connector_id, 'vcenter-a', NOW),
        await addServer(store, 's-due-2', other.connector_id, 'vcenter-a', NOW),
        await addServer(store, 's-due-3', other.connector_id, 'vcenter-b', NOW),
      ];
      const facts: { id: string; runState: string; at: number; jobState: string; serverConnector: string; vmManager: string; type: string }[] = [];
      let n = 0;
      for (const server of servers) {
        for (const jobState of Object.values(ReplicationJobState)) {
          const job = await addJob(store, `sms-job-due-${n++}`, server, jobState, NOW);
          for (const runState of Object.values(ReplicationRunState)) {
            for (const offset of [-60_000, 60_000]) {
              const type = n % 3 === 0 ? 'ON_DEMAND' : 'AUTOMATIC';
              const id = `sms-run-due-${n++}`;
              await addRun(store, id, job, { state: runState, type, scheduledStartTime: NOW + offset }, NOW);
              facts.push({ id, runState, at: NOW + offset, jobState, serverConnector: server.connector_id, vmManager: server.vm_manager_id, type });
            }
          }
        }
      }
      const expected = facts
        .filter((f) =>
          isRunDueFor(
            { connectorId: mine.connector_id, vmManagerId: mine.vm_manager_id },
            { runState: f.runState, scheduledStartTime: f.at, jobState: f.jobState, serverConnectorId: f.serverConnector, jobVmManagerId: f.vmManager },
            NOW,
          ),
        )
        .map((f) => f.id);
      assert.ok(expected.length > 0 && expected.length < facts.length, 'the matrix has due and not-due runs');
      const due = await runs.listDue(store.db, mine, NOW, 10_000);
      assert.deepEqual(due.map((r) => r.replication_run_id).sort(), [...expected].sort());
      const firstAutomatic = due.findIndex((r) => r.type === 'AUTOMATIC');
      assert.ok(due.slice(firstAutomatic).every((r) => r.type === 'AUTOMATIC'), 'on-demand runs come first');
      assert.equal(await runs.anyDue(store.db, mine, NOW), true);
      const claimable = await inUnitOfWork(store.db, 'strict', (tx) => runs.claimDue(tx, store.capabilities, mine, NOW, 10_000));
      assert.deepEqual(claimable.map((r) => r.replication_run_id), due.map((r) => r.replication_run_id));
      // A connector of another VM manager, with no servers of its own reported: nothing is due for it.
      const stranger = await addConnector(store, 'c-due-stranger', 'vcenter-z', NOW);
      assert.deepEqual(await runs.listDue(store.db, stranger, NOW, 10_000), []);
      assert.equal(await runs.anyDue(store.db, stranger, NOW), false);
    });

    test('two claimers racing for one due run: exactly one gets it, the run is ACTIVE with that one', async () => {
      const { store } = sut;
      const a = await addConnector(store, 'c-race-a', 'vcenter-race', NOW);
      const b = await addConnector(store, 'c-race-b', 'vcenter-race', NOW);
      const server = await addServer(store, 's-race', a.connector_id, 'vcenter-race', NOW);
      const job = await addJob(store, 'sms-job-race', server, 'PENDING', NOW);
      // On demand: an AUTOMATIC run would first be weighed against its job's schedule (it may be MISSED instead).
      await addRun(store, 'sms-run-race', job, { type: 'ON_DEMAND', scheduledStartTime: NOW - 1_000 }, NOW);
      const [wonA, wonB] = await Promise.all([claimRuns(coreOver(store, NOW), a, 1), claimRuns(coreOver(store, NOW), b, 1)]);
      const winners = [...wonA.map(() => a.connector_id), ...wonB.map(() => b.connector_id)];
      assert.equal(winners.length, 1, `exactly one claimer wins (a took ${wonA.length}, b took ${wonB.length})`);
      const run = await runs.get(store.db, 'sms-run-race');
      assert.equal(run?.state, 'ACTIVE');
      assert.equal(run?.connector_id, winners[0]);
      assert.equal(await runs.hasActive(store.db, 'sms-job-race'), true);
      assert.equal(await runs.hasActive(store.db, 'sms-job-race', 'sms-run-race'), false);
      assert.deepEqual((await runs.activeHeldBy(store.db, winners[0]!)).map((r) => r.replication_run_id), ['sms-run-race']);
    });

    test('getInTenant finds a run only in its own account and region; applyChange writes only what the change names, and only from the state it was decided from', async () => {
      const { store } = sut;
      const c = await addConnector(store, 'c-tenant', 'vcenter-t', NOW);
      const job = await addJob(store, 'sms-job-tenant', await addServer(store, 's-tenant', c.connector_id, 'vcenter-t', NOW), 'ACTIVE', NOW);
      await addRun(store, 'sms-run-tenant', job, { scheduledStartTime: NOW }, NOW);
      assert.equal((await runs.getInTenant(store.db, { accountId: job.account_id, region: job.region }, 'sms-run-tenant'))?.replication_run_id, 'sms-run-tenant');
      assert.equal(await runs.getInTenant(store.db, { accountId: '999988887777', region: job.region }, 'sms-run-tenant'), undefined);
      assert.equal(await runs.getInTenant(store.db, { accountId: job.account_id, region: 'eu-west-1' }, 'sms-run-tenant'), undefined);
      const claim = { state: 'ACTIVE', connectorId: c.connector_id, leaseExpiresAt: NOW + 5, progress: { bytesDone: 1 } as never } as const;
      assert.equal(await runs.applyChange(store.db, 'sms-run-tenant', 'PENDING', claim, NOW + 1), true);
      const run = (await runs.get(store.db, 'sms-run-tenant'))!;
      assert.deepEqual(
        [run.state, run.connector_id, run.lease_expires_at, run.updated_at, run.status_message, run.scheduled_start_time, JSON.parse(run.progress!)],
        ['ACTIVE', c.connector_id, NOW + 5, NOW + 1, null, NOW, { bytesDone: 1 }],
      );
      // A transition decided from a state the run has left is not written (a progress report racing the run's failure).
      assert.equal(await runs.applyChange(store.db, 'sms-run-tenant', 'ACTIVE', { state: 'FAILED', statusMessage: 'Uploading: gone' }, NOW + 2), true);
      assert.equal(await runs.applyChange(store.db, 'sms-run-tenant', 'ACTIVE', { stage: 'Uploading', statusMessage: 'Uploading' }, NOW + 3), false);
      const failed = (await runs.get(store.db, 'sms-run-tenant'))!;
      assert.deepEqual([failed.state, failed.status_message, failed.updated_at], ['FAILED', 'Uploading: gone', NOW + 2]);
    });

    test('the scheduler lookups: expired leases, runs to miss, and the next moments with work', async () => {
      const fresh = await dialect.open(NOW);
      try {
        const { store } = fresh;
        const c = await addConnector(store, 'c-sched', 'vcenter-s', NOW);
        const server = await addServer(store, 's-sched', c.connector_id, 'vcenter-s', NOW);
        const busy = await addJob(store, 'sms-job-busy', server, 'ACTIVE', NOW);
        const idle = await addJob(store, 'sms-job-idle', await addServer(store, 's-sched-2', c.connector_id, 'vcenter-s', NOW), 'PENDING', NOW);
        await addRun(store, 'sms-run-expired', busy, { state: 'ACTIVE', scheduledStartTime: NOW - 10_000, connectorId: c.connector_id, leaseExpiresAt: NOW - 1 }, NOW);
        await addRun(store, 'sms-run-blocked', busy, { scheduledStartTime: NOW - 5_000, missAt: NOW + 50_000 }, NOW);
        await addRun(store, 'sms-run-past-slot', idle, { scheduledStartTime: NOW - 5_000, missAt: NOW - 1 }, NOW);
        await addRun(store, 'sms-run-later', idle, { scheduledStartTime: NOW + 20_000, missAt: NOW + 30_000 }, NOW);
        assert.deepEqual((await runs.leaseExpiredBefore(store.db, NOW)).map((r) => r.replication_run_id), ['sms-run-expired']);
        assert.deepEqual((await runs.missCandidates(store.db, NOW)).sort(), ['sms-run-blocked', 'sms-run-past-slot']);
        assert.deepEqual(await runs.nextRunTimes(store.db, NOW), { nextDue: NOW + 20_000, nextMiss: NOW - 1, nextLeaseEnd: NOW - 1 });
      } finally {
        await fresh.dispose();
      }
    });

    test('amiOf, onDemandCreatedAfter; idTaken for drawn ids', async () => {
      const { store } = sut;
      const connector = await addConnector(store, 'c-ami', 'vcenter-ami', NOW);
      const job = await addJob(store, 'sms-job-ami00001', await addServer(store, 's-ami00001', connector.connector_id, 'vcenter-ami', NOW), 'ACTIVE', NOW);
      await addRun(store, 'sms-run-ami00001', job, { type: 'ON_DEMAND', state: 'COMPLETED', scheduledStartTime: NOW }, NOW - 10);
      await addRun(store, 'sms-run-ami00002', job, { type: 'ON_DEMAND', scheduledStartTime: NOW }, NOW);
      await addRun(store, 'sms-run-ami00003', job, { type: 'AUTOMATIC', scheduledStartTime: NOW }, NOW);
      await runs.applyChange(store.db, 'sms-run-ami00001', 'COMPLETED', { amiId: 'ami-0123456789abcdef0' }, NOW);
      assert.equal(await runs.amiOf(store.db, 'sms-run-ami00001'), 'ami-0123456789abcdef0');
      assert.equal(await runs.amiOf(store.db, 'sms-run-ami00002'), null);
      assert.equal(await runs.amiOf(store.db, 'sms-run-nothere0'), null);
      assert.deepEqual((await runs.onDemandCreatedAfter(store.db, job.replication_job_id, NOW - 20)).sort(), [NOW - 10, NOW]);
      assert.deepEqual(await runs.onDemandCreatedAfter(store.db, job.replication_job_id, NOW - 10), [NOW]);
      assert.equal(await idTaken(store.db, 'runs', 'replication_run_id', 'sms-run-ami00003'), true);
      assert.equal(await idTaken(store.db, 'runs', 'replication_run_id', 'sms-run-free0000'), false);
      assert.equal(await idTaken(store.db, 'servers', 'server_id', 's-ami00001'), true);
      assert.equal(await idTaken(store.db, 'apps', 'app_id', 'app-free'), false);
      // insertIfIdFree: a taken id inserts nothing (and does not fail the transaction); a free one gives the new sequence.
      const taken = (await store.db.selectFrom('runs').selectAll().where('replication_run_id', '=', 'sms-run-ami00003').executeTakeFirstOrThrow()) as runs.NewRun & { seq: number };
      const { seq: takenSeq, ...copy } = taken;
      await inUnitOfWork(store.db, 'strict', async (tx) => {
        assert.equal(await runs.insertIfIdFree(tx, { ...copy, description: 'again' }), undefined);
        const seq = await runs.insertIfIdFree(tx, { ...copy, replication_run_id: 'sms-run-ami00004' });
        assert.ok(typeof seq === 'number' && seq > takenSeq, String(seq));
      });
      const kept = await store.db.selectFrom('runs').select(['seq', 'description']).where('replication_run_id', '=', 'sms-run-ami00003').executeTakeFirstOrThrow();
      assert.deepEqual({ ...kept }, { seq: takenSeq, description: null });
      assert.equal(await idTaken(store.db, 'runs', 'replication_run_id', 'sms-run-ami00004'), true);
    });

    test('disk metadata per run and disk; the image deletion queue in order, with done, deferred and failed marks', async () => {
      const { store } = sut;
      await runs.saveDiskMeta(store.db, 'sms-run-meta0001', 1, { format: 'vmdk' });
      await runs.saveDiskMeta(store.db, 'sms-run-meta0001', 0, { format: 'raw', bitmap: 'b0' });
      await runs.saveDiskMeta(store.db, 'sms-run-meta0001', 1, { format: 'qcow2' });
      await runs.saveDiskMeta(store.db, 'sms-run-meta0002', 0, { other: true });
      assert.deepEqual([...(await runs.diskMetaOf(store.db, 'sms-run-meta0001')).entries()].sort(), [[0, { format: 'raw', bitmap: 'b0' }], [1, { format: 'qcow2' }]]);
      assert.equal((await runs.diskMetaOf(store.db, 'sms-run-none0000')).size, 0);

      const job = { replication_job_id: 'sms-job-del00001', account_id: '111122223333', region: 'us-east-1' };
      await runs.retireImages(store.db, job, ['ami-00000000000000001', 'ami-00000000000000002', 'ami-00000000000000003'], NOW);
      const queued = await runs.pendingDeletions(store.db, 10);
      assert.deepEqual(queued.map((q) => q.ami_id), ['ami-00000000000000001', 'ami-00000000000000002', 'ami-00000000000000003']);
      assert.deepEqual((await runs.pendingDeletions(store.db, 2)).map((q) => q.ami_id), ['ami-00000000000000001', 'ami-00000000000000002']);
      await runs.markDeletionDone(store.db, queued[0]!.seq, NOW + 1);
      await runs.noteDeletionDeferred(store.db, queued[1]!.seq, 'an instance uses it');
      await runs.noteDeletionFailed(store.db, queued[2]!.seq, 1, 'disk busy', NOW + 2);
      const left = await runs.pendingDeletions(store.db, 10);
      assert.deepEqual(
        left.map((q) => [q.ami_id, q.attempts, q.last_error, q.requested_at]),
        [
          ['ami-00000000000000002', 0, 'an instance uses it', NOW],
          ['ami-00000000000000003', 1, 'disk busy', NOW + 2],
        ],
      );
    });
  });
}
