/**
 * The app aggregate's reads and its removal: an app, its server groups and members, its launches' instance rows,
 * its validations. Each query runs on an executor (the store or the caller's transaction). Tenancy checks and the
 * API's errors stay with the callers (core/apps/appRecords.ts).
 */
import type { Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';
import { NON_TERMINAL_JOB_STATES } from '../../domain/enums.ts';
import type { Tenant } from '../../domain/tenant.ts';
import type { AppInstancesTable, AppServerGroupsTable, AppServersTable, AppValidationsTable, AppsTable, Database } from '../schema.ts';
import { inTenant } from '../tenancy.ts';
import { compiledOnce, rowsOf } from '../compiledOnce.ts';

export type AppRow = Selectable<AppsTable>;
export type GroupRow = Selectable<AppServerGroupsTable>;
export type MemberRow = Selectable<AppServersTable>;
export type AppInstanceRow = Selectable<AppInstancesTable>;
export type AppValidationRow = Selectable<AppValidationsTable>;

export type AppExecutor = Kysely<Database> | Transaction<Database>;

/** The app, if it exists in the tenant (another tenant's app is as unknown as a made-up id). */
export async function selectTenantApp(db: AppExecutor, tenant: Tenant, appId: string): Promise<AppRow | undefined> {
  return db
    .selectFrom('apps')
    .selectAll()
    .where('app_id', '=', appId)
    .where(inTenant(tenant))
    .executeTakeFirst();
}

/** The app's server groups, in their order. */
export async function selectGroups(db: AppExecutor, appId: string): Promise<GroupRow[]> {
  return db.selectFrom('app_server_groups').selectAll().where('app_id', '=', appId).orderBy('position').execute();
}

/** The app's servers, in group order, then in their order within the group. */
export async function selectMembers(db: AppExecutor, appId: string): Promise<MemberRow[]> {
  return db
    .selectFrom('app_servers')
    .innerJoin('app_server_groups', 'app_server_groups.server_group_id', 'app_servers.server_group_id')
    .selectAll('app_servers')
    .where('app_servers.app_id', '=', appId)
    .orderBy('app_server_groups.position')
    .orderBy('app_servers.position')
    .execute();
}

/** The instance rows of one of the app's launches, wave by wave. */
export async function selectLaunchRows(db: AppExecutor, appId: string, launchSeq: number): Promise<AppInstanceRow[]> {
  return db.selectFrom('app_instances').selectAll().where('app_id', '=', appId).where('launch_seq', '=', launchSeq).orderBy('wave').orderBy('seq').execute();
}

/** The app's configured validations, in their order. */
export async function selectValidations(db: AppExecutor, appId: string): Promise<AppValidationRow[]> {
  return db.selectFrom('app_validations').selectAll().where('app_id', '=', appId).orderBy('position').execute();
}

/** How many of the app's members' replication jobs are not terminal. */
export async function countLiveJobs(db: AppExecutor, appId: string): Promise<number> {
  const row = await db
    .selectFrom('app_servers')
    .innerJoin('jobs', 'jobs.replication_job_id', 'app_servers.replication_job_id')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('app_servers.app_id', '=', appId)
    .where('jobs.state', 'in', NON_TERMINAL_JOB_STATES)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Removes an app and everything that belongs only to it (outputs, validations, launches' rows, members, groups),
 * children first. Its servers' replication jobs, runs and images are not touched.
 */
export async function deleteApp(db: AppExecutor, appId: string): Promise<void> {
  await db.deleteFrom('app_validation_outputs').where('app_id', '=', appId).execute();
  await db.deleteFrom('app_validations').where('app_id', '=', appId).execute();
  await db.deleteFrom('app_instances').where('app_id', '=', appId).execute();
  await db.deleteFrom('app_servers').where('app_id', '=', appId).execute();
  await db.deleteFrom('app_server_groups').where('app_id', '=', appId).execute();
  await db.deleteFrom('apps').where('app_id', '=', appId).execute();
}

/** How many apps the tenant has (the per-account limit). */
export async function countTenantApps(db: AppExecutor, tenant: Tenant): Promise<number> {
  const { count } = await db
    .selectFrom('apps')
    .select((eb) => eb.fn.countAll<number | string>().as('count'))
    .where(inTenant(tenant))
    .executeTakeFirstOrThrow();
  return Number(count);
}

/** The tenant's app created with `clientToken` (CreateApp's idempotency), if any. */
export async function selectAppByClientToken(db: AppExecutor, tenant: Tenant, clientToken: string): Promise<AppRow | undefined> {
  return db
    .selectFrom('apps')
    .selectAll()
    .where(inTenant(tenant))
    .where('client_token', '=', clientToken)
    .executeTakeFirst();
}

/** The identity of a new app; everything else starts unconfigured (see `newAppRow`). */
export type NewAppFields = Pick<
  Insertable<AppsTable>,
  'app_id' | 'account_id' | 'region' | 'imported_app_id' | 'name' | 'description' | 'role_name' | 'client_token' | 'request_hash' | 'tags' | 'created_at' | 'updated_at'
>;

/** A new app's row: nothing configured, replicated or launched yet, so every status starts where spec §7's flows do. */
export function newAppRow(fields: NewAppFields): Insertable<AppsTable> {
  return {
    status: 'ACTIVE',
    status_message: null,
    replication_configured: 0,
    replication_phase: 'NONE',
    replication_status: 'READY_FOR_CONFIGURATION',
    replication_status_message: null,
    latest_replication_time: null,
    first_replicated_at: null,
    launch_configured: 0,
    launch_role_name: null,
    auto_launch: 0,
    launch_phase: 'NONE',
    launch_seq: 0,
    launch_status: 'READY_FOR_CONFIGURATION',
    launch_status_message: null,
    latest_launch_time: null,
    stack_name: null,
    stack_id: null,
    launched_configuration: null,
    ...fields,
  };
}

export async function insertAppRow(db: AppExecutor, row: Insertable<AppsTable>): Promise<void> {
  await db.insertInto('apps').values(row).execute();
}

/** One page of the tenant's apps in creation order: `limit` rows after `afterSeq`, optionally only `appIds`. */
export async function selectAppPage(db: AppExecutor, tenant: Tenant, page: { afterSeq?: number; limit: number; appIds?: readonly string[] }): Promise<AppRow[]> {
  let query = db.selectFrom('apps').selectAll().where(inTenant(tenant)).orderBy('seq', 'asc').limit(page.limit);
  if (page.afterSeq !== undefined) query = query.where('seq', '>', page.afterSeq);
  if (page.appIds) query = query.where('app_id', 'in', [...page.appIds]);
  return query.execute();
}

/** How many server groups and servers each of `appIds` has (every id is in the answer). */
export async function countGroupsAndServers(db: AppExecutor, appIds: readonly string[]): Promise<Map<string, { groups: number; servers: number }>> {
  const counts = new Map(appIds.map((id) => [id, { groups: 0, servers: 0 }]));
  if (appIds.length === 0) return counts;
  const groups = await db
    .selectFrom('app_server_groups')
    .select((eb) => ['app_id', eb.fn.countAll<number | string>().as('count')])
    .where('app_id', 'in', [...appIds])
    .groupBy('app_id')
    .execute();
  for (const g of groups) counts.get(g.app_id)!.groups = Number(g.count);
  const servers = await db
    .selectFrom('app_servers')
    .select((eb) => ['app_id', eb.fn.countAll<number | string>().as('count')])
    .where('app_id', 'in', [...appIds])
    .groupBy('app_id')
    .execute();
  for (const s of servers) counts.get(s.app_id)!.servers = Number(s.count);
  return counts;
}

/** The app, whatever its tenant (for hooks that start from a job or an instance, already inside their tenant). */
export async function selectAppById(db: AppExecutor, appId: string): Promise<AppRow | undefined> {
  return db.selectFrom('apps').selectAll().where('app_id', '=', appId).executeTakeFirst();
}

const appIdsOfJob = compiledOnce('app_servers.appIdsOfJob', (db, p: { replicationJobId: string }) =>
  db.selectFrom('app_servers').select('app_id').distinct().where('replication_job_id', '=', p.replicationJobId).orderBy('app_id'),
);

/** The apps whose members' replication jobs are among `replicationJobIds`. */
export async function selectAppIdsOfJobs(db: AppExecutor, replicationJobIds: readonly string[]): Promise<string[]> {
  if (replicationJobIds.length === 0) return [];
  // One job is the common case (each CreateReplicationJob, each run's change): that query is compiled once.
  if (replicationJobIds.length === 1) return (await rowsOf(db, appIdsOfJob(db, { replicationJobId: replicationJobIds[0]! }))).map((r) => r.app_id);
  const rows = await db.selectFrom('app_servers').select('app_id').distinct().where('replication_job_id', 'in', [...replicationJobIds]).orderBy('app_id').execute();
  return rows.map((r) => r.app_id);
}

/** The app's launch row of an instance, within the tenant. */
export async function selectLaunchRowOfInstance(db: AppExecutor, tenant: Tenant, instanceId: string): Promise<AppInstanceRow | undefined> {
  return db
    .selectFrom('app_instances')
    .selectAll()
    .where('instance_id', '=', instanceId)
    .where(inTenant(tenant))
    .executeTakeFirst();
}

/** Changes a launch row (by its seq). */
export async function updateLaunchRow(db: AppExecutor, seq: number, patch: Updateable<AppInstancesTable>): Promise<void> {
  await db.updateTable('app_instances').set(patch).where('seq', '=', seq).execute();
}

/**
 * Locks, in this order, the replication jobs of the app's members (sorted by id) and then the app's row, until the
 * caller's transaction ends, and returns the app as stored behind the locks. Only where transactions run side by
 * side (PostgreSQL); SQLite's one writer already runs them one after the other. Jobs first because every writer of a
 * job locks the job and then, in the app status hook, its app: an App operation that took the app first and a job
 * of it later could wait on that writer in a circle (docs/store.md, "Read-then-write decisions").
 */
export async function lockTenantAppForChange(db: AppExecutor, tenant: Tenant, appId: string): Promise<AppRow | undefined> {
  await db
    .selectFrom('jobs')
    .select('replication_job_id')
    .where('replication_job_id', 'in', (eb) => eb.selectFrom('app_servers').select('app_servers.replication_job_id').where('app_servers.app_id', '=', appId).where('app_servers.replication_job_id', 'is not', null))
    .orderBy('replication_job_id')
    .forUpdate()
    .execute();
  return db.selectFrom('apps').selectAll().where('app_id', '=', appId).where(inTenant(tenant)).forUpdate().executeTakeFirst();
}

/** The app's row, locked until the caller's transaction ends (PostgreSQL only; its jobs are the caller's to lock first). */
export async function lockAppById(db: AppExecutor, appId: string): Promise<AppRow | undefined> {
  return db.selectFrom('apps').selectAll().where('app_id', '=', appId).forUpdate().executeTakeFirst();
}
