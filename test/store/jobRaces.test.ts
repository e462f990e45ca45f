/**
 * Two writers of one replication job, interleaved deterministically on every dialect (test/helpers/interleave.ts:
 * the first request's transaction held open until the second waits on it). On SQLite the second always
 * ran after the first; on PostgreSQL (READ COMMITTED) it read the job before the first committed and decided from
 * that stale read (docs/store.md, "Read-then-write decisions"). Each case asserts the answer the second request
 * gives when it runs strictly after the first, and the store it leaves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, addJob, addRun, addServer, coreOver } from '../helpers/storeFixtures.ts';
import type { Core } from '../../src/core/context.ts';
import { interleave } from '../helpers/interleave.ts';
import { createJob, deleteJob, startOnDemandRun, updateJob } from '../../src/core/jobs.ts';
import { deleteCatalog } from '../../src/core/catalog.ts';
import * as catalog from '../../src/store/catalog/index.ts';
import { claimRuns, failRun } from '../../src/core/runs.ts';
import { expireJobs } from '../../src/core/schedulerSteps.ts';
import * as jobs from '../../src/store/jobs/index.ts';
import type { ConnectorRow, JobRow } from '../../src/store/rows.ts';
import { NON_TERMINAL_JOB_STATES } from '../../src/domain/enums.ts';

const NOW = 1_800_000_000_000;

for (const dialect of storeDialects) {
  describe(`one job, two writers (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    let core: Core;
    let connector: ConnectorRow;
    let n = 0;
    before(async () => {
      sut = await dialect.open(NOW);
      core = coreOver(sut.store, NOW);
      connector = await addConnector(sut.store, 'c-races', 'vcenter-races', NOW);
    });
    after(async () => sut.dispose());

    /** A PENDING job with its pending AUTOMATIC run due now, counted for the tenant as a create would. */
    async function pendingJob(owner = connector): Promise<JobRow> {
      const i = n++;
      const server = await addServer(sut.store, `s-race-${i}`, owner.connector_id, owner.vm_manager_id!, NOW);
      const job = await addJob(sut.store, `sms-job-race-${i}`, server, 'PENDING', NOW);
      await addRun(sut.store, `sms-run-race-${i}`, job, { scheduledStartTime: NOW }, NOW);
      await jobs.countJobTransition(sut.store.db, TENANT, null, 'PENDING');
      await sut.store.db.updateTable('servers').set({ replication_job_id: job.replication_job_id }).where('server_id', '=', server.server_id).execute();
      return job;
    }

    const runsOf = (job: JobRow) =>
      sut.store.db.selectFrom('runs').select(['replication_run_id', 'type', 'state']).where('replication_job_id', '=', job.replication_job_id).execute();

    test('two StartOnDemandReplicationRun: the second finds the first one waiting', async () => {
      const job = await pendingJob();
      const input = { replicationJobId: job.replication_job_id };
      const second = await interleave(sut.store, core, (holding) => startOnDemandRun(holding, TENANT, input), () => startOnDemandRun(core, TENANT, input));
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the second start answered ${second.error?.message ?? `run ${second.value}`}`);
      assert.equal((await runsOf(job)).filter((r) => r.type === 'ON_DEMAND').length, 1);
    });

    test('UpdateReplicationJob after DeleteReplicationJob: refused, and the deleted job gets no new pending run', async () => {
      const job = await pendingJob();
      const second = await interleave(
        sut.store,
        core,
        (holding) => deleteJob(holding, TENANT, job.replication_job_id),
        () => updateJob(core, TENANT, { replicationJobId: job.replication_job_id, frequency: 24 }),
      );
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the update answered ${second.error?.message ?? 'success'}`);
      assert.deepEqual((await runsOf(job)).filter((r) => r.state === 'PENDING'), []);
      assert.equal((await jobs.get(sut.store.db, job.replication_job_id))!.frequency, 12);
    });

    test('two DeleteReplicationJob: the second answers that the job is already DELETING', async () => {
      const job = await pendingJob();
      const second = await interleave(sut.store, core, (holding) => deleteJob(holding, TENANT, job.replication_job_id), () => deleteJob(core, TENANT, job.replication_job_id));
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the second delete answered ${second.error?.message ?? 'success'}`);
      assert.match(second.error!.message, /already DELETING/);
    });

    test('DeleteReplicationJob while the connector fails the job\'s active run: the delete succeeds after the failure', async () => {
      // A connector of its own, so that it claims this job's run and no other case's.
      const claimer = await addConnector(sut.store, 'c-races-claim', 'vcenter-races-claim', NOW);
      const job = await pendingJob(claimer);
      const [claimed] = await claimRuns(core, claimer, 1);
      assert.equal(claimed?.replicationJobId, job.replication_job_id);
      const second = await interleave(
        sut.store,
        core,
        (holding) => failRun(holding, claimer, claimed!.replicationRunId, 'disk read error'),
        () => deleteJob(core, TENANT, job.replication_job_id),
      );
      assert.equal(second.error, undefined, `the delete answered ${second.error?.name}: ${second.error?.message}`);
      assert.equal((await jobs.get(sut.store.db, job.replication_job_id))!.state, 'DELETING');
      const states = Object.fromEntries((await runsOf(job)).map((r) => [r.replication_run_id, r.state]));
      assert.equal(states[claimed!.replicationRunId], 'FAILED');
      assert.ok(!Object.values(states).includes('PENDING'), `no run of a deleted job stays PENDING: ${JSON.stringify(states)}`);
    });

    test('the per-account job count stays exact when the scheduler finishes a deletion while it is deleted again', async () => {
      await expireJobs(core, NOW); // the other cases' deletions finish first: this job is the step's only one
      const job = await pendingJob();
      await deleteJob(core, TENANT, job.replication_job_id);
      // The scheduler finishes the deletion (DELETING -> DELETED) while a second finishing step runs beside it.
      const second = await interleave(sut.store, core, (holding) => expireJobs(holding, NOW), () => expireJobs(core, NOW));
      assert.equal(second.error, undefined, `the second step answered ${second.error?.name}: ${second.error?.message}`);
      assert.equal((await jobs.get(sut.store.db, job.replication_job_id))!.state, 'DELETED');
      const live = await sut.store.db.selectFrom('jobs').select('replication_job_id').where('state', 'in', NON_TERMINAL_JOB_STATES).execute();
      assert.equal(await jobs.activeJobCount(sut.store.db, TENANT), live.length, 'the kept count is the count of live jobs');
    });

    // Last: it deletes the tenant's catalog.
    test('CreateReplicationJob beside DeleteServerCatalog: refused, no job for a server the catalog no longer has', async () => {
      await catalog.saveState(sut.store.db, TENANT, { status: 'AVAILABLE', last_modified_on: NOW, import_requested_at: null, status_before_import: null });
      const server = await addServer(sut.store, 's-race-catalog', connector.connector_id, 'vcenter-races', NOW);
      const second = await interleave(
        sut.store,
        core,
        (holding) => deleteCatalog(holding, TENANT),
        () => createJob(core, TENANT, { serverId: server.server_id, seedReplicationTime: new Date(NOW), frequency: 12 }),
      );
      assert.equal(second.error?.name, 'OperationNotPermittedException', `the create answered ${second.error?.message ?? `job ${second.value}`}`);
      assert.equal(await jobs.nonTerminalOfServer(sut.store.db, server.server_id), undefined);
    });
  });
}
