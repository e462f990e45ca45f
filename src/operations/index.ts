/**
 * The operation table: every SMS operation, keyed by its wire name. The table's type holds each handler to the SDK's
 * shapes.
 */
import type * as sms from '@aws-sdk/client-sms';
import type { EncodedJson } from '../protocol/awsJson.ts';
import type { Operation } from './operation.ts';
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
import { createApp } from './apps/createApp.ts';
import { getApp } from './apps/getApp.ts';
import { updateApp } from './apps/updateApp.ts';
import { deleteApp } from './apps/deleteApp.ts';
import { listApps } from './apps/listApps.ts';
import { importAppCatalog } from './apps/importAppCatalog.ts';
import { putAppReplicationConfiguration } from './apps/putAppReplicationConfiguration.ts';
import { getAppReplicationConfiguration } from './apps/getAppReplicationConfiguration.ts';
import { deleteAppReplicationConfiguration } from './apps/deleteAppReplicationConfiguration.ts';
import { startAppReplication } from './apps/startAppReplication.ts';
import { startOnDemandAppReplication } from './apps/startOnDemandAppReplication.ts';
import { stopAppReplication } from './apps/stopAppReplication.ts';
import { putAppLaunchConfiguration } from './apps/putAppLaunchConfiguration.ts';
import { getAppLaunchConfiguration } from './apps/getAppLaunchConfiguration.ts';
import { deleteAppLaunchConfiguration } from './apps/deleteAppLaunchConfiguration.ts';
import { launchApp } from './apps/launchApp.ts';
import { terminateApp } from './apps/terminateApp.ts';
import { generateTemplate } from './apps/generateTemplate.ts';
import { generateChangeSet } from './apps/generateChangeSet.ts';
import { putAppValidationConfiguration } from './apps/putAppValidationConfiguration.ts';
import { getAppValidationConfiguration } from './apps/getAppValidationConfiguration.ts';
import { deleteAppValidationConfiguration } from './apps/deleteAppValidationConfiguration.ts';
import { getAppValidationOutput } from './apps/getAppValidationOutput.ts';
import { notifyAppValidationOutput } from './apps/notifyAppValidationOutput.ts';

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
  // Applications (spec §7): src/operations/apps, rules in src/core/apps.
  CreateApp: Operation<sms.CreateAppRequest, sms.CreateAppResponse>;
  GetApp: Operation<sms.GetAppRequest, sms.GetAppResponse>;
  UpdateApp: Operation<sms.UpdateAppRequest, sms.UpdateAppResponse>;
  DeleteApp: Operation<sms.DeleteAppRequest, sms.DeleteAppResponse>;
  ListApps: Operation<sms.ListAppsRequest, sms.ListAppsResponse>;
  ImportAppCatalog: Operation<sms.ImportAppCatalogRequest, sms.ImportAppCatalogResponse>;
  PutAppReplicationConfiguration: Operation<sms.PutAppReplicationConfigurationRequest, sms.PutAppReplicationConfigurationResponse>;
  GetAppReplicationConfiguration: Operation<sms.GetAppReplicationConfigurationRequest, sms.GetAppReplicationConfigurationResponse>;
  DeleteAppReplicationConfiguration: Operation<sms.DeleteAppReplicationConfigurationRequest, sms.DeleteAppReplicationConfigurationResponse>;
  StartAppReplication: Operation<sms.StartAppReplicationRequest, sms.StartAppReplicationResponse>;
  StartOnDemandAppReplication: Operation<sms.StartOnDemandAppReplicationRequest, sms.StartOnDemandAppReplicationResponse>;
  StopAppReplication: Operation<sms.StopAppReplicationRequest, sms.StopAppReplicationResponse>;
  PutAppLaunchConfiguration: Operation<sms.PutAppLaunchConfigurationRequest, sms.PutAppLaunchConfigurationResponse>;
  GetAppLaunchConfiguration: Operation<sms.GetAppLaunchConfigurationRequest, sms.GetAppLaunchConfigurationResponse>;
  DeleteAppLaunchConfiguration: Operation<sms.DeleteAppLaunchConfigurationRequest, sms.DeleteAppLaunchConfigurationResponse>;
  LaunchApp: Operation<sms.LaunchAppRequest, sms.LaunchAppResponse>;
  TerminateApp: Operation<sms.TerminateAppRequest, sms.TerminateAppResponse>;
  GenerateTemplate: Operation<sms.GenerateTemplateRequest, sms.GenerateTemplateResponse>;
  GenerateChangeSet: Operation<sms.GenerateChangeSetRequest, sms.GenerateChangeSetResponse>;
  PutAppValidationConfiguration: Operation<sms.PutAppValidationConfigurationRequest, sms.PutAppValidationConfigurationResponse>;
  GetAppValidationConfiguration: Operation<sms.GetAppValidationConfigurationRequest, sms.GetAppValidationConfigurationResponse>;
  DeleteAppValidationConfiguration: Operation<sms.DeleteAppValidationConfigurationRequest, sms.DeleteAppValidationConfigurationResponse>;
  GetAppValidationOutput: Operation<sms.GetAppValidationOutputRequest, sms.GetAppValidationOutputResponse>;
  NotifyAppValidationOutput: Operation<sms.NotifyAppValidationOutputRequest, sms.NotifyAppValidationOutputResponse>;
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
  CreateApp: createApp,
  GetApp: getApp,
  UpdateApp: updateApp,
  DeleteApp: deleteApp,
  ListApps: listApps,
  ImportAppCatalog: importAppCatalog,
  PutAppReplicationConfiguration: putAppReplicationConfiguration,
  GetAppReplicationConfiguration: getAppReplicationConfiguration,
  DeleteAppReplicationConfiguration: deleteAppReplicationConfiguration,
  StartAppReplication: startAppReplication,
  StartOnDemandAppReplication: startOnDemandAppReplication,
  StopAppReplication: stopAppReplication,
  PutAppLaunchConfiguration: putAppLaunchConfiguration,
  GetAppLaunchConfiguration: getAppLaunchConfiguration,
  DeleteAppLaunchConfiguration: deleteAppLaunchConfiguration,
  LaunchApp: launchApp,
  TerminateApp: terminateApp,
  GenerateTemplate: generateTemplate,
  GenerateChangeSet: generateChangeSet,
  PutAppValidationConfiguration: putAppValidationConfiguration,
  GetAppValidationConfiguration: getAppValidationConfiguration,
  DeleteAppValidationConfiguration: deleteAppValidationConfiguration,
  GetAppValidationOutput: getAppValidationOutput,
  NotifyAppValidationOutput: notifyAppValidationOutput,
};

/**
 * Operations routed and authenticated but refused with NotImplementedException (a 4xx, so clients do not retry).
 * Every operation of the model is implemented now; the path stays for operations a future model adds.
 */
export const NOT_IMPLEMENTED_OPERATIONS: readonly string[] = [];

export function findOperation(name: string): Operation<unknown, unknown> | undefined {
  return Object.hasOwn(operations, name) ? (operations[name as keyof OperationTable] as Operation<unknown, unknown>) : undefined;
}
