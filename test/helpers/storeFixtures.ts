/**
 * Rows the repository conformance suites (test/store/*.test.ts) build their cases from, written through the query
 * builder only (nothing dialect-specific), so the same fixtures serve every dialect in test/helpers/stores.ts.
 * Each helper fills the columns a case does not care about with plain defaults and returns the row it wrote.
 */
import { createLogger } from '../../src/lib/logger.ts';
import { defaultPolicy } from '../../src/domain/policy.ts';
import { FerryEvents } from '../../src/core/events.ts';
import type { Core } from '../../src/core/context.ts';
import type { Store } from '../../src/store/openStore.ts';
import type { ConnectorRow, JobRow, RunRow, ServerRow } from '../../src/store/rows.ts';
import type { InstanceRow } from '../../src/launch/instanceRepo.ts';

export const TENANT = { accountId: '111122223333', region: 'us-east-1' } as const;

/** A Core over the store, its clock fixed at `now` (the scheduler and claims read it). */
export function coreOver(store: Store, now: number): Core {
  return {
    db: store.db,
    readRows: store.readRows,
    readArrays: store.readArrays,
    capabilities: store.capabilities,
    clock: { now: () => now },
    policy: defaultPolicy,
    log: createLogger('silent'),
    events: new FerryEvents(),
  };
}

export async function addConnector(store: Store, connectorId: string, vmManagerId: string | null, now: number): Promise<ConnectorRow> {
  const row = {
    connector_id: connectorId,
    account_id: TENANT.accountId,
    region: TENANT.region,
    token_hash: `hash-of-${connectorId}`,
    label: null,
    created_at: now,
    registered_at: now,
    vm_manager_type: vmManagerId ? 'VSPHERE' : null,
    vm_manager_name: vmManagerId ? `vcenter ${vmManagerId}` : null,
    vm_manager_id: vmManagerId,
    version: '1.0.0',
    capabilities: '["VSPHERE"]',
    ip_address: null,
    mac_address: null,
    last_heartbeat_at: now,
    reported_status: 'HEALTHY',
    status_message: null,
    disassociated_at: null,
    last_inventory_at: null,
  };
  await store.db.insertInto('connectors').values(row).execute();
  return store.db.selectFrom('connectors').selectAll().where('connector_id', '=', connectorId).executeTakeFirstOrThrow();
}

export async function addServer(store: Store, serverId: string, connectorId: string, vmManagerId: string, now: number, details: string | null = null): Promise<ServerRow> {
  await store.db
    .insertInto('servers')
    .values({
      server_id: serverId,
      account_id: TENANT.accountId,
      region: TENANT.region,
      connector_id: connectorId,
      vm_manager_id: vmManagerId,
      vm_manager_name: `vcenter ${vmManagerId}`,
      vm_manager_type: 'VSPHERE',
      vm_id: `vm-${serverId}`,
      vm_name: `name-${serverId}`,
      vm_path: `/dc/${serverId}`,
      replicable: 1,
      unsupported_reason: null,
      in_catalog: 1,
      replication_job_id: null,
      replication_job_terminated: null,
      details,
      updated_at: now,
    })
    .execute();
  return store.db.selectFrom('servers').selectAll().where('server_id', '=', serverId).executeTakeFirstOrThrow();
}

export async function addJob(store: Store, jobId: string, server: ServerRow, state: string, now: number): Promise<JobRow> {
  await store.db
    .insertInto('jobs')
    .values({
      replication_job_id: jobId,
      account_id: TENANT.accountId,
      region: TENANT.region,
      server_id: server.server_id,
      server_type: 'VIRTUAL_MACHINE',
      vm_server: JSON.stringify({ vmServerAddress: { vmManagerId: server.vm_manager_id, vmId: server.vm_id } }),
      vm_manager_id: server.vm_manager_id,
      seed_time: now,
      schedule_anchor: now,
      frequency: 12,
      run_once: 0,
      license_type: null,
      role_name: null,
      description: null,
      amis_to_keep: 0,
      encrypted: 0,
      kms_key_id: null,
      state,
      status_message: null,
      next_run_at: now,
      latest_ami_id: null,
      latest_run_seq: null,
      consecutive_failures: 0,
      first_replication_at: null,
      paused_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return store.db.selectFrom('jobs').selectAll().where('replication_job_id', '=', jobId).executeTakeFirstOrThrow();
}

export async function addRun(
  store: Store,
  runId: string,
  job: JobRow,
  fields: { state?: string; type?: 'AUTOMATIC' | 'ON_DEMAND'; scheduledStartTime: number; connectorId?: string | null; leaseExpiresAt?: number | null; missAt?: number | null },
  now: number,
): Promise<RunRow> {
  await store.db
    .insertInto('runs')
    .values({
      replication_run_id: runId,
      replication_job_id: job.replication_job_id,
      account_id: job.account_id,
      region: job.region,
      type: fields.type ?? 'AUTOMATIC',
      state: fields.state ?? 'PENDING',
      scheduled_start_time: fields.scheduledStartTime,
      started_at: null,
      completed_time: null,
      status_message: null,
      stage: null,
      stage_progress: null,
      ami_id: null,
      ami_deleted: 0,
      description: null,
      encrypted: 0,
      kms_key_id: null,
      connector_id: fields.connectorId ?? null,
      lease_expires_at: fields.leaseExpiresAt ?? null,
      miss_at: fields.missAt ?? null,
      progress: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return store.db.selectFrom('runs').selectAll().where('replication_run_id', '=', runId).executeTakeFirstOrThrow();
}

/** A launched instance of TENANT's app, running and hydrating (booted 5 s after `now`). */
export function instanceRow(instanceId: string, now: number): InstanceRow {
  return {
    instance_id: instanceId,
    account_id: TENANT.accountId,
    region: TENANT.region,
    app_id: 'app-0123456789abcdef0',
    server_id: 's-12345678',
    ami_id: 'ami-00000001',
    domain_name: `ferry-${instanceId}`,
    state: 'running',
    state_message: null,
    hydration: 'hydrating',
    hydration_message: null,
    plan: '{"labels":{"ferry.app-id":"app-0123456789abcdef0"}}',
    inputs: null,
    console_nonce: 'nonce',
    launched_at: now,
    boot_started_at: now,
    boot_deadline_at: now + 60_000,
    booted_at: now + 5000,
    validation_deadline_at: null,
    hydrated_at: null,
    terminated_at: null,
    updated_at: now,
  };
}
