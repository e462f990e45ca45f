/** Reading an app and its parts from the store, always within its tenant (another tenant's app is "not found"). */
import type { Selectable } from 'kysely';
import type {
  AppInstancesTable,
  AppServerGroupsTable,
  AppServersTable,
  AppValidationsTable,
  AppsTable,
} from '../../store/schema.ts';
import { invalidParameter } from '../../lib/errors.ts';
import { NON_TERMINAL_JOB_STATES } from '../../domain/enums.ts';
import type { Core, Tx } from '../context.ts';
import type { Tenant } from '../../domain/tenant.ts';

export type AppRow = Selectable<AppsTable>;
export type GroupRow = Selectable<AppServerGroupsTable>;
export type MemberRow = Selectable<AppServersTable>;
export type InstanceRow = Selectable<AppInstancesTable>;
export type ValidationRow = Selectable<AppValidationsTable>;

type Reader = Tx | Core['db'];

export async function findApp(db: Reader, tenant: Tenant, appId: string): Promise<AppRow | undefined> {
  return db
    .selectFrom('apps')
    .selectAll()
    .where('app_id', '=', appId)
    .where('account_id', '=', tenant.accountId)
    .where('region', '=', tenant.region)
    .executeTakeFirst();
}

/** The app, or InvalidParameterException (spec §7: an unknown appId, including another account's, is invalid). */
export async function requireApp(db: Reader, tenant: Tenant, appId: string): Promise<AppRow> {
  const app = await findApp(db, tenant, appId);
  if (!app) throw invalidParameter(`App ${appId} does not exist (ListApps shows this account's apps in ${tenant.region}).`);
  return app;
}

export async function loadGroups(db: Reader, appId: string): Promise<GroupRow[]> {
  return db.selectFrom('app_server_groups').selectAll().where('app_id', '=', appId).orderBy('position').execute();
}

/** The app's servers, in group order, then in their order within the group. */
export async function loadMembers(db: Reader, appId: string): Promise<MemberRow[]> {
  return db
    .selectFrom('app_servers')
    .innerJoin('app_server_groups', 'app_server_groups.server_group_id', 'app_servers.server_group_id')
    .selectAll('app_servers')
    .where('app_servers.app_id', '=', appId)
    .orderBy('app_server_groups.position')
    .orderBy('app_servers.position')
    .execute();
}

/** The instance rows of the app's latest launch. */
export async function loadLaunchRows(db: Reader, app: Pick<AppRow, 'app_id' | 'launch_seq'>): Promise<InstanceRow[]> {
  return db
    .selectFrom('app_instances')
    .selectAll()
    .where('app_id', '=', app.app_id)
    .where('launch_seq', '=', app.launch_seq)
    .orderBy('wave')
    .orderBy('seq')
    .execute();
}

export async function loadValidations(db: Reader, appId: string): Promise<ValidationRow[]> {
  return db.selectFrom('app_validations').selectAll().where('app_id', '=', appId).orderBy('position').execute();
}

/** Groups with their members, in order. */
export function groupMembers(groups: readonly GroupRow[], members: readonly MemberRow[]): { group: GroupRow; members: MemberRow[] }[] {
  return groups.map((group) => ({ group, members: members.filter((m) => m.server_group_id === group.server_group_id) }));
}

/**
 * How many of the app's jobs still run (PENDING, ACTIVE, PAUSED_ON_FAILURE, FAILING, DELETING): an app replicates
 * while it has one. A one-time replication that completed, or a stopped one, has none.
 */
export async function liveJobCount(db: Reader, appId: string): Promise<number> {
  const row = await db
    .selectFrom('app_servers')
    .innerJoin('jobs', 'jobs.replication_job_id', 'app_servers.replication_job_id')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('app_servers.app_id', '=', appId)
    .where('jobs.state', 'in', NON_TERMINAL_JOB_STATES)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export const parseJson = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
