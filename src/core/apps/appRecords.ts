/**
 * Reading an app and its parts, always within its tenant (another tenant's app is "not found"), through the app
 * repository (store/apps/).
 */
import { invalidParameter, notPermitted } from '../../lib/errors.ts';
import { AppStatus } from '../../domain/appEnums.ts';
import type { Core, Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';
import {
  countLiveJobs,
  lockAppById,
  lockTenantAppForChange,
  selectAppById,
  selectGroups,
  selectLaunchRows,
  selectMembers,
  selectTenantApp,
  selectValidations,
  type AppInstanceRow,
  type AppRow,
  type AppValidationRow,
  type GroupRow,
  type MemberRow,
} from '../../store/apps/appQueries.ts';

export type { AppRow, GroupRow, MemberRow };
export type InstanceRow = AppInstanceRow;
export type ValidationRow = AppValidationRow;

type Reader = Tx | Core['db'];

export function findApp(db: Reader, tenant: Tenant, appId: string): Promise<AppRow | undefined> {
  return selectTenantApp(db, tenant, appId);
}

/** The app, or InvalidParameterException (spec §7: an unknown appId, including another account's, is invalid). */
export async function requireApp(db: Reader, tenant: Tenant, appId: string): Promise<AppRow> {
  const app = await findApp(db, tenant, appId);
  if (!app) throw appNotFound(tenant, appId);
  return app;
}

/**
 * requireApp for an operation that changes the app: where transactions run side by side (PostgreSQL) the app's row
 * and its members' jobs stay locked until the transaction ends (store/apps lockTenantAppForChange), so the checks
 * the operation makes (replicating or not, configured or not, its members) still hold when it commits, and two
 * operations on one app run one after the other, as on SQLite.
 */
export async function requireAppForChange(tx: Tx, core: Pick<Core, 'capabilities'>, tenant: Tenant, appId: string): Promise<AppRow> {
  if (!core.capabilities.sharedByNodes) return requireApp(tx, tenant, appId);
  const app = await lockTenantAppForChange(tx, tenant, appId);
  if (!app) throw appNotFound(tenant, appId);
  return app;
}

/**
 * The app's row for a background change (a refresh after its jobs' or instances' rows changed): locked until the
 * transaction ends where transactions run side by side (PostgreSQL), so a refresh reads the rows other writers
 * committed before it, never a state neither of two side-by-side writers saw whole. Its jobs are their writers' to
 * lock first; the app comes before its launch rows.
 */
export function appByIdForChange(tx: Tx, core: Pick<Core, 'capabilities'>, appId: string): Promise<AppRow | undefined> {
  return core.capabilities.sharedByNodes ? lockAppById(tx, appId) : selectAppById(tx, appId);
}

const appNotFound = (tenant: Tenant, appId: string) => invalidParameter(`App ${appId} does not exist (ListApps shows this account's apps in ${tenant.region}).`);

/** Only an ACTIVE app takes changes and launches: one being deleted, or whose deletion failed, refuses them. */
export function checkAppActive(app: AppRow, consequence = ''): void {
  if (app.status !== AppStatus.Active) throw notPermitted(`App ${app.app_id} is ${app.status}${consequence}.`);
}

export function loadGroups(db: Reader, appId: string): Promise<GroupRow[]> {
  return selectGroups(db, appId);
}

/** The app's servers, in group order, then in their order within the group. */
export function loadMembers(db: Reader, appId: string): Promise<MemberRow[]> {
  return selectMembers(db, appId);
}

/** The instance rows of the app's latest launch. */
export function loadLaunchRows(db: Reader, app: Pick<AppRow, 'app_id' | 'launch_seq'>): Promise<InstanceRow[]> {
  return selectLaunchRows(db, app.app_id, app.launch_seq);
}

export function loadValidations(db: Reader, appId: string): Promise<ValidationRow[]> {
  return selectValidations(db, appId);
}

/** Groups with their members, in order. */
export function groupMembers(groups: readonly GroupRow[], members: readonly MemberRow[]): { group: GroupRow; members: MemberRow[] }[] {
  return groups.map((group) => ({ group, members: members.filter((m) => m.server_group_id === group.server_group_id) }));
}

/**
 * How many of the app's jobs still run (PENDING, ACTIVE, PAUSED_ON_FAILURE, FAILING, DELETING): an app replicates
 * while it has one. A one-time replication that completed, or a stopped one, has none.
 */
export function liveJobCount(db: Reader, appId: string): Promise<number> {
  return countLiveJobs(db, appId);
}

export const parseJson = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
