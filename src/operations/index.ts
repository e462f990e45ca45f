/**
 * The operation table: every SMS operation Ferry implements, keyed by its wire name, plus the App operations
 * it answers with a clear "not implemented" error. The table's type holds each handler to the SDK's shapes.
 */
import type * as sms from '@aws-sdk/client-sms';
import type { EncodedJson } from '../protocol/awsJson.ts';
import type { Operation } from '../api/operation.ts';
import { createReplicationJob } from './createReplicationJob.ts';
import { getReplicationJobs } from './getReplicationJobs.ts';
import { updateReplicationJob } from './updateReplicationJob.ts';
import { deleteReplicationJob } from './deleteReplicationJob.ts';
import { startOnDemandReplicationRun } from './startOnDemandReplicationRun.ts';
import { getReplicationRuns } from './getReplicationRuns.ts';
import { getServers } from './getServers.ts';
import { importServerCatalog } from './importServerCatalog.ts';
import { deleteServerCatalog } from './deleteServerCatalog.ts';
import { getConnectors } from './getConnectors.ts';
import { disassociateConnector } from './disassociateConnector.ts';

export interface OperationTable {
  CreateReplicationJob: Operation<sms.CreateReplicationJobRequest, sms.CreateReplicationJobResponse>;
  // Answered with JSON text written from the rows (core/jobPageEncoding.ts); test/unit/jobPageEncoding.test.ts holds it to the shape.
  GetReplicationJobs: Operation<sms.GetReplicationJobsRequest, sms.GetReplicationJobsResponse | EncodedJson>;
  UpdateReplicationJob: Operation<sms.UpdateReplicationJobRequest, sms.UpdateReplicationJobResponse>;
  DeleteReplicationJob: Operation<sms.DeleteReplicationJobRequest, sms.DeleteReplicationJobResponse>;
  StartOnDemandReplicationRun: Operation<sms.StartOnDemandReplicationRunRequest, sms.StartOnDemandReplicationRunResponse>;
  GetReplicationRuns: Operation<sms.GetReplicationRunsRequest, sms.GetReplicationRunsResponse>;
  GetServers: Operation<sms.GetServersRequest, sms.GetServersResponse>;
  ImportServerCatalog: Operation<sms.ImportServerCatalogRequest, sms.ImportServerCatalogResponse>;
  DeleteServerCatalog: Operation<sms.DeleteServerCatalogRequest, sms.DeleteServerCatalogResponse>;
  GetConnectors: Operation<sms.GetConnectorsRequest, sms.GetConnectorsResponse>;
  DisassociateConnector: Operation<sms.DisassociateConnectorRequest, sms.DisassociateConnectorResponse>;
}

export const operations: OperationTable = {
  CreateReplicationJob: createReplicationJob,
  GetReplicationJobs: getReplicationJobs,
  UpdateReplicationJob: updateReplicationJob,
  DeleteReplicationJob: deleteReplicationJob,
  StartOnDemandReplicationRun: startOnDemandReplicationRun,
  GetReplicationRuns: getReplicationRuns,
  GetServers: getServers,
  ImportServerCatalog: importServerCatalog,
  DeleteServerCatalog: deleteServerCatalog,
  GetConnectors: getConnectors,
  DisassociateConnector: disassociateConnector,
};

/** The application-migration operations (spec §7): routed, authenticated, and refused as not implemented. */
export const NOT_IMPLEMENTED_OPERATIONS = [
  'CreateApp',
  'DeleteApp',
  'DeleteAppLaunchConfiguration',
  'DeleteAppReplicationConfiguration',
  'DeleteAppValidationConfiguration',
  'GenerateChangeSet',
  'GenerateTemplate',
  'GetApp',
  'GetAppLaunchConfiguration',
  'GetAppReplicationConfiguration',
  'GetAppValidationConfiguration',
  'GetAppValidationOutput',
  'ImportAppCatalog',
  'LaunchApp',
  'ListApps',
  'NotifyAppValidationOutput',
  'PutAppLaunchConfiguration',
  'PutAppReplicationConfiguration',
  'PutAppValidationConfiguration',
  'StartAppReplication',
  'StartOnDemandAppReplication',
  'StopAppReplication',
  'TerminateApp',
  'UpdateApp',
] as const;

export function findOperation(name: string): Operation<unknown, unknown> | undefined {
  return Object.hasOwn(operations, name) ? (operations[name as keyof OperationTable] as Operation<unknown, unknown>) : undefined;
}
