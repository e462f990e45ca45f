/** The application (App) enums of the SMS model (spec §7), with the wire values as the domain values. */

export const AppStatus = {
  Creating: 'CREATING',
  Active: 'ACTIVE',
  Updating: 'UPDATING',
  Deleting: 'DELETING',
  Deleted: 'DELETED',
  DeleteFailed: 'DELETE_FAILED',
} as const;
export type AppStatus = (typeof AppStatus)[keyof typeof AppStatus];

export const APP_REPLICATION_STATUSES = [
  'READY_FOR_CONFIGURATION',
  'CONFIGURATION_IN_PROGRESS',
  'CONFIGURATION_INVALID',
  'READY_FOR_REPLICATION',
  'VALIDATION_IN_PROGRESS',
  'REPLICATION_PENDING',
  'REPLICATION_IN_PROGRESS',
  'REPLICATED',
  'PARTIALLY_REPLICATED',
  'DELTA_REPLICATION_IN_PROGRESS',
  'DELTA_REPLICATED',
  'DELTA_REPLICATION_FAILED',
  'REPLICATION_FAILED',
  'REPLICATION_STOPPING',
  'REPLICATION_STOP_FAILED',
  'REPLICATION_STOPPED',
] as const;
export type AppReplicationStatus = (typeof APP_REPLICATION_STATUSES)[number];

export const APP_LAUNCH_STATUSES = [
  'READY_FOR_CONFIGURATION',
  'CONFIGURATION_IN_PROGRESS',
  'CONFIGURATION_INVALID',
  'READY_FOR_LAUNCH',
  'VALIDATION_IN_PROGRESS',
  'LAUNCH_PENDING',
  'LAUNCH_IN_PROGRESS',
  'LAUNCHED',
  'PARTIALLY_LAUNCHED',
  'DELTA_LAUNCH_IN_PROGRESS',
  'DELTA_LAUNCH_FAILED',
  'LAUNCH_FAILED',
  'TERMINATE_IN_PROGRESS',
  'TERMINATE_FAILED',
  'TERMINATED',
] as const;
export type AppLaunchStatus = (typeof APP_LAUNCH_STATUSES)[number];

export const VALIDATION_STATUSES = ['READY_FOR_VALIDATION', 'PENDING', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED'] as const;
export type ValidationStatus = (typeof VALIDATION_STATUSES)[number];

export const SCRIPT_TYPES = ['SHELL_SCRIPT', 'POWERSHELL_SCRIPT'] as const;
export type ScriptType = (typeof SCRIPT_TYPES)[number];

export const OUTPUT_FORMATS = ['JSON', 'YAML'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const APP_VALIDATION_STRATEGIES = ['SSM'] as const;
export const SERVER_VALIDATION_STRATEGIES = ['USERDATA'] as const;

/**
 * What the operations last did to an app's replication (stored; the status itself is derived from the jobs):
 * NONE (never started, or configuration deleted), STARTED (StartAppReplication made the jobs), STOPPING
 * (StopAppReplication is deleting them), STOPPED (they are gone; images kept).
 */
export const REPLICATION_PHASES = ['NONE', 'STARTED', 'STOPPING', 'STOPPED'] as const;
export type ReplicationPhase = (typeof REPLICATION_PHASES)[number];

