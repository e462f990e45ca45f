/** Rows → the SMS output shapes (typed by the AWS SDK, so the compiler holds them to the model). */
import type { Connector, ReplicationJob, ReplicationRun, Server, VmServer } from '@aws-sdk/client-sms';
import type { Policy } from '../domain/policy.ts';
import { connectorStatus } from '../domain/connectorHealth.ts';
import { SERVER_TYPE_VIRTUAL_MACHINE } from '../domain/enums.ts';
import { epochDate } from '../protocol/awsJson.ts';
import { toVmServer } from '../core/vmServer.ts';
import type { ConnectorRow, JobView, RunView, ServerRow } from '../store/rows.ts';

const date = (ms: number | null): Date | undefined => (ms === null ? undefined : epochDate(ms));
const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export function toServer(row: ServerRow): Server {
  const server: Server = { serverId: row.server_id, serverType: SERVER_TYPE_VIRTUAL_MACHINE, vmServer: toVmServer(row) };
  if (row.replication_job_id !== null) {
    server.replicationJobId = row.replication_job_id;
    server.replicationJobTerminated = row.replication_job_terminated === 1;
  }
  return server;
}

export function toRun(row: RunView): ReplicationRun {
  const run: ReplicationRun = {
    replicationRunId: row.replication_run_id,
    state: row.state as ReplicationRun['state'],
    type: row.type as ReplicationRun['type'],
    scheduledStartTime: epochDate(row.scheduled_start_time),
    encrypted: row.encrypted === 1,
  };
  if (row.state === 'ACTIVE' && row.stage !== null) {
    run.stageDetails = { stage: row.stage, stageProgress: row.stage_progress ?? undefined };
  }
  run.statusMessage = opt(row.status_message);
  run.amiId = opt(row.ami_id);
  run.completedTime = date(row.completed_time);
  run.description = opt(row.description);
  run.kmsKeyId = opt(row.kms_key_id);
  return run;
}

export function toJob(row: JobView, latestRun: RunView | undefined): ReplicationJob {
  const job: ReplicationJob = {
    replicationJobId: row.replication_job_id,
    serverId: row.server_id,
    serverType: SERVER_TYPE_VIRTUAL_MACHINE,
    vmServer: JSON.parse(row.vm_server) as VmServer,
    seedReplicationTime: epochDate(row.seed_time),
    state: row.state as ReplicationJob['state'],
    numberOfRecentAmisToKeep: row.amis_to_keep,
    encrypted: row.encrypted === 1,
  };
  if (row.run_once === 1) job.runOnce = true;
  else job.frequency = opt(row.frequency);
  job.nextReplicationRunStartTime = date(row.next_run_at);
  job.licenseType = opt(row.license_type) as ReplicationJob['licenseType'];
  job.roleName = opt(row.role_name);
  job.latestAmiId = opt(row.latest_ami_id);
  job.statusMessage = opt(row.status_message);
  job.description = opt(row.description);
  job.kmsKeyId = opt(row.kms_key_id);
  job.replicationRunList = latestRun ? [toRun(latestRun)] : [];
  return job;
}

export function toConnector(row: ConnectorRow, now: number, policy: Policy): Connector {
  return {
    connectorId: row.connector_id,
    version: opt(row.version),
    status: connectorStatus(row, now, policy),
    capabilityList: JSON.parse(row.capabilities) as Connector['capabilityList'],
    vmManagerName: opt(row.vm_manager_name),
    vmManagerType: opt(row.vm_manager_type) as Connector['vmManagerType'],
    vmManagerId: opt(row.vm_manager_id),
    ipAddress: opt(row.ip_address),
    macAddress: opt(row.mac_address),
    associatedOn: date(row.registered_at),
  };
}
