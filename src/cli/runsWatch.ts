/**
 * `ferry runs watch JOB_ID`: follows one replication run of a job until it ends — a progress bar on a terminal
 * (stage, percent, bytes, throughput, ETA), plain lines otherwise (one per change of stage or 10 % step).
 *
 * Which run: the job's ACTIVE run; else its due PENDING run (on-demand first, then the earliest), waiting for a
 * connector to start it; with --next, else its next scheduled PENDING run. While the watched run is still
 * PENDING, another run of the job that becomes ACTIVE first is followed instead; a watched PENDING run that is
 * MISSED hands over to the next candidate the same way.
 *
 * Ends: COMPLETED → exit 0 (prints the AMI); FAILED, cancelled (DELETED) or MISSED with nothing to follow →
 * exit 1 with the run's statusMessage on stderr; no run to watch → says so, exit 0; unknown job, wrong
 * credentials or Ferry unreachable at the start → one line on stderr, exit 1. While watching, the connection may
 * drop for up to 30 s (a restart of the service) before the watch gives up.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { ReplicationJob, ReplicationRun } from '@aws-sdk/client-sms';
import { CliError, usageErrorsExit2, type Api } from './apiClient.ts';
import { addWatchOptions, drawsInPlace, reconnectingCalls, runWatchCommand, type WatchFlags } from './watching.ts';
import { allRuns } from './status.ts';
import { formatAge, formatBytes, formatDuration, formatRate, formatTime, formatUntil, oneLine, parsePercent } from './format.ts';

/** A scheduled time this close ahead still counts as due (clients send times rounded to the second). */
const DUE_SLACK_MS = 5000;
/** How long the watch keeps polling through connection errors once it has started. */

export interface RunSnapshot {
  replicationRunId: string;
  type?: string;
  state: string;
  scheduledStartTime?: Date;
  stage?: string;
  /** Progress within the stage, 0–100. */
  percent?: number;
  bytesDone?: number;
  bytesTotal?: number;
  bytesPerSecond?: number;
  etaSeconds?: number;
  statusMessage?: string;
  amiId?: string;
}

/** How a watch shows its run: bars on a terminal, lines elsewhere. */
interface Display {
  /** A new run is being watched. */
  begin(header: string, run: RunSnapshot): void;
  update(run: RunSnapshot): void;
  /** The run ended (COMPLETED, FAILED, …) or was left (MISSED): `note` is what to show beside it. */
  end(run: RunSnapshot, note: string): void;
  /** A notice between updates (reconnecting, …). */
  notice(text: string): void;
  close(): void;
}

function stageOf(run: RunSnapshot): string {
  if (run.state === 'PENDING') return 'Pending';
  if (run.state !== 'ACTIVE') return run.state;
  return run.stage ?? 'Starting';
}

function details(run: RunSnapshot): string {
  const parts: string[] = [];
  if (run.state === 'PENDING') {
    const due = run.scheduledStartTime === undefined || run.scheduledStartTime.getTime() <= Date.now() + DUE_SLACK_MS;
    parts.push(due ? 'waiting for a connector to start it' : `due at ${formatTime(run.scheduledStartTime)} (${formatUntil(run.scheduledStartTime)})`);
  }
  if (run.bytesTotal !== undefined) parts.push(`${formatBytes(run.bytesDone ?? 0)} of ${formatBytes(run.bytesTotal)}`);
  if (run.bytesPerSecond) parts.push(formatRate(run.bytesPerSecond));
  if (run.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(run.etaSeconds)}`);
  return parts.join(', ');
}

/** The line that ends a run's display: its AMI when COMPLETED, why when MISSED (failures go to stderr). */
function outcomeLine(run: RunSnapshot, note: string): string | undefined {
  if (run.state === 'COMPLETED' || run.state === 'MISSED') return `${run.replicationRunId} ${run.state}: ${note}\n`;
  return undefined;
}

/** Plain lines: a line when the stage changes or the percentage enters another tenth, never one per poll. */
export class PlainDisplay implements Display {
  readonly #write: (text: string) => void;
  #lastKey = '';
  constructor(write: (text: string) => void = (text) => void process.stdout.write(text)) {
    this.#write = write;
  }
  begin(header: string): void {
    this.#lastKey = '';
    this.#write(`${header}\n`);
  }
  update(run: RunSnapshot): void {
    const stage = stageOf(run);
    const more = details(run);
    const pendingKey = run.state === 'PENDING' ? more.startsWith('waiting') : '';
    const key = `${run.replicationRunId} ${stage} ${run.percent === undefined ? '-' : Math.floor(run.percent / 10)} ${pendingKey}`;
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    const percent = run.state === 'ACTIVE' && run.percent !== undefined ? ` ${Math.floor(run.percent)}%` : '';
    const text = run.state === 'PENDING' ? `${run.replicationRunId} PENDING: ${more}` : `${run.replicationRunId} ${stage}${percent}${more ? ` (${more})` : ''}`;
    this.#write(`${text}\n`);
  }
  end(run: RunSnapshot, note: string): void {
    const line = outcomeLine(run, note);
    if (line) this.#write(line);
  }
  notice(text: string): void {
    this.#write(`${text}\n`);
  }
  close(): void {}
}

/**
 * cli-progress bars redrawn in place, one per watched run: `RUN STAGE [bar] PCT% details`. The bar is as wide as
 * the terminal allows (10–30 cells); when the run ends the bar is left as it finished and a line follows.
 */
export class BarDisplay implements Display {
  readonly #stream: NodeJS.WriteStream;
  #multi: MultiBar | undefined;
  #bar: SingleBar | undefined;
  constructor(stream: NodeJS.WriteStream = process.stdout) {
    this.#stream = stream;
  }
  #ensure(): MultiBar {
    const columns = this.#stream.columns || 80;
    this.#multi ??= new MultiBar(
      {
        stream: this.#stream,
        format: '{run} {stage} |{bar}| {percentage}% {details}',
        barsize: Math.max(10, Math.min(30, columns - 70)),
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        gracefulExit: false,
        autopadding: true,
        fps: 10,
      },
      Presets.shades_classic,
    );
    return this.#multi;
  }
  begin(header: string, run: RunSnapshot): void {
    if (this.#multi) this.#multi.log(`${header}\n`);
    else this.#stream.write(`${header}\n`);
    this.#bar = this.#ensure().create(100, 0, this.#payload(run));
  }
  #payload(run: RunSnapshot, note?: string) {
    return { run: run.replicationRunId, stage: stageOf(run), details: note ?? details(run) };
  }
  update(run: RunSnapshot): void {
    this.#bar?.update(Math.floor(run.percent ?? 0), this.#payload(run));
  }
  end(run: RunSnapshot, note: string): void {
    if (this.#bar) {
      const value = run.state === 'COMPLETED' ? 100 : Math.round(run.percent ?? this.#bar.getProgress() * 100);
      this.#bar.update(value, this.#payload(run, ''));
      this.#bar = undefined;
    }
    // Final render; the note goes on a line of its own, whole whatever the terminal's width.
    this.close();
    const line = outcomeLine(run, note);
    if (line) this.#stream.write(line);
  }
  notice(text: string): void {
    if (this.#multi) this.#multi.log(`${text}\n`);
    else this.#stream.write(`${text}\n`);
  }
  close(): void {
    this.#multi?.stop();
    this.#multi = undefined;
  }
}

function snapshotOf(run: ReplicationRun): RunSnapshot {
  return {
    replicationRunId: run.replicationRunId!,
    type: run.type,
    state: run.state ?? 'UNKNOWN',
    scheduledStartTime: run.scheduledStartTime,
    stage: run.stageDetails?.stage,
    percent: parsePercent(run.stageDetails?.stageProgress),
    statusMessage: run.statusMessage,
    amiId: run.amiId,
  };
}

/** The run to watch among `runs` (see the file comment), or undefined. */
export function pickRun(runs: readonly ReplicationRun[], now: number, next: boolean): ReplicationRun | undefined {
  const active = runs.find((r) => r.state === 'ACTIVE');
  if (active) return active;
  const pending = runs
    .filter((r) => r.state === 'PENDING')
    .sort(
      (a, b) =>
        (a.type === 'ON_DEMAND' ? 0 : 1) - (b.type === 'ON_DEMAND' ? 0 : 1) ||
        (a.scheduledStartTime?.getTime() ?? 0) - (b.scheduledStartTime?.getTime() ?? 0),
    );
  const due = pending.find((r) => (r.scheduledStartTime?.getTime() ?? 0) <= now + DUE_SLACK_MS);
  if (due) return due;
  if (next) return [...pending].sort((a, b) => (a.scheduledStartTime?.getTime() ?? 0) - (b.scheduledStartTime?.getTime() ?? 0))[0];
  return undefined;
}

export interface WatchOptions {
  intervalMs: number;
  next: boolean;
  display: Display;
  /** Where a run's failure is reported (stderr, as `ferry: …`). */
  fail: (line: string) => void;
}

/** Watches `replicationJobId`; resolves with the exit code. */
export async function watchJob(api: Api, replicationJobId: string, options: WatchOptions): Promise<number> {
  const { display } = options;
  let target: string | undefined;
  let job: ReplicationJob | undefined;
  const call = reconnectingCalls(api, { intervalMs: options.intervalMs, notice: (text) => display.notice(text) });

  const describeJob = () => `job ${replicationJobId}${job?.vmServer?.vmName ? ` (${job.vmServer.vmName})` : ''}`;

  for (;;) {
    const listed = await call(() => allRuns(api, replicationJobId));
    job = listed.job ?? job;
    const runs = listed.runs;
    let run = target === undefined ? undefined : runs.find((r) => r.replicationRunId === target);

    // Choose (or re-choose) the run to follow.
    const overtaken = run?.state === 'PENDING' && runs.some((r) => r.state === 'ACTIVE' && r.replicationRunId !== target);
    if (target === undefined || overtaken || run?.state === 'MISSED') {
      const picked = pickRun(runs, Date.now(), options.next);
      if (run?.state === 'MISSED') {
        display.end(snapshotOf(run), oneLine(run.statusMessage ?? 'it was not started in time'));
        if (!picked) {
          options.fail(`run ${run.replicationRunId} of ${describeJob()} was MISSED: ${oneLine(run.statusMessage ?? 'it was not started in time')}`);
          return 1;
        }
      }
      if (!picked) {
        const next = job?.nextReplicationRunStartTime;
        const state = job?.state ? ` is ${job.state} and` : '';
        const nextText = next ? `; its next run is due at ${formatTime(next)} (${formatUntil(next)}): --next waits for it` : '';
        const last = runs.find((r) => r.state !== 'PENDING');
        const lastText = last
          ? `; its last run ${last.replicationRunId} ${last.state}${last.completedTime ? ` ${formatAge(last.completedTime)}` : ''}${last.amiId ? ` (${last.amiId})` : ''}`
          : '';
        display.notice(`Nothing to watch: ${describeJob()}${state} has no active or due run${lastText}${nextText}.`);
        return 0;
      }
      if (picked.replicationRunId !== target) {
        if (run && run.state === 'PENDING') display.end(snapshotOf(run), 'another run started first');
        target = picked.replicationRunId!;
        display.begin(`Watching run ${target}${picked.type ? ` (${picked.type})` : ''} of ${describeJob()}`, snapshotOf(picked));
      }
      run = picked;
    }
    if (!run) throw new CliError(`run ${target} is no longer listed for job ${replicationJobId}.`);

    const snapshot = snapshotOf(run);
    if (run.state === 'ACTIVE') {
      const progress = await call(() => api.ferry.getRunProgress(target!));
      if (progress.state === 'ACTIVE') {
        snapshot.stage = progress.stage ?? snapshot.stage;
        snapshot.percent = parsePercent(progress.stageProgress) ?? snapshot.percent;
        snapshot.bytesDone = progress.bytesDone;
        snapshot.bytesTotal = progress.bytesTotal;
        snapshot.bytesPerSecond = progress.bytesPerSecond;
        snapshot.etaSeconds = progress.etaSeconds;
        if (snapshot.percent === undefined && progress.bytesTotal) snapshot.percent = ((progress.bytesDone ?? 0) / progress.bytesTotal) * 100;
        display.update(snapshot);
      }
      // Otherwise it ended between the two calls: the next listing says how.
    } else if (run.state === 'PENDING') {
      display.update(snapshot);
    } else if (run.state === 'COMPLETED') {
      display.end(snapshot, snapshot.amiId ?? 'done');
      return 0;
    } else {
      const why = oneLine(run.statusMessage ?? (run.state === 'DELETED' ? 'the run was cancelled' : 'no reason given'));
      display.end(snapshot, why);
      options.fail(`run ${target} of ${describeJob()} ${run.state}: ${why}`);
      return 1;
    }
    await delay(options.intervalMs);
  }
}

export function addRunsCommands(program: Command): void {
  const runs = program.command('runs').description('follow replication runs');
  usageErrorsExit2(runs);
  const watch = runs
    .command('watch')
    .description('show the progress of a job\'s current run until it ends (a bar on a terminal, plain lines otherwise)')
    .argument('<job-id>', 'replication job id (sms-job-…)');
  addWatchOptions(watch, 1)
    .option('--next', 'when no run is active or due, wait for the next scheduled run to start and watch it')
    .addHelpText(
      'after',
      `
Which run: the job's ACTIVE run; else its due PENDING run (on-demand first), waiting for a connector to
start it; with --next, else its next scheduled run. A PENDING run overtaken by another run of the job,
or MISSED, hands over to the run that starts instead.

Output: on a terminal, a bar per run (stage, percent of the stage, bytes, throughput, ETA); otherwise
a line when the run starts, changes stage or passes another 10 % of a stage, and one when it ends.

Ends and exit status:
  0  the run COMPLETED (its AMI is printed), or the job has no active or due run (said on stdout)
  1  the run FAILED, was cancelled (job deleted) or MISSED: its status message on stderr
  1  unknown job, refused credentials, or Ferry unreachable: one line on stderr (once watching,
     a lost connection is retried for up to 30 s)
  2  usage error
  130  interrupted (Ctrl-C)`,
    )
    .action(async (replicationJobId: string, flags: WatchFlags & { next?: boolean }) => {
      const display: Display = drawsInPlace(flags) ? new BarDisplay() : new PlainDisplay();
      await runWatchCommand(
        flags,
        (api) =>
        watchJob(api, replicationJobId, {
          intervalMs: Math.round(flags.interval * 1000),
          next: flags.next === true,
          display,
          fail: (line) => {
            display.close();
            process.stderr.write(`ferry: ${line}\n`);
          },
        }),
        () => display.close(),
      );
    });
  usageErrorsExit2(watch);
}
