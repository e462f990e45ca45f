/**
 * Direct seeding of a data dir's SQLite store (seeding 100k jobs through the API would take minutes). The
 * connector's registration and the catalog import go through the product's own core functions; servers, jobs
 * and runs are then inserted in one transaction, with the values and cross-references CreateReplicationJob and
 * the run lifecycle would have written:
 *   - every server is in the AVAILABLE catalog, replicable, bound to the registered connector, and points at
 *     its job (replication_job_id, replication_job_terminated = 0);
 *   - 4 of 5 jobs are recurring PENDING jobs waiting for their seed time (1 h … 29 days ahead), each with its
 *     single PENDING AUTOMATIC run at next_run_at — what CreateReplicationJob leaves;
 *   - 1 of 5 is a one-time job that COMPLETED: one COMPLETED run with its AMI, latest_ami_id, first replication.
 * No run is due and no lease is open, so the scheduler has nothing to do while the bench measures.
 */
import { sql, type Insertable } from 'kysely';
import { openSqliteStore } from '../src/store/openStore.ts';
import type { JobsTable, RunsTable, ServersTable } from '../src/store/schema.ts';
import { systemClock, DAY, HOUR, MINUTE } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';
import { defaultPolicy } from '../src/domain/policy.ts';
import { FerryEvents } from '../src/core/events.ts';
import type { Core } from '../src/core/context.ts';
import type { Tenant } from '../src/domain/tenant.ts';
import { registerConnector } from '../src/core/connectors.ts';
import { applyInventory, importCatalog } from '../src/core/catalog.ts';
import { toVmServer } from '../src/core/vmServer.ts';
import { newReplicationJobId, newReplicationRunId, newServerId } from '../src/lib/ids.ts';

export const VM_MANAGER = { vmManagerType: 'VSPHERE', vmManagerName: 'vcenter.bench.local', vmManagerId: 'vcenter-bench-1' } as const;

export interface SeedResult {
  /** Job ids in list order (ascending seq). */
  jobIds: string[];
  /** seq of each job, same order. */
  seqs: number[];
  /** The server of each job, same order; every 5th job (index % 5 === 4) is COMPLETED, so its server takes a new job. */
  serverIds: string[];
  ms: number;
}

/** Ids are 8 hex digits (32 bits): at 100k a collision is likely, so draw until unique. */
function uniqueIds(n: number, make: () => string): string[] {
  const seen = new Set<string>();
  while (seen.size < n) seen.add(make());
  return [...seen];
}

async function insertChunked<T extends 'servers' | 'jobs' | 'runs'>(
  tx: Core['db'],
  table: T,
  rows: unknown[],
  columns: number,
): Promise<void> {
  const chunk = Math.floor(30_000 / columns); // SQLite allows 32766 bound variables per statement
  for (let i = 0; i < rows.length; i += chunk) {
    await tx.insertInto(table).values(rows.slice(i, i + chunk) as never).execute();
  }
}

export async function seedDataDir(dataDir: string, tenant: Tenant, connectorId: string, jobs: number): Promise<SeedResult> {
  const started = performance.now();
  const now = systemClock.now();
  const store = await openSqliteStore(dataDir, now);
  const core: Core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock: systemClock, policy: defaultPolicy, log: createLogger('warn'), events: new FerryEvents() };
  try {
    const connectorRow = async () =>
      core.db.selectFrom('connectors').selectAll().where('connector_id', '=', connectorId).executeTakeFirstOrThrow();
    await registerConnector(core, await connectorRow(), {
      ...VM_MANAGER,
      version: '1.0.0',
      capabilities: ['VSPHERE', 'SMS_OPTIMIZED'],
      ipAddress: '10.0.0.5',
      macAddress: '00:50:56:00:00:01',
    });
    await importCatalog(core, tenant);
    // The connector reports (here: an empty inventory) and the catalog becomes AVAILABLE, as in production.
    const catalog = await applyInventory(core, await connectorRow(), []);
    if (catalog.status !== 'AVAILABLE') throw new Error(`catalog is ${catalog.status} after the inventory`);

    const serverIds = uniqueIds(jobs, newServerId);
    const jobIds = uniqueIds(jobs, newReplicationJobId);
    const runIds = uniqueIds(jobs, newReplicationRunId);
    const servers: Insertable<ServersTable>[] = [];
    const jobRows: Insertable<JobsTable>[] = [];
    const runRows: Insertable<RunsTable>[] = [];
    const frequencies = [1, 4, 12, 24];
    for (let i = 0; i < jobs; i++) {
      const server = {
        seq: 0,
        server_id: serverIds[i]!,
        account_id: tenant.accountId,
        region: tenant.region,
        connector_id: connectorId,
        vm_manager_id: VM_MANAGER.vmManagerId,
        vm_manager_name: VM_MANAGER.vmManagerName,
        vm_manager_type: VM_MANAGER.vmManagerType,
        vm_id: `vm-${1000 + i}`,
        vm_name: `app-server-${String(i).padStart(6, '0')}`,
        vm_path: `/Datacenters/DC${1 + (i % 3)}/vm/production/app-server-${String(i).padStart(6, '0')}`,
        replicable: 1,
        unsupported_reason: null,
        in_catalog: 1,
        replication_job_id: jobIds[i]!,
        replication_job_terminated: 0,
        details: JSON.stringify({ cpus: 2 + (i % 4) * 2, memoryMiB: 4096 * (1 + (i % 4)), os: 'Ubuntu 22.04', disks: [{ sizeGiB: 40 }, { sizeGiB: 100 + (i % 7) * 50 }] }),
        updated_at: now,
      };
      const { seq: _seq, ...serverValues } = server;
      servers.push(serverValues);
      const createdAt = now - (jobs - i) * 1000;
      const completed = i % 5 === 4;
      const encrypted = i % 3 === 0 ? 1 : 0;
      const kmsKeyId = encrypted ? 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' : null;
      const description = `Replicate app-server-${String(i).padStart(6, '0')} (wave ${1 + (i % 10)})`;
      const seed = completed ? now - (1 + (i % 20)) * DAY : now + HOUR + ((i * 7919) % (28 * 24)) * HOUR;
      const ami = `ami-${(0x10000 + i).toString(16).padStart(17, '0')}`;
      jobRows.push({
        replication_job_id: jobIds[i]!,
        account_id: tenant.accountId,
        region: tenant.region,
        server_id: server.server_id,
        server_type: 'VIRTUAL_MACHINE',
        vm_server: JSON.stringify(toVmServer(server)),
        vm_manager_id: server.vm_manager_id,
        seed_time: seed,
        schedule_anchor: seed,
        frequency: completed ? null : frequencies[i % frequencies.length]!,
        run_once: completed ? 1 : 0,
        license_type: i % 2 ? 'AWS' : 'BYOL',
        role_name: i % 4 === 0 ? 'sms' : null,
        description,
        amis_to_keep: i % 6,
        encrypted,
        kms_key_id: kmsKeyId,
        state: completed ? 'COMPLETED' : 'PENDING',
        status_message: null,
        next_run_at: completed ? null : seed,
        latest_ami_id: completed ? ami : null,
        consecutive_failures: 0,
        first_replication_at: completed ? seed + MINUTE : null,
        paused_at: null,
        created_at: createdAt,
        updated_at: completed ? seed + HOUR : createdAt,
      });
      runRows.push({
        replication_run_id: runIds[i]!,
        replication_job_id: jobIds[i]!,
        account_id: tenant.accountId,
        region: tenant.region,
        type: 'AUTOMATIC',
        state: completed ? 'COMPLETED' : 'PENDING',
        scheduled_start_time: seed,
        started_at: completed ? seed + MINUTE : null,
        completed_time: completed ? seed + HOUR : null,
        status_message: completed ? 'Completed' : null,
        stage: null,
        stage_progress: null,
        ami_id: completed ? ami : null,
        ami_deleted: 0,
        description,
        encrypted,
        kms_key_id: kmsKeyId,
        connector_id: completed ? connectorId : null,
        lease_expires_at: null,
        progress: completed ? JSON.stringify({ bytesDone: 150 * 2 ** 30, bytesTotal: 150 * 2 ** 30, bytesPerSecond: 48 * 2 ** 20, at: seed + HOUR }) : null,
        created_at: createdAt,
        updated_at: completed ? seed + HOUR : createdAt,
      });
    }
    await core.db.transaction().execute(async (tx) => {
      await insertChunked(tx, 'servers', servers, Object.keys(servers[0]!).length);
      await insertChunked(tx, 'jobs', jobRows, Object.keys(jobRows[0]!).length);
      await insertChunked(tx, 'runs', runRows, Object.keys(runRows[0]!).length);
      // Each job's newest run, as insertRun keeps it (GetReplicationJobs shows that run).
      await sql`update jobs set latest_run_seq = (select max(seq) from runs where runs.replication_job_id = jobs.replication_job_id)
                where account_id = ${tenant.accountId} and region = ${tenant.region}`.execute(tx);
      // The tenant's count of non-terminal jobs, as the store keeps it (store/jobs/activeJobCounts.ts).
      const active = jobRows.filter((j) => j.state !== 'COMPLETED').length;
      await tx
        .insertInto('account_job_counts')
        .values({ account_id: tenant.accountId, region: tenant.region, active_jobs: active })
        .onConflict((oc) => oc.columns(['account_id', 'region']).doUpdateSet((eb) => ({ active_jobs: eb('active_jobs', '+', active) })))
        .execute();
    });
    const seqRows = await core.db
      .selectFrom('jobs')
      .select(['replication_job_id', 'seq'])
      .where('account_id', '=', tenant.accountId)
      .where('region', '=', tenant.region)
      .orderBy('seq', 'asc')
      .execute();
    const serverOf = new Map(jobRows.map((j) => [j.replication_job_id, j.server_id]));
    return {
      jobIds: seqRows.map((r) => r.replication_job_id),
      seqs: seqRows.map((r) => r.seq),
      serverIds: seqRows.map((r) => serverOf.get(r.replication_job_id)!),
      ms: performance.now() - started,
    };
  } finally {
    await store.close();
  }
}
