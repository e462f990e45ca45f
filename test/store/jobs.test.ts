/**
 * The jobs repository's contract, held against every store dialect: reads by tenant, lifecycle writes that touch
 * only what a change names, the per-account count, the scheduler's lookups and the list pages' compiled queries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, addJob, addRun, addServer } from '../helpers/storeFixtures.ts';
import * as jobs from '../../src/store/jobs/index.ts';
import * as jobPages from '../../src/store/jobs/listPages.ts';
import * as catalog from '../../src/store/catalog/index.ts';

const NOW = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`jobs repository (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
      const c = await addConnector(sut.store, 'c-jobs', 'vcenter-j', NOW);
      for (const [i, state] of ['PENDING', 'ACTIVE', 'PAUSED_ON_FAILURE', 'DELETED', 'DELETING'].entries()) {
        const server = await addServer(sut.store, `s-jobs-${i}`, c.connector_id, 'vcenter-j', NOW);
        await addJob(sut.store, `sms-job-${i}`, server, state, NOW);
      }
    });
    after(async () => sut.dispose());

    test('get and getInTenant: a job is found by id, and only in its own tenant', async () => {
      const { db } = sut.store;
      assert.equal((await jobs.get(db, 'sms-job-0'))?.state, 'PENDING');
      assert.equal(await jobs.get(db, 'sms-job-missing'), undefined);
      assert.equal((await jobs.getInTenant(db, TENANT, 'sms-job-1'))?.replication_job_id, 'sms-job-1');
      assert.equal(await jobs.getInTenant(db, { ...TENANT, accountId: '999988887777' }, 'sms-job-1'), undefined);
      assert.equal(await jobs.storedState(db, 'sms-job-2'), 'PAUSED_ON_FAILURE');
    });

    test('applyChange writes only the fields the change names; setSchedule and updateSettings keep the rest', async () => {
      const { db } = sut.store;
      await jobs.applyChange(db, 'sms-job-1', { consecutiveFailures: 2, statusMessage: 'retrying', pendingAutomaticAt: NOW + 7 }, NOW + 1);
      let job = (await jobs.get(db, 'sms-job-1'))!;
      assert.deepEqual([job.state, job.consecutive_failures, job.status_message, job.next_run_at, job.updated_at], ['ACTIVE', 2, 'retrying', NOW + 7, NOW + 1]);
      await jobs.setSchedule(db, 'sms-job-1', { anchor: NOW + 100 });
      job = (await jobs.get(db, 'sms-job-1'))!;
      assert.deepEqual([job.schedule_anchor, job.next_run_at], [NOW + 100, NOW + 7]);
      await jobs.setSchedule(db, 'sms-job-1', { anchor: NOW + 200, nextRunAt: NOW + 200 });
      await jobs.updateSettings(db, 'sms-job-1', { frequency: 24, license_type: 'BYOL', role_name: null, description: 'd', amis_to_keep: 3, encrypted: 1, kms_key_id: null }, NOW + 2);
      job = (await jobs.get(db, 'sms-job-1'))!;
      assert.deepEqual(
        [job.schedule_anchor, job.next_run_at, job.frequency, job.license_type, job.amis_to_keep, job.encrypted, job.state],
        [NOW + 200, NOW + 200, 24, 'BYOL', 3, 1, 'ACTIVE'],
      );
    });

    test('nonTerminalOfServer finds a live job, never a finished one; the active-job count follows transitions', async () => {
      const { db } = sut.store;
      assert.equal((await jobs.nonTerminalOfServer(db, 's-jobs-0'))?.replication_job_id, 'sms-job-0');
      assert.equal(await jobs.nonTerminalOfServer(db, 's-jobs-3'), undefined);
      const tenant = { accountId: '444455556666', region: 'eu-west-1' };
      assert.equal(await jobs.activeJobCount(db, tenant), 0);
      await jobs.countJobTransition(db, tenant, null, 'PENDING');
      await jobs.countJobTransition(db, tenant, null, 'PENDING');
      await jobs.countJobTransition(db, tenant, 'PENDING', 'ACTIVE');
      await jobs.countJobTransition(db, tenant, 'ACTIVE', 'DELETED');
      assert.equal(await jobs.activeJobCount(db, tenant), 1);
    });

    test('newJobFacts: the server in its tenant, its catalog status, connector association, live job and the job count in one read', async () => {
      const { db } = sut.store;
      const facts = (await jobs.newJobFacts(db, TENANT, 's-jobs-0'))!;
      assert.equal(facts.server.server_id, 's-jobs-0');
      assert.equal(facts.server.connector_id, 'c-jobs');
      assert.deepEqual(
        [facts.catalogStatus, facts.connectorAssociated, facts.liveJobId, facts.activeJobs],
        [await catalog.catalogStatus(db, TENANT), true, 'sms-job-0', await jobs.activeJobCount(db, TENANT)],
      );
      assert.equal((await jobs.newJobFacts(db, TENANT, 's-jobs-3'))!.liveJobId, null, 'a DELETED job is over');
      assert.equal(await jobs.newJobFacts(db, { ...TENANT, accountId: '999988887777' }, 's-jobs-0'), undefined);
      assert.equal(await jobs.newJobFacts(db, TENANT, 's-missing'), undefined);
      await catalog.saveState(db, TENANT, { status: 'AVAILABLE', last_modified_on: NOW, import_requested_at: null, status_before_import: null });
      await jobs.countJobTransition(db, TENANT, null, 'PENDING');
      await db.updateTable('connectors').set({ disassociated_at: NOW }).where('connector_id', '=', 'c-jobs').execute();
      try {
        const later = (await jobs.newJobFacts(db, TENANT, 's-jobs-1'))!;
        assert.deepEqual([later.catalogStatus, later.connectorAssociated, later.liveJobId, later.activeJobs], ['AVAILABLE', false, 'sms-job-1', await jobs.activeJobCount(db, TENANT)]);
        assert.ok(later.activeJobs >= 1);
      } finally {
        await db.updateTable('connectors').set({ disassociated_at: null }).where('connector_id', '=', 'c-jobs').execute();
      }
    });

    test('the scheduler lookups: jobs by state and clock column, the earliest clock, any job in a state', async () => {
      const { db } = sut.store;
      await db.updateTable('jobs').set({ paused_at: NOW - 500 }).where('replication_job_id', '=', 'sms-job-2').execute();
      assert.deepEqual(await jobs.idsInStates(db, ['DELETING']), ['sms-job-4']);
      assert.deepEqual(await jobs.idsInStates(db, ['PAUSED_ON_FAILURE'], { column: 'paused_at', atOrBefore: NOW - 500 }), ['sms-job-2']);
      assert.deepEqual(await jobs.idsInStates(db, ['PAUSED_ON_FAILURE'], { column: 'paused_at', atOrBefore: NOW - 501 }), []);
      assert.equal(await jobs.earliest(db, 'PAUSED_ON_FAILURE', 'paused_at'), NOW - 500);
      assert.equal(await jobs.earliest(db, 'ACTIVE', 'first_replication_at'), null);
      assert.equal(await jobs.anyInState(db, 'DELETING'), true);
      assert.equal(await jobs.anyInState(db, 'COMPLETED'), false);
    });

    test('the list pages: jobs in sequence after a cursor, one job in its tenant, runs newest first and by sequence', async () => {
      const { store } = sut;
      const page = await store.readRows(jobPages.jobsPage(store.db, { ...TENANT, limit: 2 }));
      assert.deepEqual(page.map((j) => j.replication_job_id), ['sms-job-0', 'sms-job-1']);
      const next = await store.readRows(jobPages.jobsPage(store.db, { ...TENANT, after: page[1]!.seq, limit: 10 }));
      assert.deepEqual(next.map((j) => j.replication_job_id), ['sms-job-2', 'sms-job-3', 'sms-job-4']);
      assert.deepEqual((await store.readRows(jobPages.jobsPage(store.db, { ...TENANT, replicationJobId: 'sms-job-3', limit: 10 }))).length, 1);
      assert.deepEqual(await store.readRows(jobPages.jobInTenant(store.db, { ...TENANT, region: 'eu-west-1' }, 'sms-job-3')), []);
      const job = (await jobs.get(store.db, 'sms-job-0'))!;
      const seqs: number[] = [];
      for (let i = 0; i < 3; i++) seqs.push((await addRun(store, `sms-run-page-${i}`, job, { scheduledStartTime: NOW + i }, NOW)).seq);
      const runs = await store.readRows(jobPages.runsPage(store.db, 'sms-job-0', undefined, 2));
      assert.deepEqual(runs.map((r) => r.replication_run_id), ['sms-run-page-2', 'sms-run-page-1']);
      const older = await store.readRows(jobPages.runsPage(store.db, 'sms-job-0', runs[1]!.seq, 2));
      assert.deepEqual(older.map((r) => r.replication_run_id), ['sms-run-page-0']);
      assert.deepEqual((await store.readRows(jobPages.runsBySeq(store.db, [seqs[0]!, seqs[2]!]))).map((r) => r.replication_run_id).sort(), ['sms-run-page-0', 'sms-run-page-2']);
    });
  });

  describe(`catalog repository: servers (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
    });
    after(async () => sut.dispose());

    test('a server by id and in its tenant, its details, its job link and termination, the catalog status', async () => {
      const { db } = sut.store;
      const c = await addConnector(sut.store, 'c-cat', 'vcenter-c', NOW);
      await addServer(sut.store, 's-cat', c.connector_id, 'vcenter-c', NOW, '{"disks":1}');
      assert.equal(await catalog.serverDetails(db, 's-cat'), '{"disks":1}');
      assert.equal(await catalog.serverDetails(db, 's-none'), null);
      assert.equal((await catalog.getInTenant(db, TENANT, 's-cat'))?.server_id, 's-cat');
      assert.equal(await catalog.getInTenant(db, { ...TENANT, region: 'eu-west-1' }, 's-cat'), undefined);
      await catalog.linkJob(db, 's-cat', 'sms-job-x', NOW + 1);
      assert.deepEqual([(await catalog.get(db, 's-cat'))?.replication_job_id, (await catalog.get(db, 's-cat'))?.replication_job_terminated], ['sms-job-x', 0]);
      // Termination marks only the server's current job.
      await catalog.markJobTerminated(db, 's-cat', 'sms-job-older', NOW + 2);
      assert.equal((await catalog.get(db, 's-cat'))?.replication_job_terminated, 0);
      await catalog.markJobTerminated(db, 's-cat', 'sms-job-x', NOW + 3);
      assert.equal((await catalog.get(db, 's-cat'))?.replication_job_terminated, 1);
      assert.equal(await catalog.catalogStatus(db, TENANT), 'NOT_IMPORTED');
    });
  });
}
