/** Row shapes of every table, as Kysely sees them. Times are epoch milliseconds; booleans are 0/1. */
import type { Generated } from 'kysely';

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

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

export interface Database {
  accounts: AccountsTable;
  access_keys: AccessKeysTable;
  connectors: ConnectorsTable;
  catalogs: CatalogsTable;
  servers: ServersTable;
  jobs: JobsTable;
  runs: RunsTable;
  image_deletions: ImageDeletionsTable;
  run_disk_meta: RunDiskMetaTable;
  ferry_migrations: MigrationsTable;
}
