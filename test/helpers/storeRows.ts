/**
 * Rows for repository suites (test/store/): complete, valid rows of the app and job tables with every column set,
 * so a suite states only what it is about. Written straight into the tables: a suite tests the queries, not the
 * operations that normally write these rows.
 */
import type { Insertable } from 'kysely';
import { newAppRow } from '../../src/store/apps/appQueries.ts';
import type { AppInstancesTable, AppServerGroupsTable, AppServersTable, AppValidationsTable, AppsTable, JobsTable, ServersTable } from '../../src/store/schema.ts';

export const TENANT = { accountId: '111111111111', region: 'us-east-1' };
export const OTHER_TENANT = { accountId: '222222222222', region: 'us-east-1' };
export const T0 = 1_800_000_000_000;

const tenancy = (tenant = TENANT) => ({ account_id: tenant.accountId, region: tenant.region });

export function appRow(appId: string, extra: Partial<Insertable<AppsTable>> = {}, tenant = TENANT): Insertable<AppsTable> {
  const row = newAppRow({
    app_id: appId,
    ...tenancy(tenant),
    imported_app_id: null,
    name: `name of ${appId}`,
    description: null,
    role_name: null,
    client_token: null,
    request_hash: null,
    tags: '[]',
    created_at: T0,
    updated_at: T0,
  });
  return { ...row, ...extra };
}

export function groupRow(appId: string, groupId: string, position: number, tenant = TENANT): Insertable<AppServerGroupsTable> {
  return { server_group_id: groupId, app_id: appId, ...tenancy(tenant), name: `group ${groupId}`, position, launch_order: null };
}

export function memberRow(appId: string, groupId: string, serverId: string, position: number, replicationJobId: string | null = null, tenant = TENANT): Insertable<AppServersTable> {
  return { server_id: serverId, app_id: appId, server_group_id: groupId, ...tenancy(tenant), position, replication_parameters: null, launch_configuration: null, replication_job_id: replicationJobId };
}

export function appInstanceRow(appId: string, launchSeq: number, serverId: string, wave: number, tenant = TENANT): Insertable<AppInstancesTable> {
  return {
    app_id: appId,
    ...tenancy(tenant),
    launch_seq: launchSeq,
    server_id: serverId,
    wave,
    ami_id: 'ami-00000001',
    launch_token: `token-${appId}-${launchSeq}-${serverId}`,
    instance_id: null,
    state: 'planned',
    message: null,
    requested_at: null,
    running_at: null,
    updated_at: T0,
  };
}

export function appValidationRow(appId: string, validationId: string, position: number, tenant = TENANT): Insertable<AppValidationsTable> {
  return { validation_id: validationId, app_id: appId, ...tenancy(tenant), kind: 'APP', server_group_id: null, server_id: null, name: `validation ${validationId}`, configuration: '{}', position };
}

export function jobRow(jobId: string, serverId: string, state: string, tenant = TENANT): Insertable<JobsTable> {
  return {
    replication_job_id: jobId,
    ...tenancy(tenant),
    server_id: serverId,
    server_type: 'VIRTUAL_MACHINE',
    vm_server: '{}',
    vm_manager_id: 'vmm-1',
    seed_time: T0,
    schedule_anchor: T0,
    frequency: null,
    run_once: 1,
    license_type: null,
    role_name: null,
    description: null,
    amis_to_keep: 1,
    encrypted: 0,
    kms_key_id: null,
    state,
    status_message: null,
    next_run_at: null,
    latest_ami_id: null,
    latest_run_seq: null,
    consecutive_failures: 0,
    first_replication_at: null,
    paused_at: null,
    created_at: T0,
    updated_at: T0,
  };
}

export function serverRow(serverId: string, inCatalog: boolean, tenant = TENANT): Insertable<ServersTable> {
  return {
    server_id: serverId,
    ...tenancy(tenant),
    connector_id: 'c-1',
    vm_manager_id: 'vmm-1',
    vm_manager_name: 'manager',
    vm_manager_type: 'VSPHERE',
    vm_id: `vm-${serverId}`,
    vm_name: `name of ${serverId}`,
    vm_path: `/dc/${serverId}`,
    replicable: 1,
    unsupported_reason: null,
    in_catalog: inCatalog ? 1 : 0,
    replication_job_id: null,
    replication_job_terminated: null,
    details: null,
    updated_at: T0,
  };
}
