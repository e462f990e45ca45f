/**
 * LaunchApp and TerminateApp as pure decisions over the instance rows a launch persisted (one per server):
 * which servers to start next, which to skip, and the app's `launchStatus`. The coordinator
 * (core/apps/launchCoordinator.ts) applies them when an instance changes state — no timers.
 *
 * Launch order: server groups launch in waves of ascending `launchOrder` (groups with equal order launch together;
 * a group without one counts as 1, the first wave). A wave starts only when every instance of the waves before it is
 * `running`. Once an instance fails, no further wave starts; the launch ends PARTIALLY_LAUNCHED (some instances
 * run) or LAUNCH_FAILED (none) when nothing is still on its way.
 *
 *   launchStatus: LAUNCH_PENDING (no instance exists yet) → LAUNCH_IN_PROGRESS → LAUNCHED | PARTIALLY_LAUNCHED | LAUNCH_FAILED
 *   terminate:    TERMINATE_IN_PROGRESS → TERMINATED | TERMINATE_FAILED
 */
import type { AppLaunchStatus } from './appEnums.ts';

/** A group without launchOrder launches in the first wave. */
export const DEFAULT_LAUNCH_ORDER = 1;

export interface LaunchGroup {
  launchOrder: number | null;
  serverIds: readonly string[];
}

/** The servers of each wave, in launch order (groups in the order given, servers in their group's order). */
export function launchWaves(groups: readonly LaunchGroup[]): string[][] {
  const byOrder = new Map<number, string[]>();
  for (const group of groups) {
    const order = group.launchOrder ?? DEFAULT_LAUNCH_ORDER;
    byOrder.set(order, [...(byOrder.get(order) ?? []), ...group.serverIds]);
  }
  return [...byOrder.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, servers]) => servers)
    .filter((servers) => servers.length > 0);
}

/**
 * A row's state: `planned` (its wave has not started), `launching` (asked for; the instance may not be known yet),
 * `skipped` (never launched), `terminate` (termination to be asked for), `terminate_failed`, or the instance's own
 * InstanceState.
 */
export type PlannedState =
  | 'planned'
  | 'launching'
  | 'skipped'
  | 'terminate'
  | 'terminate_failed'
  | 'pending'
  | 'starting'
  | 'booting'
  | 'running'
  | 'failed'
  | 'terminating'
  | 'terminated';

export interface PlannedInstance {
  serverId: string;
  wave: number;
  state: PlannedState;
  hasInstance: boolean;
  message: string | null;
}

const IN_FLIGHT = new Set<PlannedState>(['launching', 'pending', 'starting', 'booting']);
/** During a launch, an instance that stops (terminated by hand, or failed) counts as failed. */
const FAILED_DURING_LAUNCH = new Set<PlannedState>(['failed', 'terminate', 'terminating', 'terminated', 'terminate_failed']);

export interface LaunchStep {
  status: Extract<AppLaunchStatus, 'LAUNCH_PENDING' | 'LAUNCH_IN_PROGRESS' | 'LAUNCHED' | 'PARTIALLY_LAUNCHED' | 'LAUNCH_FAILED'>;
  message: string | null;
  /** Servers whose wave has come: launch them now. */
  launch: string[];
  /** Servers that will never launch in this attempt (an earlier wave failed). */
  skip: string[];
}

function failureText(rows: readonly PlannedInstance[]): string {
  return rows
    .filter((r) => FAILED_DURING_LAUNCH.has(r.state))
    .map((r) => `${r.serverId}: ${r.message ?? `instance ${r.state}`}`)
    .join('; ');
}

export function launchStep(rows: readonly PlannedInstance[]): LaunchStep {
  const total = rows.length;
  const running = rows.filter((r) => r.state === 'running').length;
  const inFlight = rows.filter((r) => IN_FLIGHT.has(r.state)).length;
  const failed = rows.filter((r) => FAILED_DURING_LAUNCH.has(r.state)).length;
  const anyInstance = rows.some((r) => r.hasInstance);
  const pendingOrInProgress = (launch: string[]): LaunchStep => ({
    status: anyInstance ? 'LAUNCH_IN_PROGRESS' : 'LAUNCH_PENDING',
    message: `${running} of ${total} instances running.`,
    launch,
    skip: [],
  });

  if (failed > 0) {
    const skip = rows.filter((r) => r.state === 'planned').map((r) => r.serverId);
    if (inFlight > 0) return { ...pendingOrInProgress([]), status: 'LAUNCH_IN_PROGRESS', skip, message: `${running} of ${total} instances running; failed: ${failureText(rows)}` };
    const status = running > 0 ? 'PARTIALLY_LAUNCHED' : 'LAUNCH_FAILED';
    return { status, message: `${running} of ${total} instances running; failed: ${failureText(rows)}`, launch: [], skip };
  }
  const waiting = rows.filter((r) => r.state !== 'running' && r.state !== 'skipped');
  if (waiting.length === 0) return { status: 'LAUNCHED', message: null, launch: [], skip: [] };
  const wave = Math.min(...waiting.map((r) => r.wave));
  const launch = rows.filter((r) => r.wave === wave && r.state === 'planned').map((r) => r.serverId);
  return pendingOrInProgress(launch);
}

export interface TerminateStep {
  status: Extract<AppLaunchStatus, 'TERMINATE_IN_PROGRESS' | 'TERMINATED' | 'TERMINATE_FAILED'>;
  message: string | null;
}

/**
 * Rows of a termination (every row with an instance starts as `terminate`): `terminated` (or never launched) is
 * done; `terminate_failed`, or an instance that ends `failed` after it was asked to stop, failed; anything else is
 * still on its way.
 */
export function terminateStep(rows: readonly PlannedInstance[]): TerminateStep {
  const done = (r: PlannedInstance) => r.state === 'terminated' || r.state === 'skipped' || r.state === 'planned' || !r.hasInstance;
  const failed = rows.filter((r) => !done(r) && (r.state === 'terminate_failed' || r.state === 'failed'));
  const remaining = rows.filter((r) => !done(r) && !failed.includes(r));
  if (remaining.length > 0) return { status: 'TERMINATE_IN_PROGRESS', message: `Terminating ${remaining.length} instance(s).` };
  if (failed.length > 0) {
    return { status: 'TERMINATE_FAILED', message: failed.map((r) => `${r.serverId}: ${r.message ?? 'the instance could not be terminated'}`).join('; ') };
  }
  return { status: 'TERMINATED', message: null };
}
