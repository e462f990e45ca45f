/**
 * Ids have 8 random hex digits, so at scale a new job's drawn id is sometimes taken: the create must then draw
 * again, give its seed run the id it keeps, and leave the job that owns the taken id as it was. Forced here by
 * handing createJobIn a taken id as its first draw, on every store dialect (whatever checks the id: today a lookup
 * before the inserts, core/uniqueId.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeDialects, type StoreUnderTest } from '../helpers/stores.ts';
import { TENANT, addConnector, addJob, addServer, coreOver } from '../helpers/storeFixtures.ts';
import { inTransaction } from '../../src/core/context.ts';
import { createJobIn } from '../../src/core/jobs.ts';

const NOW = 1_800_000_000_000;
const TAKEN = 'sms-job-0000000a';
const FREE = 'sms-job-0000000b';

for (const dialect of storeDialects) {
  describe(`a new job whose first drawn id is taken (${dialect.name})`, () => {
    let sut: StoreUnderTest;
    before(async () => {
      sut = await dialect.open(NOW);
      const connector = await addConnector(sut.store, 'c-ids', 'vcenter-ids', NOW);
      const owner = await addServer(sut.store, 's-0000000a', connector.connector_id, 'vcenter-ids', NOW);
      await addJob(sut.store, TAKEN, owner, 'PENDING', NOW);
      await addServer(sut.store, 's-0000000b', connector.connector_id, 'vcenter-ids', NOW);
      await sut.store.db
        .insertInto('catalogs')
        .values({ account_id: TENANT.accountId, region: TENANT.region, status: 'AVAILABLE', last_modified_on: NOW, import_requested_at: null, status_before_import: null })
        .execute();
    });
    after(async () => sut.dispose());

    test('is created under the next id drawn, with its seed run, and the job holding the taken id is untouched', async () => {
      const { db } = sut.store;
      const before = await db.selectFrom('jobs').selectAll().where('replication_job_id', '=', TAKEN).executeTakeFirstOrThrow();
      const core = coreOver(sut.store, NOW);
      const draws = [TAKEN, FREE];
      const seed = NOW + 3_600_000;
      const id = await inTransaction(core, (tx, emit) =>
        createJobIn(tx, emit, core, TENANT, { serverId: 's-0000000b', seedReplicationTime: new Date(seed), frequency: 12 }, seed, NOW, () => draws.shift()!),
      );
      assert.equal(id, FREE);
      assert.deepEqual(draws, [], 'both ids were drawn');

      const job = await db.selectFrom('jobs').selectAll().where('replication_job_id', '=', FREE).executeTakeFirstOrThrow();
      assert.equal(job.server_id, 's-0000000b');
      const runsOfNew = await db.selectFrom('runs').selectAll().where('replication_job_id', '=', FREE).execute();
      assert.equal(runsOfNew.length, 1);
      assert.equal(Number(job.latest_run_seq), Number(runsOfNew[0]!.seq), 'the new job points at its seed run');
      assert.equal(runsOfNew[0]!.state, 'PENDING');

      assert.deepEqual(await db.selectFrom('jobs').selectAll().where('replication_job_id', '=', TAKEN).executeTakeFirstOrThrow(), before);
      assert.equal((await db.selectFrom('runs').select('replication_run_id').where('replication_job_id', '=', TAKEN).execute()).length, 0, 'no run was left on the taken id');
      const server = await db.selectFrom('servers').select('replication_job_id').where('server_id', '=', 's-0000000b').executeTakeFirstOrThrow();
      assert.equal(server.replication_job_id, FREE);
    });
  });
}
