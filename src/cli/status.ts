/**
 * `ferry status`: one screen on the state of an account and region — connectors, the server catalog, replication
 * jobs (counts by state and a compact table) and the active runs with their live progress. It reads everything
 * through the API (every page of every list), so it works from any machine that can reach the service.
 */
import type { Command } from 'commander';
import {
  GetConnectorsCommand,
  GetReplicationJobsCommand,
  GetReplicationRunsCommand,
  GetServersCommand,
  type Connector,
  type ReplicationJob,
  type ReplicationRun,
} from '@aws-sdk/client-sms';
import { FerryApiError } from '../client/ferryClient.ts';
import { mapConcurrently } from '../lib/concurrency.ts';
import type { RunProgress } from '../api/ferryWire.ts';
import { addApiOptions, allPages, connect, reportError, usageErrorsExit2, type Api, type ApiFlags } from './apiClient.ts';
import { formatAge, formatBytes, formatDuration, formatRate, formatTime, formatUntil, parsePercent, table } from './format.ts';

const PAGE = 100;
/** The order job states are listed in. */
const JOB_STATES = ['ACTIVE', 'PENDING', 'PAUSED_ON_FAILURE', 'FAILING', 'FAILED', 'COMPLETED', 'DELETING', 'DELETED'] as const;

export interface StatusReport {
  endpoint: string;
  region: string;
  generatedAt: Date;
  connectors: {
    connectorId?: string;
    status?: string;
    vmManagerType?: string;
    vmManagerName?: string;
    vmManagerId?: string;
    version?: string;
    ipAddress?: string;
    /** When the connector registered (GetConnectors' associatedOn). */
    associatedOn?: Date;
    /** When it last sent a heartbeat (Ferry's ListConnectorHeartbeats; absent where the service lacks it). */
    lastHeartbeatAt?: Date;
  }[];
  catalog: { status: string; servers: number; lastModifiedOn?: Date };
  jobs: {
    total: number;
    byState: Record<string, number>;
    list: {
      replicationJobId: string;
      serverId?: string;
      serverName?: string;
      state?: string;
      statusMessage?: string;
      frequencyHours?: number;
      runOnce: boolean;
      nextReplicationRunStartTime?: Date;
      latestAmiId?: string;
      /** The newest run that has started (or ended without starting: MISSED): pending runs are `next…`. */
      lastRun?: { replicationRunId?: string; type?: string; state?: string; statusMessage?: string; completedTime?: Date };
    }[];
  };
  /** Each ACTIVE run, with its live progress (Ferry's GetRunProgress) where the service reports it. */
  activeRuns: (Pick<RunProgress<Date>, 'replicationRunId' | 'replicationJobId'> &
    Partial<Omit<RunProgress<Date>, 'replicationRunId' | 'replicationJobId' | 'state'>> & { serverName?: string; type?: string })[];
}

export async function allRuns(api: Api, replicationJobId: string): Promise<{ job: ReplicationJob | undefined; runs: ReplicationRun[] }> {
  const pages = await allPages((nextToken) => api.sms.send(new GetReplicationRunsCommand({ replicationJobId, nextToken, maxResults: PAGE })));
  return { job: pages[0]?.replicationJob, runs: pages.flatMap((p) => p.replicationRunList ?? []) };
}

/**
 * Connectors' last heartbeat times from Ferry's own ListConnectorHeartbeats (the SMS Connector shape has no member
 * for it). A service without that operation answers UnknownOperationException: then there are none to show.
 */
async function lastHeartbeats(api: Api): Promise<Map<string, Date>> {
  try {
    const answer = await api.ferry.call<{ connectors?: { connectorId: string; lastHeartbeatAt?: number }[] }>('ListConnectorHeartbeats');
    return new Map(
      (answer.connectors ?? []).filter((c) => typeof c.lastHeartbeatAt === 'number').map((c) => [c.connectorId, new Date(c.lastHeartbeatAt! * 1000)]),
    );
  } catch (error) {
    if (error instanceof FerryApiError && error.code === 'UnknownOperationException') return new Map();
    throw error;
  }
}

export async function collectStatus(api: Api): Promise<StatusReport> {
  const [connectorPages, serverPages, jobPages] = await Promise.all([
    allPages((nextToken) => api.sms.send(new GetConnectorsCommand({ nextToken, maxResults: PAGE }))),
    allPages((nextToken) => api.sms.send(new GetServersCommand({ nextToken, maxResults: PAGE }))),
    allPages((nextToken) => api.sms.send(new GetReplicationJobsCommand({ nextToken, maxResults: PAGE }))),
  ]);
  const connectors: Connector[] = connectorPages.flatMap((p) => p.connectorList ?? []);
  const heartbeats = connectors.length > 0 ? await lastHeartbeats(api) : new Map<string, Date>();
  const jobs: ReplicationJob[] = jobPages.flatMap((p) => p.replicationJobList ?? []);
  const servers = serverPages.flatMap((p) => p.serverList ?? []).length;
  const firstServerPage = serverPages[0];

  // A job's run list from GetReplicationJobs holds only its newest run, which for a running job is usually the
  // next PENDING one: the ACTIVE run, and the last one that ran, need the job's runs (only ACTIVE jobs run).
  const runsByJob = new Map<string, ReplicationRun[]>();
  await mapConcurrently(
    jobs.filter((j) => j.state === 'ACTIVE' && j.replicationJobId),
    8,
    async (job) => runsByJob.set(job.replicationJobId!, (await allRuns(api, job.replicationJobId!)).runs),
  );

  const byState: Record<string, number> = {};
  for (const job of jobs) byState[job.state ?? 'UNKNOWN'] = (byState[job.state ?? 'UNKNOWN'] ?? 0) + 1;

  const activeRuns: StatusReport['activeRuns'] = [];
  const list: StatusReport['jobs']['list'] = jobs.map((job) => {
    const runs = runsByJob.get(job.replicationJobId ?? '') ?? job.replicationRunList ?? [];
    const last = runs.find((r) => r.state !== 'PENDING');
    for (const run of runs.filter((r) => r.state === 'ACTIVE')) {
      activeRuns.push({
        replicationRunId: run.replicationRunId!,
        replicationJobId: job.replicationJobId!,
        serverName: job.vmServer?.vmName,
        type: run.type,
        stage: run.stageDetails?.stage,
        stageProgress: run.stageDetails?.stageProgress,
      });
    }
    return {
      replicationJobId: job.replicationJobId!,
      serverId: job.serverId,
      serverName: job.vmServer?.vmName,
      state: job.state,
      statusMessage: job.statusMessage,
      frequencyHours: job.frequency,
      runOnce: job.runOnce === true,
      nextReplicationRunStartTime: job.nextReplicationRunStartTime,
      latestAmiId: job.latestAmiId,
      lastRun: last && {
        replicationRunId: last.replicationRunId,
        type: last.type,
        state: last.state,
        statusMessage: last.statusMessage,
        completedTime: last.completedTime,
      },
    };
  });

  await mapConcurrently(activeRuns, 8, async (run) => {
    const progress = await api.ferry.getRunProgress(run.replicationRunId);
    if (progress.state !== 'ACTIVE') return;
    run.stage = progress.stage ?? run.stage;
    run.stageProgress = progress.stageProgress ?? run.stageProgress;
    run.bytesDone = progress.bytesDone;
    run.bytesTotal = progress.bytesTotal;
    run.bytesPerSecond = progress.bytesPerSecond;
    run.etaSeconds = progress.etaSeconds;
    run.updatedAt = new Date(progress.updatedAt * 1000);
  });

  return {
    endpoint: api.endpoint,
    region: api.region,
    generatedAt: new Date(),
    connectors: connectors.map((c) => ({
      connectorId: c.connectorId,
      status: c.status,
      vmManagerType: c.vmManagerType,
      vmManagerName: c.vmManagerName,
      vmManagerId: c.vmManagerId,
      version: c.version,
      ipAddress: c.ipAddress,
      associatedOn: c.associatedOn,
      lastHeartbeatAt: heartbeats.get(c.connectorId ?? ''),
    })),
    catalog: { status: firstServerPage?.serverCatalogStatus ?? 'NOT_IMPORTED', servers, lastModifiedOn: firstServerPage?.lastModifiedOn },
    jobs: { total: jobs.length, byState, list },
    activeRuns,
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function stateCounts(byState: Record<string, number>): string {
  const known = JOB_STATES.filter((s) => byState[s]).map((s) => `${s} ${byState[s]}`);
  const other = Object.keys(byState)
    .filter((s) => !(JOB_STATES as readonly string[]).includes(s))
    .map((s) => `${s} ${byState[s]}`);
  return [...known, ...other].join(', ');
}

export function renderStatus(report: StatusReport, options: { all?: boolean } = {}): string {
  const now = report.generatedAt.getTime();
  const out: string[] = [];
  out.push(`Ferry at ${report.endpoint}, region ${report.region} (${formatTime(report.generatedAt)})\n`);

  out.push(`\nConnectors: ${report.connectors.length === 0 ? 'none (issue one with `ferry connectors register`)' : report.connectors.length}\n`);
  if (report.connectors.length > 0) {
    out.push(
      table(
        ['CONNECTOR', 'STATUS', 'VM MANAGER', 'VERSION', 'IP', 'LAST HEARTBEAT', 'ASSOCIATED'],
        report.connectors.map((c) => [
          c.connectorId ?? '-',
          c.status ?? '-',
          [c.vmManagerType, c.vmManagerName].filter(Boolean).join(' ') || '-',
          c.version ?? '-',
          c.ipAddress ?? '-',
          c.lastHeartbeatAt ? formatAge(c.lastHeartbeatAt, now) : '-',
          c.associatedOn ? formatAge(c.associatedOn, now) : '-',
        ]),
      ),
    );
  }

  const catalog = report.catalog;
  out.push(
    `\nServer catalog: ${catalog.status}, ${plural(catalog.servers, 'server')}` +
      (catalog.lastModifiedOn ? `, last modified ${formatAge(catalog.lastModifiedOn, now)}` : '') +
      '\n',
  );

  const jobs = report.jobs;
  out.push(`\nReplication jobs: ${jobs.total === 0 ? 'none' : `${jobs.total} (${stateCounts(jobs.byState)})`}\n`);
  const shown = options.all ? jobs.list : jobs.list.filter((j) => j.state !== 'DELETED');
  if (shown.length > 0) {
    out.push(
      table(
        ['JOB', 'SERVER', 'STATE', 'NEXT RUN', 'LATEST AMI', 'LAST RUN'],
        shown.map((j) => [
          j.replicationJobId,
          j.serverName ?? j.serverId ?? '-',
          j.state ?? '-',
          formatUntil(j.nextReplicationRunStartTime, now),
          j.latestAmiId ?? '-',
          j.lastRun?.state ?? '-',
        ]),
      ),
    );
  }
  const hidden = jobs.list.length - shown.length;
  if (hidden > 0) out.push(`(${plural(hidden, 'deleted job')} not shown: --all)\n`);

  out.push(`\nActive runs: ${report.activeRuns.length === 0 ? 'none' : report.activeRuns.length}\n`);
  if (report.activeRuns.length > 0) {
    out.push(
      table(
        ['RUN', 'JOB', 'SERVER', 'STAGE', 'PROGRESS', 'BYTES', 'RATE', 'ETA'],
        report.activeRuns.map((r) => {
          const percent = parsePercent(r.stageProgress);
          return [
            r.replicationRunId,
            r.replicationJobId,
            r.serverName ?? '-',
            r.stage ?? 'Starting',
            percent === undefined ? '-' : `${Math.floor(percent)}%`,
            r.bytesTotal !== undefined ? `${formatBytes(r.bytesDone ?? 0)} of ${formatBytes(r.bytesTotal)}` : '-',
            r.bytesPerSecond ? formatRate(r.bytesPerSecond) : '-',
            r.etaSeconds !== undefined ? formatDuration(r.etaSeconds) : '-',
          ];
        }),
      ),
    );
  }
  return out.join('');
}

export function addStatusCommand(program: Command): void {
  const status = program
    .command('status')
    .description('one screen: connectors, the server catalog, replication jobs by state, and active runs with their progress');
  addApiOptions(status)
    .option('--all', 'also list DELETED jobs in the job table')
    .option('--json', 'print JSON (every job, with exact times)')
    .addHelpText(
      'after',
      `
Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else FERRY_ROOT_ACCESS_KEY_ID/FERRY_ROOT_SECRET_ACCESS_KEY,
else <data-dir>/root-credentials.json (the root account's keys, on the service's host).

Connectors: STATUS is HEALTHY while the last heartbeat is under 90 s old; LAST HEARTBEAT comes from
Ferry's ListConnectorHeartbeats (the SMS shape has none); ASSOCIATED is when the connector registered.
Jobs: NEXT RUN is the next scheduled run; LAST RUN is the state of the newest run that is not PENDING.

Exit status: 0; 1 with one line on stderr when Ferry cannot be reached or refuses the request; 2 for
a usage error.`,
    )
    .action(async (flags: ApiFlags & { all?: boolean; json?: boolean }) => {
      let api: Api | undefined;
      try {
        api = connect(flags);
        const report = await collectStatus(api);
        process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report, { all: flags.all }));
      } catch (error) {
        reportError(error, api);
      } finally {
        api?.close();
      }
    });
  usageErrorsExit2(status);
}
