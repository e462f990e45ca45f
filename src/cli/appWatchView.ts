/**
 * What `ferry apps watch` shows, as pure functions of one snapshot of the app: a line for the app's statuses, one
 * per server (its replication run's stage and progress, its instance's state, boot time and hydration), and one per
 * validation; whether anything is still under way; and the exit status once nothing is. appsWatch.ts fetches the
 * snapshots and prints these lines (each line once per change when piped, the whole block redrawn on a terminal).
 */

export interface ServerView {
  serverId: string;
  vmName?: string;
  group: string;
  replicationJobId?: string;
  run?: { replicationRunId: string; state: string; stage?: string; percent?: number };
  instance?: { instanceId: string; state: string; stateMessage?: string; hydration: string; bootSeconds?: number; hydratedSeconds?: number };
}

export interface ValidationView {
  validationId: string;
  name: string;
  status: string;
  message?: string;
  /** The server of a USERDATA validation; absent for app-level (SSM) ones. */
  serverId?: string;
}

export interface AppView {
  appId: string;
  name: string;
  status: string;
  replicationStatus: string;
  replicationStatusMessage?: string;
  launchStatus: string;
  launchStatusMessage?: string;
  servers: ServerView[];
  validations: ValidationView[];
}

const REPLICATING = new Set(['REPLICATION_PENDING', 'REPLICATION_IN_PROGRESS', 'DELTA_REPLICATION_IN_PROGRESS', 'REPLICATION_STOPPING', 'CONFIGURATION_IN_PROGRESS', 'VALIDATION_IN_PROGRESS']);
const LAUNCHING = new Set(['LAUNCH_PENDING', 'LAUNCH_IN_PROGRESS', 'DELTA_LAUNCH_IN_PROGRESS', 'TERMINATE_IN_PROGRESS']);
const FAILED = new Set(['REPLICATION_FAILED', 'PARTIALLY_REPLICATED', 'DELTA_REPLICATION_FAILED', 'REPLICATION_STOP_FAILED', 'LAUNCH_FAILED', 'PARTIALLY_LAUNCHED', 'DELTA_LAUNCH_FAILED', 'TERMINATE_FAILED', 'DELETE_FAILED']);
const LIVE_INSTANCE = new Set(['pending', 'starting', 'booting', 'running', 'terminating']);

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const cut = (text: string, max = 160) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** True while replication, a launch or termination, a hydration or a validation is under way. */
export function underWay(view: AppView): boolean {
  if (view.status === 'DELETING') return true;
  if (REPLICATING.has(view.replicationStatus) || LAUNCHING.has(view.launchStatus)) return true;
  for (const s of view.servers) {
    if (s.run && (s.run.state === 'ACTIVE' || (s.run.state === 'PENDING' && REPLICATING.has(view.replicationStatus)))) return true;
    if (s.instance && s.instance.state === 'running' && (s.instance.hydration === 'none' || s.instance.hydration === 'hydrating')) return true;
  }
  // A launched app's validations still to report (boot-time ones, or SSM ones queued or running).
  const launched = view.launchStatus === 'LAUNCHED' || view.launchStatus === 'PARTIALLY_LAUNCHED';
  return launched && view.validations.some((v) => v.status === 'PENDING' || v.status === 'IN_PROGRESS');
}

/** 1 when the app rests in a failed state (replication or launch), else 0. */
export function exitStatus(view: AppView): number {
  return FAILED.has(view.replicationStatus) || FAILED.has(view.launchStatus) || view.status === 'DELETE_FAILED' ? 1 : 0;
}

function serverLabel(s: ServerView): string {
  return `${s.serverId}${s.vmName ? ` ${s.vmName}` : ''} [${s.group}]`;
}

function runText(s: ServerView): string | undefined {
  if (!s.run) return s.replicationJobId ? `job ${s.replicationJobId}` : undefined;
  const { replicationRunId, state, stage, percent } = s.run;
  if (state === 'ACTIVE') return `run ${replicationRunId} ${stage ?? 'starting'}${percent === undefined ? '' : ` ${Math.floor(percent / 10) * 10}%`}`;
  return `run ${replicationRunId} ${state}`;
}

function instanceText(s: ServerView): string | undefined {
  const i = s.instance;
  if (!i) return undefined;
  const parts = [`instance ${i.instanceId} ${i.state}`];
  if (i.bootSeconds !== undefined && i.state === 'running') parts[0] += ` (booted in ${i.bootSeconds.toFixed(1)} s)`;
  if (LIVE_INSTANCE.has(i.state) && i.state !== 'terminating') {
    parts.push(i.hydration === 'hydrated' ? `hydrated${i.hydratedSeconds === undefined ? '' : ` in ${i.hydratedSeconds.toFixed(1)} s`}: independent of the image store` : i.hydration === 'hydrating' ? 'hydrating' : i.hydration === 'failed' ? 'hydration failed' : 'reads its image through Ferry');
  }
  if (i.stateMessage && (i.state === 'failed' || i.state === 'terminating')) parts.push(cut(oneLine(i.stateMessage)));
  return parts.join(', ');
}

/**
 * The lines for one snapshot, each with a key (what it is about): a printer that shows a line only when its text
 * changed prints one line per change.
 */
export function viewLines(view: AppView): { key: string; text: string }[] {
  const lines: { key: string; text: string }[] = [];
  const message = (m?: string) => (m ? ` — ${cut(oneLine(m))}` : '');
  lines.push({ key: 'app', text: `app ${view.appId} (${view.name}) ${view.status}: replication ${view.replicationStatus}${message(view.replicationStatusMessage)}; launch ${view.launchStatus}${message(view.launchStatusMessage)}` });
  for (const s of view.servers) {
    const parts = [runText(s), instanceText(s)].filter((p): p is string => p !== undefined);
    lines.push({ key: `server ${s.serverId}`, text: `${serverLabel(s)}: ${parts.length > 0 ? parts.join('; ') : 'not replicated yet'}` });
  }
  for (const v of view.validations) {
    const where = v.serverId ? ` on ${v.serverId}` : ' (app)';
    lines.push({ key: `validation ${v.validationId}`, text: `validation ${v.name}${where}: ${v.status}${v.message ? ` — ${cut(oneLine(v.message))}` : ''}` });
  }
  return lines;
}
