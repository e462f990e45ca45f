/**
 * The App operations the console reads, and what one app's pages poll: the app, each server's replication job with
 * its latest run (and the active run's byte progress), and the instances of its launches.
 */
import {
  GetAppCommand,
  GetReplicationRunsCommand,
  ListAppsCommand,
  type AppSummary,
  type GetAppResponse,
  type ReplicationJob,
  type ReplicationRun,
  type Server,
  type SMSClient,
} from '@aws-sdk/client-sms';
import type { FerryApi, FerryInstance, RunProgress } from './ferry.ts';
import { allPages } from './sms.ts';

export function listApps(sms: SMSClient): Promise<AppSummary[]> {
  return allPages(async (nextToken) => {
    const out = await sms.send(new ListAppsCommand({ nextToken, maxResults: 100 }));
    return { items: out.apps ?? [], nextToken: out.nextToken };
  });
}

export async function getApp(sms: SMSClient, appId: string): Promise<GetAppResponse> {
  return sms.send(new GetAppCommand({ appId }));
}

/** One server of an app, with what is happening to it now. */
export interface AppServerStatus {
  server: Server;
  groupName: string;
  serverGroupId: string;
  job?: ReplicationJob;
  /** Why the job could not be read (the row shows it instead of the job). */
  jobError?: unknown;
  /** The job's run in progress, its latest finished run, and its next due run. */
  activeRun?: ReplicationRun;
  latestRun?: ReplicationRun;
  nextRun?: ReplicationRun;
  /** Live bytes of the job's active run. */
  progress?: RunProgress;
  /** The server's newest instance. */
  instance?: FerryInstance;
}

export interface AppOverview {
  app: GetAppResponse;
  /** Only the app was read (a section other than the overview): no servers' jobs or instances. */
  appOnly?: boolean;
  servers: AppServerStatus[];
  instances: FerryInstance[];
  /** Why the instances could not be listed (e.g. a Ferry without the launch subsystem). */
  instancesError?: unknown;
}

/** How many of a job's newest runs are read: enough to find the active, the latest finished and the next one. */
const RECENT_RUNS = 5;

/** App statuses that move on their own: the page polls faster while one of them shows. */
const MOVING = /(PENDING|IN_PROGRESS|ING)$/;

export function isMoving(summary: AppSummary | undefined): boolean {
  return [summary?.status, summary?.replicationStatus, summary?.launchStatus].some((s) => s !== undefined && MOVING.test(s));
}

const newestFirst = (a: FerryInstance, b: FerryInstance) => b.launchedAt - a.launchedAt;

export async function loadAppOverview(sms: SMSClient, ferry: FerryApi, appId: string): Promise<AppOverview> {
  const [app, listed] = await Promise.all([
    getApp(sms, appId),
    ferry.listInstances(appId).then(
      (out) => ({ instances: out.instances, error: undefined }),
      (error: unknown) => ({ instances: [] as FerryInstance[], error }),
    ),
  ]);
  const instances = [...listed.instances].sort(newestFirst);
  const servers: AppServerStatus[] = (app.serverGroups ?? []).flatMap((group) =>
    (group.serverList ?? []).map((server) => ({
      server,
      groupName: group.name ?? group.serverGroupId ?? '',
      serverGroupId: group.serverGroupId ?? '',
      instance: instances.find((i) => i.serverId === server.serverId),
    })),
  );
  await Promise.all(
    servers.map(async (row) => {
      const jobId = row.server.replicationJobId;
      if (!jobId) return;
      try {
        // Newest first: the job and its recent runs in one call.
        const out = await sms.send(new GetReplicationRunsCommand({ replicationJobId: jobId, maxResults: RECENT_RUNS }));
        const runs = out.replicationRunList ?? [];
        row.job = out.replicationJob;
        row.activeRun = runs.find((r) => r.state === 'ACTIVE');
        row.latestRun = runs.find((r) => r.state === 'COMPLETED' || r.state === 'FAILED');
        row.nextRun = runs.find((r) => r.state === 'PENDING');
        const active = row.activeRun?.replicationRunId;
        if (active) row.progress = await ferry.getRunProgress(active).catch(() => undefined);
      } catch (error) {
        row.jobError = error;
      }
    }),
  );
  return { app, servers, instances, instancesError: listed.error };
}
