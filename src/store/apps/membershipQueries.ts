/**
 * An app's membership: its server groups and the servers in them (app_server_groups, app_servers), and the
 * catalog and ownership facts a membership change is checked against. Each query runs on the caller's transaction.
 */
import type { Insertable } from 'kysely';
import type { Tenant } from '../../domain/tenant.ts';
import type { AppServerGroupsTable, AppServersTable } from '../schema.ts';
import type { AppExecutor } from './appQueries.ts';
import { inTenant } from '../tenancy.ts';

/** Which of `serverIds` are in the tenant's server catalog now. */
export async function selectCatalogedServerIds(db: AppExecutor, tenant: Tenant, serverIds: readonly string[], lockRows = false): Promise<Set<string>> {
  if (serverIds.length === 0) return new Set();
  const query = db
    .selectFrom('servers')
    .select(['server_id', 'in_catalog'])
    .where(inTenant(tenant))
    .where('server_id', 'in', [...serverIds]);
  // lockRows (PostgreSQL): the servers' rows stay locked, in id order, until the caller's transaction ends, so the
  // app that checks them next waits for this one and then sees its members.
  const rows = await (lockRows ? query.orderBy('server_id').forUpdate() : query).execute();
  return new Set(rows.filter((s) => Number(s.in_catalog) === 1).map((s) => s.server_id));
}

/** One of `serverIds` that already belongs to an app other than `appId` (null: a new app, any app counts). */
export async function selectServerHeldElsewhere(db: AppExecutor, appId: string | null, serverIds: readonly string[]): Promise<{ server_id: string; app_id: string } | undefined> {
  if (serverIds.length === 0) return undefined;
  let taken = db.selectFrom('app_servers').select(['server_id', 'app_id']).where('server_id', 'in', [...serverIds]);
  if (appId !== null) taken = taken.where('app_id', '!=', appId);
  return taken.orderBy('server_id').executeTakeFirst();
}

export async function insertGroup(db: AppExecutor, row: Insertable<AppServerGroupsTable>): Promise<void> {
  await db.insertInto('app_server_groups').values(row).execute();
}

export async function updateGroup(db: AppExecutor, serverGroupId: string, change: { name: string; position: number }): Promise<void> {
  await db.updateTable('app_server_groups').set(change).where('server_group_id', '=', serverGroupId).execute();
}

export async function deleteGroups(db: AppExecutor, serverGroupIds: readonly string[]): Promise<void> {
  if (serverGroupIds.length === 0) return;
  await db.deleteFrom('app_server_groups').where('server_group_id', 'in', [...serverGroupIds]).execute();
}

export async function insertMember(db: AppExecutor, row: Insertable<AppServersTable>): Promise<void> {
  await db.insertInto('app_servers').values(row).execute();
}

/** Moves a member to a group and position; its server validations follow it to the group. */
export async function moveMember(db: AppExecutor, appId: string, serverId: string, serverGroupId: string, position: number): Promise<void> {
  await db.updateTable('app_servers').set({ server_group_id: serverGroupId, position }).where('server_id', '=', serverId).execute();
  await db.updateTable('app_validations').set({ server_group_id: serverGroupId }).where('app_id', '=', appId).where('server_id', '=', serverId).execute();
}

/** Removes servers from the app, with their server validations and those validations' outputs. */
export async function deleteMembers(db: AppExecutor, appId: string, serverIds: readonly string[]): Promise<void> {
  if (serverIds.length === 0) return;
  await db.deleteFrom('app_servers').where('app_id', '=', appId).where('server_id', 'in', [...serverIds]).execute();
  const validations = await db.selectFrom('app_validations').select('validation_id').where('app_id', '=', appId).where('server_id', 'in', [...serverIds]).execute();
  if (validations.length === 0) return;
  const validationIds = validations.map((v) => v.validation_id);
  await db.deleteFrom('app_validation_outputs').where('validation_id', 'in', validationIds).execute();
  await db.deleteFrom('app_validations').where('validation_id', 'in', validationIds).execute();
}

/** The member's server now replicates through `replicationJobId` (StartAppReplication). */
export async function linkMemberJob(db: AppExecutor, serverId: string, replicationJobId: string): Promise<void> {
  await db.updateTable('app_servers').set({ replication_job_id: replicationJobId }).where('server_id', '=', serverId).execute();
}
