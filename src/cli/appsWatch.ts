/**
 * `ferry apps watch APP_ID`: follows an app's replication and launch until nothing is under way — per server its
 * replication run (stage, progress), its instance (state, boot time, hydration) and validations — from GetApp,
 * GetReplicationRuns, Ferry's GetRunProgress and ListInstances, and GetAppValidationOutput. On a terminal the block
 * is redrawn in place; piped, a line (with the time) is printed whenever one of them changes, like `ferry runs watch`.
 * What is shown and when it ends: appWatchView.ts.
 *
 * Ends: nothing under way → exit 0, or 1 when the app rests in a failed state (REPLICATION_FAILED,
 * PARTIALLY_LAUNCHED, LAUNCH_FAILED, …); with --follow it keeps watching until interrupted. Unknown app, refused
 * credentials or Ferry unreachable at the start → one line on stderr, exit 1; once watching, a lost connection is
 * retried for up to 30 s.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { GetAppCommand, GetAppValidationOutputCommand, GetReplicationRunsCommand, type ReplicationRun } from '@aws-sdk/client-sms';
import { FerryApiError } from '../client/ferryClient.ts';
import { usageErrorsExit2, type Api } from './apiClient.ts';
import { addWatchOptions, drawsInPlace, reconnectingCalls, runWatchCommand, type WatchFlags } from './watching.ts';
import { parsePercent } from './format.ts';
import { exitStatus, underWay, viewLines, type AppView, type ServerView } from './appWatchView.ts';


/** The run worth showing: the active one, else the latest that ended, else the next pending. */
function currentRun(runs: readonly ReplicationRun[]): ReplicationRun | undefined {
  const time = (r: ReplicationRun) => (r.completedTime ?? r.scheduledStartTime)?.getTime() ?? 0;
  return (
    runs.find((r) => r.state === 'ACTIVE') ??
    [...runs].filter((r) => r.state !== 'PENDING').sort((a, b) => time(b) - time(a))[0] ??
    [...runs].sort((a, b) => time(a) - time(b))[0]
  );
}

/** One snapshot of the app through the API. */
export async function fetchAppView(api: Api, appId: string): Promise<AppView> {
  const app = await api.sms.send(new GetAppCommand({ appId }));
  const summary = app.appSummary!;
  const servers: ServerView[] = (app.serverGroups ?? []).flatMap((g) =>
    (g.serverList ?? []).map((s) => ({
      serverId: s.serverId!,
      ...(s.vmServer?.vmName ? { vmName: s.vmServer.vmName } : {}),
      group: g.name ?? g.serverGroupId ?? '-',
      ...(s.replicationJobId ? { replicationJobId: s.replicationJobId } : {}),
    })),
  );
  await Promise.all(
    servers.map(async (server) => {
      if (!server.replicationJobId) return;
      const runs = await api.sms.send(new GetReplicationRunsCommand({ replicationJobId: server.replicationJobId, maxResults: 20 })).then(
        (answer) => answer.replicationRunList ?? [],
        () => [], // the job went away between the two calls (StopAppReplication)
      );
      const run = currentRun(runs);
      if (!run) return;
      server.run = { replicationRunId: run.replicationRunId!, state: run.state ?? 'UNKNOWN', ...(run.stageDetails?.stage ? { stage: run.stageDetails.stage } : {}) };
      const percent = parsePercent(run.stageDetails?.stageProgress);
      if (percent !== undefined) server.run.percent = percent;
      if (run.state === 'ACTIVE') {
        const progress = await api.ferry.getRunProgress(run.replicationRunId!).catch(() => undefined);
        const fromBytes = progress?.bytesTotal ? ((progress.bytesDone ?? 0) / progress.bytesTotal) * 100 : undefined;
        const value = parsePercent(progress?.stageProgress) ?? fromBytes;
        if (progress?.stage) server.run.stage = progress.stage;
        if (value !== undefined) server.run.percent = value;
      }
    }),
  );
  const listed = await api.ferry.listInstances(appId).catch((error: unknown) => {
    if (error instanceof FerryApiError && (error.code === 'NotImplementedException' || error.code === 'UnknownOperationException')) return { instances: [] };
    throw error;
  });
  for (const instance of [...listed.instances].sort((a, b) => a.launchedAt - b.launchedAt)) {
    const server = servers.find((s) => s.serverId === instance.serverId);
    if (!server) continue;
    server.instance = {
      instanceId: instance.instanceId,
      state: instance.state,
      hydration: instance.hydration,
      ...(instance.stateMessage ? { stateMessage: instance.stateMessage } : {}),
      ...(instance.bootedAt !== undefined ? { bootSeconds: instance.bootedAt - instance.launchedAt } : {}),
      ...(instance.hydratedAt !== undefined ? { hydratedSeconds: instance.hydratedAt - instance.launchedAt } : {}),
    };
  }
  const outputs = (await api.sms.send(new GetAppValidationOutputCommand({ appId }))).validationOutputList ?? [];
  return {
    appId: summary.appId!,
    name: summary.name ?? '',
    status: summary.status ?? 'UNKNOWN',
    replicationStatus: summary.replicationStatus ?? 'UNKNOWN',
    ...(summary.replicationStatusMessage ? { replicationStatusMessage: summary.replicationStatusMessage } : {}),
    launchStatus: summary.launchStatus ?? 'UNKNOWN',
    ...(summary.launchStatusMessage ? { launchStatusMessage: summary.launchStatusMessage } : {}),
    servers,
    validations: outputs.map((o) => ({
      validationId: o.validationId!,
      name: o.name ?? o.validationId!,
      status: o.status ?? 'UNKNOWN',
      ...(o.statusMessage ? { message: o.statusMessage } : {}),
      ...(o.serverValidationOutput?.server?.serverId ? { serverId: o.serverValidationOutput.server.serverId } : {}),
    })),
  };
}

const clock = () => new Date().toTimeString().slice(0, 8);

/** Piped: each line once per change, with the time. */
export class ChangedLines {
  readonly #seen = new Map<string, string>();
  readonly #write: (text: string) => void;
  constructor(write: (text: string) => void) {
    this.#write = write;
  }
  show(view: AppView): void {
    for (const { key, text } of viewLines(view)) {
      if (this.#seen.get(key) === text) continue;
      this.#seen.set(key, text);
      this.#write(`${clock()} ${text}\n`);
    }
  }
  notice(text: string): void {
    this.#write(`${clock()} ${text}\n`);
  }
}

/** On a terminal: the whole block, redrawn in place, each line cut to the terminal's width. */
class Redrawn {
  readonly #stream: NodeJS.WriteStream;
  #height = 0;
  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }
  show(view: AppView): void {
    const width = Math.max(40, this.#stream.columns || 100);
    const lines = [`${clock()}`, ...viewLines(view).map(({ text }) => (text.length > width - 1 ? `${text.slice(0, width - 2)}…` : text))];
    this.#stream.write(`${this.#height > 0 ? `\x1b[${this.#height}A\x1b[J` : ''}${lines.join('\n')}\n`);
    this.#height = lines.length;
  }
  notice(text: string): void {
    this.#stream.write(`${text}\n`);
    this.#height = 0;
  }
}

/** Watches until nothing is under way (or forever with `follow`); resolves with the exit status. */
export async function watchApp(api: Api, appId: string, options: { intervalMs: number; follow: boolean; display: ChangedLines | Redrawn }): Promise<number> {
  const call = reconnectingCalls(api, { intervalMs: options.intervalMs, notice: (text) => options.display.notice(text) });
  for (;;) {
    const view = await call(() => fetchAppView(api, appId));
    options.display.show(view);
    if (!options.follow && !underWay(view)) {
      options.display.notice(`Nothing is under way for ${appId}: replication ${view.replicationStatus}, launch ${view.launchStatus}.`);
      return exitStatus(view);
    }
    await delay(options.intervalMs);
  }
}

export function addAppsWatchCommand(apps: Command): void {
  const watch = apps
    .command('watch')
    .description("follow an app's replication and launch: per server its run, instance, hydration and validations")
    .argument('<app-id>', 'application id (app-…)');
  addWatchOptions(watch, 2)
    .option('--follow', 'keep watching when nothing is under way (until interrupted)')
    .addHelpText(
      'after',
      `
Output: on a terminal, the app's statuses and a line per server and per validation, redrawn in place;
otherwise each of those lines, with the time, whenever it changes.

Ends and exit status (without --follow):
  0  nothing is under way (no replication run, launch, termination, hydration or validation)
  1  nothing is under way and the app rests in a failed state (REPLICATION_FAILED, PARTIALLY_LAUNCHED, …)
  1  unknown app, refused credentials, or Ferry unreachable: one line on stderr
  2  usage error
  130  interrupted (Ctrl-C)`,
    )
    .action(async (appId: string, flags: WatchFlags & { follow?: boolean }) => {
      const display = drawsInPlace(flags) ? new Redrawn(process.stdout) : new ChangedLines((text) => void process.stdout.write(text));
      await runWatchCommand(flags, (api) =>
        watchApp(api, appId, { intervalMs: Math.round(flags.interval * 1000), follow: flags.follow === true, display }),
      );
    });
  usageErrorsExit2(watch);
}
