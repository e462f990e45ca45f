/** Row shapes of every table, as Kysely sees them. Times are epoch milliseconds; booleans are 0/1. */
import type { Generated } from 'kysely';
import type { ImageTables } from './images/schema.ts';

export interface AccountsTable {
  account_id: string;
  name: string;
  created_at: number;
}

/** Access keys (migration 7; rules in core/accessKeys.ts). A deleted key keeps its row, without its secret. */
export interface AccessKeysTable {
  access_key_id: string;
  account_id: string;
  /** `created`, `environment`, `generated` or `legacy` (see migrations/007_access_key_lifecycle.ts). */
  origin: string;
  /** The secret sealed under the master key (kms/secretSeal.ts), base64; null once deleted or before sealing. */
  sealed_secret: string | null;
  master_key_fingerprint: string | null;
  /** A secret from before migration 7, until a process holding the master key seals it; then null. */
  plain_secret: string | null;
  created_at: number;
  deleted_at: number | null;
}

export interface ConnectorsTable {
  seq: Generated<number>;
  connector_id: string;
  account_id: string;
  region: string;
  token_hash: string;
  label: string | null;
  created_at: number;
  registered_at: number | null;
  vm_manager_type: string | null;
  vm_manager_name: string | null;
  vm_manager_id: string | null;
  version: string | null;
  capabilities: string; // JSON array
  ip_address: string | null;
  mac_address: string | null;
  last_heartbeat_at: number | null;
  reported_status: string | null;
  status_message: string | null;
  disassociated_at: number | null;
  last_inventory_at: number | null;
}

export interface CatalogsTable {
  account_id: string;
  region: string;
  status: string;
  last_modified_on: number | null;
  import_requested_at: number | null;
  /** What the catalog was before an import started, so a timed-out import can fall back to it. */
  status_before_import: string | null;
}

export interface ServersTable {
  seq: Generated<number>;
  server_id: string;
  account_id: string;
  region: string;
  connector_id: string;
  vm_manager_id: string;
  vm_manager_name: string;
  vm_manager_type: string;
  vm_id: string;
  vm_name: string;
  vm_path: string;
  replicable: number;
  unsupported_reason: string | null;
  in_catalog: number;
  replication_job_id: string | null;
  replication_job_terminated: number | null;
  details: string | null; // JSON: connector-specific facts (disks, OS), opaque to the control plane
  updated_at: number;
}

export interface JobsTable {
  seq: Generated<number>;
  replication_job_id: string;
  account_id: string;
  region: string;
  server_id: string;
  server_type: string;
  vm_server: string; // JSON VmServer copied at create time
  vm_manager_id: string;
  seed_time: number;
  /** Slots are `schedule_anchor + k·frequency`; moved by UpdateReplicationJob, starts at the seed time. */
  schedule_anchor: number;
  frequency: number | null;
  run_once: number;
  license_type: string | null;
  role_name: string | null;
  description: string | null;
  amis_to_keep: number;
  encrypted: number;
  kms_key_id: string | null;
  state: string;
  status_message: string | null;
  next_run_at: number | null;
  latest_ami_id: string | null;
  /** The job's newest run (GetReplicationJobs shows it), kept here so a page needs no aggregate over runs. */
  latest_run_seq: number | null;
  consecutive_failures: number;
  first_replication_at: number | null;
  paused_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface RunsTable {
  seq: Generated<number>;
  replication_run_id: string;
  replication_job_id: string;
  account_id: string;
  region: string;
  type: string;
  state: string;
  scheduled_start_time: number;
  started_at: number | null;
  completed_time: number | null;
  status_message: string | null;
  stage: string | null;
  stage_progress: string | null;
  ami_id: string | null;
  ami_deleted: number;
  description: string | null;
  encrypted: number;
  kms_key_id: string | null;
  connector_id: string | null;
  lease_expires_at: number | null;
  /**
   * For a pending AUTOMATIC run: the following slot, when the run is MISSED if nobody has started it. Kept as a
   * column so the scheduler finds such runs through an index instead of evaluating every pending run.
   */
  miss_at: number | null;
  progress: string | null; // JSON: bytes done/total, throughput, as last reported
  created_at: number;
  updated_at: number;
}

export interface ImageDeletionsTable {
  seq: Generated<number>;
  account_id: string;
  region: string;
  replication_job_id: string;
  ami_id: string;
  requested_at: number;
  done_at: number | null;
  attempts: number;
  last_error: string | null;
}

export interface RunDiskMetaTable {
  replication_run_id: string;
  disk_index: number;
  meta: string; // JSON
}

/** Per tenant, how many of its jobs are in a non-terminal state (migration 11; kept by store/jobs/activeJobCounts.ts). */
export interface AccountJobCountsTable {
  account_id: string;
  region: string;
  active_jobs: number;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

export interface Database extends AppTables, ImageTables {
  accounts: AccountsTable;
  access_keys: AccessKeysTable;
  connectors: ConnectorsTable;
  catalogs: CatalogsTable;
  servers: ServersTable;
  jobs: JobsTable;
  runs: RunsTable;
  image_deletions: ImageDeletionsTable;
  run_disk_meta: RunDiskMetaTable;
  account_job_counts: AccountJobCountsTable;
  ferry_migrations: MigrationsTable;
}

// ── Applications (migration 8, src/store/migrations/008_apps.ts) ─────────────────────────────────────────────────

export interface AppsTable {
  seq: Generated<number>;
  app_id: string;
  account_id: string;
  region: string;
  /** Set for apps made by ImportAppCatalog (the catalog entry's id); such apps cannot be changed by UpdateApp. */
  imported_app_id: string | null;
  name: string;
  description: string | null;
  role_name: string | null;
  /** CreateApp's clientToken and a hash of the request it came with (a token reused for another request is refused). */
  client_token: string | null;
  request_hash: string | null;
  tags: string; // JSON [{key, value}]
  status: string;
  status_message: string | null;
  /** 1 once PutAppReplicationConfiguration was called (cleared by DeleteAppReplicationConfiguration). */
  replication_configured: number;
  /** Where the app's replication stands as the operations left it: NONE, STARTED, STOPPING or STOPPED. */
  replication_phase: string;
  /** The aggregated status, recomputed in every transaction that changes one of the app's jobs or runs. */
  replication_status: string;
  replication_status_message: string | null;
  latest_replication_time: number | null;
  /** When the app was first fully replicated (autoLaunch fires then, once). */
  first_replicated_at: number | null;
  launch_configured: number;
  launch_role_name: string | null;
  auto_launch: number;
  /** NONE, LAUNCH or TERMINATE: what the launch coordinator is driving. */
  launch_phase: string;
  /** Number of the latest launch (app_instances.launch_seq). */
  launch_seq: number;
  launch_status: string;
  launch_status_message: string | null;
  latest_launch_time: number | null;
  stack_name: string | null;
  stack_id: string | null;
  /** JSON: the launch configuration as the latest launch used it (GenerateChangeSet compares against it). */
  launched_configuration: string | null;
  created_at: number;
  updated_at: number;
}

export interface AppServerGroupsTable {
  seq: Generated<number>;
  server_group_id: string;
  app_id: string;
  account_id: string;
  region: string;
  name: string;
  position: number;
  launch_order: number | null;
}

export interface AppServersTable {
  seq: Generated<number>;
  server_id: string;
  app_id: string;
  server_group_id: string;
  account_id: string;
  region: string;
  position: number;
  /** JSON ServerReplicationParameters (seedTime in epoch ms), or null when not configured. */
  replication_parameters: string | null;
  /** JSON of the server's launch configuration (ServerLaunchConfiguration without `server`), or null. */
  launch_configuration: string | null;
  /** The job StartAppReplication created for this server (kept after StopAppReplication: its images remain). */
  replication_job_id: string | null;
}

export interface AppInstancesTable {
  seq: Generated<number>;
  app_id: string;
  account_id: string;
  region: string;
  launch_seq: number;
  server_id: string;
  /** Index of the launch wave (groups by ascending launchOrder) the server starts in. */
  wave: number;
  ami_id: string;
  /** A label put on the instance at launch, so an instance launched just before a crash is found, not launched again. */
  launch_token: string;
  instance_id: string | null;
  /** planned, launching, skipped, or the instance's own state (pending … terminated, failed). */
  state: string;
  message: string | null;
  requested_at: number | null;
  running_at: number | null;
  updated_at: number;
}

export interface AppValidationsTable {
  seq: Generated<number>;
  validation_id: string;
  app_id: string;
  account_id: string;
  region: string;
  /** APP (SSM) or SERVER (USERDATA). */
  kind: string;
  server_group_id: string | null;
  server_id: string | null;
  name: string;
  configuration: string; // JSON: the configuration as put
  position: number;
}

export interface AppValidationOutputsTable {
  validation_id: string;
  app_id: string;
  account_id: string;
  region: string;
  /** NOTIFIED (NotifyAppValidationOutput), or who ran it. */
  source: string;
  status: string;
  status_message: string | null;
  output_bucket: string | null;
  output_key: string | null;
  reported_at: number;
}

export interface AppCatalogTable {
  seq: Generated<number>;
  account_id: string;
  region: string;
  imported_app_id: string;
  name: string;
  description: string | null;
  servers: string; // JSON: [serverId | vmId | {vmManagerId, vmId}]
  loaded_at: number;
  /** What the last ImportAppCatalog did with this entry. */
  import_result: string | null;
}

export interface KeyPairsTable {
  seq: Generated<number>;
  account_id: string;
  region: string;
  key_name: string;
  key_type: string;
  public_key: string;
  fingerprint: string;
  created_at: number;
}

export interface AppTables {
  apps: AppsTable;
  app_server_groups: AppServerGroupsTable;
  app_servers: AppServersTable;
  app_instances: AppInstancesTable;
  app_validations: AppValidationsTable;
  app_validation_outputs: AppValidationOutputsTable;
  app_catalog: AppCatalogTable;
  key_pairs: KeyPairsTable;
}
