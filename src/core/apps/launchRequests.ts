/**
 * LaunchApp, TerminateApp and DeleteApp (spec §7) as requests: each checks the app and writes what must happen in one
 * transaction — a launch plan, a termination, a deletion — and answers; the launch coordinator (launchCoordinator.ts)
 * then does it through the launch subsystem, driven by instance state changes, and resumes it after a restart. Without
 * a launch subsystem these answer OperationNotPermittedException saying so, and change nothing.
 */
import { notPermitted } from '../../lib/errors.ts';
import type { AppPorts } from '../../apps/ports.ts';
import { inTransaction, type Core, type Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import { checkAppActive, liveJobCount, requireAppForChange, type AppRow } from './appRecords.ts';
import { hasLiveInstances } from './apps.ts';
import { stopReplicationIn } from './appReplication.ts';
import { purgeApp } from './appPurge.ts';
import { launchReadiness, planLaunchIn } from './launchPlanning.ts';
import { refreshApp, type RefreshOptions } from './refreshApps.ts';
import { updateAppRow } from '../../store/apps/configQueries.ts';
import { markLaunchRowsToTerminate, skipPlannedLaunchRows } from '../../store/apps/launchQueries.ts';

type Availability = { available: true } | { available: false; reason: string };

export const NO_LAUNCH_SUBSYSTEM = 'this Ferry runs without a launch subsystem (libvirt and QEMU, see the README), so it cannot start or stop instances';

async function launchAvailability(ports: AppPorts): Promise<Availability> {
  if (!ports.instances) return { available: false, reason: NO_LAUNCH_SUBSYSTEM };
  try {
    return await ports.instances.availability();
  } catch (error) {
    return { available: false, reason: `the launch subsystem did not answer: ${(error as Error).message}` };
  }
}

function requireAvailable(availability: Availability, operation: string): void {
  if (!availability.available) throw notPermitted(`${operation} is not possible: ${availability.reason}.`);
}

export async function requestLaunch(core: Core, tenant: Tenant, appId: string, ports: AppPorts, options: RefreshOptions): Promise<void> {
  const availability = await launchAvailability(ports);
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    checkAppActive(app);
    const readiness = await launchReadiness(tx, app);
    if (readiness.problems.length > 0) throw notPermitted(`App ${app.app_id} cannot launch: ${readiness.problems.join('; ')}.`);
    if (['LAUNCH_PENDING', 'LAUNCH_IN_PROGRESS', 'TERMINATE_IN_PROGRESS'].includes(app.launch_status)) {
      throw notPermitted(`App ${app.app_id} is already ${app.launch_status}.`);
    }
    if (await hasLiveInstances(tx, app)) {
      throw notPermitted(`App ${app.app_id} is ${app.launch_status} with instances still there; TerminateApp first, then launch again.`);
    }
    requireAvailable(availability, 'LaunchApp');
    await refreshApp(tx, await planLaunchIn(tx, app, readiness, now, null), now, emit, options);
  });
}

/** Stops a launch's remaining waves and asks for its instances to be terminated. */
export async function planTerminateIn(tx: Tx, app: AppRow, now: number): Promise<AppRow> {
  await skipPlannedLaunchRows(tx, app.app_id, app.launch_seq, 'Not launched: the app was terminated.', now);
  // Every instance still there is to be terminated, whatever it was doing (a failed boot, or a failed termination
  // being retried); the coordinator asks the launch subsystem for each.
  await markLaunchRowsToTerminate(tx, app.app_id, app.launch_seq, now);
  const patch = { launch_phase: 'TERMINATE', updated_at: now };
  await updateAppRow(tx, app.app_id, patch);
  return { ...app, ...patch };
}

export async function requestTerminate(core: Core, tenant: Tenant, appId: string, ports: AppPorts, options: RefreshOptions): Promise<void> {
  const availability = await launchAvailability(ports);
  const now = core.clock.now();
  await inTransaction(core, async (tx, emit) => {
    const app = await requireAppForChange(tx, core, tenant, appId);
    checkAppActive(app);
    if (app.launch_status === 'TERMINATE_IN_PROGRESS') throw notPermitted(`App ${app.app_id} is already being terminated.`);
    if (!(await hasLiveInstances(tx, app))) throw notPermitted(`App ${app.app_id} has no launched instances to terminate (${app.launch_status}).`);
    requireAvailable(availability, 'TerminateApp');
    await refreshApp(tx, await planTerminateIn(tx, app, now), now, emit, options);
  });
}

export interface DeleteAppInput {
  appId: string;
  forceStopAppReplication?: boolean;
  forceTerminateApp?: boolean;
}

/**
 * Deletes the app. Its replication jobs are stopped (forceStopAppReplication) and its instances terminated
 * (forceTerminateApp) first, or the deletion is refused; with instances to terminate the app stays DELETING until
 * they are gone (DELETE_FAILED if that fails), otherwise it is gone at once. Servers' images are kept.
 */
export async function deleteApp(core: Core, tenant: Tenant, input: DeleteAppInput, ports: AppPorts, options: RefreshOptions): Promise<void> {
  const now = core.clock.now();
  const availability = ports.instances ? await launchAvailability(ports) : ({ available: false, reason: NO_LAUNCH_SUBSYSTEM } as const);
  await inTransaction(core, async (tx, emit) => {
    let app = await requireAppForChange(tx, core, tenant, input.appId);
    if (app.status === 'DELETING') throw notPermitted(`App ${app.app_id} is already being deleted.`);
    const replicating = app.replication_phase === 'STARTED' && (await liveJobCount(tx, app.app_id)) > 0;
    if (replicating && input.forceStopAppReplication !== true) {
      throw notPermitted(`App ${app.app_id} is replicating (${app.replication_status}); stop it with StopAppReplication, or delete with forceStopAppReplication.`);
    }
    const live = await hasLiveInstances(tx, app);
    if (live && input.forceTerminateApp !== true) {
      throw notPermitted(`App ${app.app_id} has launched instances (${app.launch_status}); terminate them with TerminateApp, or delete with forceTerminateApp.`);
    }
    if (live) requireAvailable(availability, 'Terminating the app\'s instances');
    if (replicating) app = await stopReplicationIn(tx, app, now, emit);
    if (!live) {
      await purgeApp(tx, app.app_id);
      emit({
        type: 'app.state',
        tenant,
        appId: app.app_id,
        status: 'DELETED',
        replicationStatus: app.replication_status,
        launchStatus: app.launch_status,
        previous: { status: app.status, replicationStatus: app.replication_status, launchStatus: app.launch_status },
      });
      return;
    }
    const deleting = { ...(await planTerminateIn(tx, app, now)), status: 'DELETING', status_message: 'Deleting: terminating the app\'s instances.' };
    await updateAppRow(tx, app.app_id, { status: deleting.status, status_message: deleting.status_message });
    await refreshApp(tx, deleting, now, emit, options, app);
  });
}
