/**
 * GetReplicationJobs answers with JSON text written straight from the rows (src/operations/jobPageJson.ts). It must be exactly what the JS
 * mapping (toJob, via mappedJobPage) gives for the same rows: every optional member present or absent alike, dates as
 * the same epoch seconds, booleans, the latest run with or without stageDetails, tokens and errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Insertable } from 'kysely';
import { openSqliteStore, type Store } from '../../src/store/openStore.ts';
import type { JobsTable, RunsTable } from '../../src/store/schema.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { defaultPolicy } from '../../src/domain/policy.ts';
import { FerryEvents } from '../../src/core/events.ts';
import type { Core } from '../../src/core/context.ts';
import type { Tenant } from '../../src/domain/tenant.ts';
import { encodedJobPage, mappedJobPage } from '../../src/operations/getReplicationJobs.ts';
import { ServiceError } from '../../src/lib/errors.ts';

const tenant: Tenant = { accountId: '123456789012', region: 'us-east-1' };
const JOBS = 60;
let dir = '';
let store: Store;
let core: Core;

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length]!;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-jobpage-'));
  const now = Date.UTC(2026, 10, 22, 12, 0, 0, 0);
  store = await openSqliteStore(dir, now);
  core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock: systemClock, policy: defaultPolicy, log: createLogger('silent'), events: new FerryEvents() };
  const jobs: Insertable<JobsTable>[] = [];
  const runs: Insertable<RunsTable>[] = [];
  for (let i = 0; i < JOBS; i++) {
    const jobId = `sms-job-${(0x1000 + i).toString(16).padStart(8, '0')}`;
    const runOnce = i % 4 === 3;
    const encrypted = i % 3 === 0 ? 1 : 0;
    // Odd milliseconds too: the wire has epoch seconds with 3 decimals.
    const seed = now + i * 3_600_123;
    const vmServer = { vmServerAddress: { vmManagerId: 'vc-1', vmId: `vm-${i}` }, vmName: `web "${i}" é`, vmManagerName: 'vCenter', vmManagerType: 'VSPHERE', vmPath: `/dc/vm/web${i}` };
    jobs.push({
      replication_job_id: jobId,
      account_id: tenant.accountId,
      region: tenant.region,
      server_id: `s-${(0x2000 + i).toString(16).padStart(8, '0')}`,
      server_type: 'VIRTUAL_MACHINE',
      vm_server: JSON.stringify(vmServer),
      vm_manager_id: 'vc-1',
      seed_time: seed,
      schedule_anchor: seed,
      frequency: runOnce ? null : pick([1, 12, 24], i),
      run_once: runOnce ? 1 : 0,
      license_type: pick([null, 'AWS', 'BYOL'], i),
      role_name: pick([null, 'sms-role'], i),
      description: pick([null, 'nightly', 'quotes " and \\ and\nnewline ✓'], i),
      amis_to_keep: i % 7,
      encrypted,
      kms_key_id: encrypted ? 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' : null,
      state: pick(['PENDING', 'ACTIVE', 'FAILED', 'COMPLETED', 'PAUSED_ON_FAILURE'], i),
      status_message: pick([null, 'Replication is paused: 3 failures'], i),
      next_run_at: i % 5 === 0 ? null : seed + 17,
      latest_ami_id: i % 2 ? `ami-${i.toString(16).padStart(17, '0')}` : null,
      latest_run_seq: null,
      consecutive_failures: 0,
      first_replication_at: null,
      paused_at: null,
      created_at: now,
      updated_at: now,
    });
    if (i % 6 === 5) continue; // no run at all: replicationRunList is []
    const state = pick(['PENDING', 'ACTIVE', 'ACTIVE', 'COMPLETED', 'FAILED', 'MISSED'], i);
    runs.push({
      replication_run_id: `sms-run-${(0x3000 + i).toString(16).padStart(8, '0')}`,
      replication_job_id: jobId,
      account_id: tenant.accountId,
      region: tenant.region,
      type: pick(['AUTOMATIC', 'ON_DEMAND'], i),
      state,
      scheduled_start_time: seed + 999,
      started_at: null,
      completed_time: state === 'COMPLETED' || state === 'FAILED' ? seed + 61_001 : null,
      status_message: state === 'FAILED' ? 'Uploading: disk 0 vanished' : null,
      // ACTIVE with and without a stage; a stage left on a finished run is not shown.
      stage: i % 4 === 1 ? null : 'Uploading',
      stage_progress: i % 8 === 2 ? null : '42%',
      ami_id: state === 'COMPLETED' ? `ami-${(i + 1).toString(16).padStart(17, '0')}` : null,
      ami_deleted: 0,
      description: pick([null, 'run ✓'], i),
      encrypted,
      kms_key_id: encrypted ? 'alias/ferry' : null,
      connector_id: null,
      lease_expires_at: null,
      progress: null,
      created_at: now,
      updated_at: now,
    });
  }
  await core.db.transaction().execute(async (tx) => {
    for (const job of jobs) await tx.insertInto('jobs').values(job).execute();
    for (const run of runs) await tx.insertInto('runs').values(run).execute();
    await sql`update jobs set latest_run_seq = (select max(seq) from runs where runs.replication_job_id = jobs.replication_job_id)`.execute(tx);
  });
});

after(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const listJobsEncoded = (core: Core, tenant: Tenant, input: Parameters<typeof encodedJobPage>[1]) => encodedJobPage({ core, tenant }, input);

async function both(input: Parameters<typeof mappedJobPage>[1]) {
  const mapped = JSON.parse(JSON.stringify(await mappedJobPage({ core, tenant }, input)));
  const encoded = JSON.parse((await listJobsEncoded(core, tenant, input)).text);
  return { mapped, encoded };
}

test('every page written from the rows equals the JS mapping, member for member', async () => {
  let token: string | undefined;
  let seen = 0;
  do {
    const { mapped, encoded } = await both({ maxResults: 25, nextToken: token });
    assert.deepEqual(encoded, mapped);
    seen += encoded.replicationJobList.length;
    token = encoded.nextToken;
  } while (token);
  assert.equal(seen, JOBS);
  // The matrix really covers the optional members both ways.
  const { encoded } = await both({ maxResults: 1000 });
  const jobs = encoded.replicationJobList as Record<string, unknown>[];
  for (const member of ['frequency', 'runOnce', 'nextReplicationRunStartTime', 'licenseType', 'roleName', 'statusMessage', 'latestAmiId', 'description', 'kmsKeyId']) {
    assert.ok(jobs.some((j) => member in j) && jobs.some((j) => !(member in j)), `${member} present and absent`);
  }
  const runs = jobs.flatMap((j) => j.replicationRunList as Record<string, unknown>[]);
  assert.ok(runs.some((r) => 'stageDetails' in r) && runs.some((r) => r.state === 'ACTIVE' && !('stageDetails' in r)));
  assert.ok(jobs.some((j) => (j.replicationRunList as unknown[]).length === 0));
  assert.equal(typeof jobs[1]!.seedReplicationTime, 'number');
  assert.equal(jobs[1]!.seedReplicationTime, Date.UTC(2026, 10, 22, 13, 0, 0, 123) / 1000);
});

test('one job by id, the default page size, and the same errors', async () => {
  const { mapped, encoded } = await both({ replicationJobId: 'sms-job-00001007' });
  assert.deepEqual(encoded, mapped);
  assert.equal(encoded.replicationJobList.length, 1);
  const first = await both({});
  assert.deepEqual(first.encoded, first.mapped);
  assert.equal(first.encoded.replicationJobList.length, 50);
  await assert.rejects(listJobsEncoded(core, tenant, { replicationJobId: 'sms-job-ffffffff' }), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidParameterException');
  await assert.rejects(listJobsEncoded(core, tenant, { nextToken: 'garbage' }), (e: unknown) => e instanceof ServiceError && e.code === 'InvalidParameterException');
  const other = JSON.parse((await listJobsEncoded(core, { ...tenant, region: 'eu-west-1' }, {})).text);
  assert.deepEqual(other, { replicationJobList: [] }, 'another region sees nothing');
});

test('a changed job or latest run shows at once (the per-job text memo never serves a stale row)', async () => {
  const before = await both({ maxResults: 1000 });
  assert.deepEqual(before.encoded, before.mapped);
  await core.db.updateTable('jobs').set({ description: 'changed ✓', state: 'ACTIVE' }).where('replication_job_id', '=', 'sms-job-00001004').execute();
  const run = await core.db.selectFrom('jobs').select('latest_run_seq').where('replication_job_id', '=', 'sms-job-00001001').executeTakeFirstOrThrow();
  await core.db.updateTable('runs').set({ state: 'ACTIVE', stage: 'Converting', stage_progress: '99%' }).where('seq', '=', run.latest_run_seq!).execute();
  const after = await both({ maxResults: 1000 });
  assert.deepEqual(after.encoded, after.mapped);
  const byId = new Map((after.encoded.replicationJobList as { replicationJobId: string }[]).map((j) => [j.replicationJobId, j as Record<string, any>]));
  assert.equal(byId.get('sms-job-00001004')!.description, 'changed ✓');
  assert.deepEqual(byId.get('sms-job-00001001')!.replicationRunList[0].stageDetails, { stage: 'Converting', stageProgress: '99%' });
});
