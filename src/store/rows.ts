/** The rows of the control plane's main tables as queries return them (selected, not insertable). */
import type { Selectable } from 'kysely';
import type { ConnectorsTable, JobsTable, RunsTable, ServersTable } from './schema.ts';

export type JobRow = Selectable<JobsTable>;
export type RunRow = Selectable<RunsTable>;
export type ServerRow = Selectable<ServersTable>;
export type ConnectorRow = Selectable<ConnectorsTable>;

/** What the output shapes need of a job and of a run (list pages select only these columns). */
export type JobView = Pick<
  JobRow,
  | 'replication_job_id'
  | 'server_id'
  | 'vm_server'
  | 'seed_time'
  | 'frequency'
  | 'run_once'
  | 'license_type'
  | 'role_name'
  | 'description'
  | 'amis_to_keep'
  | 'encrypted'
  | 'kms_key_id'
  | 'state'
  | 'status_message'
  | 'next_run_at'
  | 'latest_ami_id'
>;
export type RunView = Pick<
  RunRow,
  | 'replication_run_id'
  | 'type'
  | 'state'
  | 'scheduled_start_time'
  | 'completed_time'
  | 'status_message'
  | 'stage'
  | 'stage_progress'
  | 'ami_id'
  | 'description'
  | 'encrypted'
  | 'kms_key_id'
>;
