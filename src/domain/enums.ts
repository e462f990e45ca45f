/** The SMS model's enums, with the wire values as the domain values (as the AWS SDK writes them). */

export const ReplicationJobState = {
  Pending: 'PENDING',
  Active: 'ACTIVE',
  Failed: 'FAILED',
  Deleting: 'DELETING',
  Deleted: 'DELETED',
  Completed: 'COMPLETED',
  PausedOnFailure: 'PAUSED_ON_FAILURE',
  Failing: 'FAILING',
} as const;
export type ReplicationJobState = (typeof ReplicationJobState)[keyof typeof ReplicationJobState];

/** Jobs in these states still occupy their server and count toward the per-account limit. */
export const NON_TERMINAL_JOB_STATES: readonly ReplicationJobState[] = [
  'PENDING',
  'ACTIVE',
  'PAUSED_ON_FAILURE',
  'FAILING',
  'DELETING',
];

export const ReplicationRunState = {
  Pending: 'PENDING',
  Missed: 'MISSED',
  Active: 'ACTIVE',
  Failed: 'FAILED',
  Completed: 'COMPLETED',
  Deleting: 'DELETING',
  Deleted: 'DELETED',
} as const;
export type ReplicationRunState = (typeof ReplicationRunState)[keyof typeof ReplicationRunState];

export const ReplicationRunType = { OnDemand: 'ON_DEMAND', Automatic: 'AUTOMATIC' } as const;
export type ReplicationRunType = (typeof ReplicationRunType)[keyof typeof ReplicationRunType];

export const ServerCatalogStatus = {
  NotImported: 'NOT_IMPORTED',
  Importing: 'IMPORTING',
  Available: 'AVAILABLE',
  Deleted: 'DELETED',
  Expired: 'EXPIRED',
} as const;
export type ServerCatalogStatus = (typeof ServerCatalogStatus)[keyof typeof ServerCatalogStatus];

export const ConnectorStatus = { Healthy: 'HEALTHY', Unhealthy: 'UNHEALTHY' } as const;
export type ConnectorStatus = (typeof ConnectorStatus)[keyof typeof ConnectorStatus];

export const VM_MANAGER_TYPES = ['VSPHERE', 'SCVMM', 'HYPERV-MANAGER'] as const;
export type VmManagerType = (typeof VM_MANAGER_TYPES)[number];

export const CONNECTOR_CAPABILITIES = ['VSPHERE', 'SCVMM', 'HYPERV-MANAGER', 'SNAPSHOT_BATCHING', 'SMS_OPTIMIZED'] as const;

export const LICENSE_TYPES = ['AWS', 'BYOL'] as const;

/** The one server type SMS models (Server.serverType): every server Ferry catalogs is a VM. */
export const SERVER_TYPE_VIRTUAL_MACHINE = 'VIRTUAL_MACHINE';
