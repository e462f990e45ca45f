/**
 * An app's replication, launch and validation configuration, as the Put/Delete operations write it: per-server
 * JSON on app_servers, launch orders on app_server_groups, validations as rows of app_validations, and the app
 * row's own flags. Each write runs on the caller's transaction; the rules about what may be written stay in
 * core/apps/.
 */
import type { Insertable, Updateable } from 'kysely';
import type { AppValidationsTable, AppsTable } from '../schema.ts';
import type { AppExecutor } from './appQueries.ts';

/** Changes columns of the app row. */
export async function updateAppRow(db: AppExecutor, appId: string, patch: Updateable<AppsTable>): Promise<void> {
  await db.updateTable('apps').set(patch).where('app_id', '=', appId).execute();
}

/** Replaces every member's replication parameters: `byServer` (JSON each) for those listed, none for the rest. */
export async function replaceReplicationParameters(db: AppExecutor, appId: string, byServer: ReadonlyMap<string, string>): Promise<void> {
  await db.updateTable('app_servers').set({ replication_parameters: null }).where('app_id', '=', appId).execute();
  for (const [serverId, json] of byServer) {
    await db.updateTable('app_servers').set({ replication_parameters: json }).where('app_id', '=', appId).where('server_id', '=', serverId).execute();
  }
}

/**
 * Replaces the app's launch configuration: each listed group's launch order and each listed member's configuration
 * (JSON); groups and members not listed have none afterwards.
 */
export async function replaceLaunchConfiguration(db: AppExecutor, appId: string, launchOrders: ReadonlyMap<string, number | null>, byServer: ReadonlyMap<string, string>): Promise<void> {
  await db.updateTable('app_servers').set({ launch_configuration: null }).where('app_id', '=', appId).execute();
  await db.updateTable('app_server_groups').set({ launch_order: null }).where('app_id', '=', appId).execute();
  for (const [serverGroupId, launchOrder] of launchOrders) {
    await db.updateTable('app_server_groups').set({ launch_order: launchOrder }).where('app_id', '=', appId).where('server_group_id', '=', serverGroupId).execute();
  }
  for (const [serverId, json] of byServer) {
    await db.updateTable('app_servers').set({ launch_configuration: json }).where('app_id', '=', appId).where('server_id', '=', serverId).execute();
  }
}

/** One of `validationIds` that belongs to an app other than `appId`. */
export async function selectValidationHeldElsewhere(db: AppExecutor, appId: string, validationIds: readonly string[]): Promise<{ validation_id: string; app_id: string } | undefined> {
  if (validationIds.length === 0) return undefined;
  return db
    .selectFrom('app_validations')
    .select(['validation_id', 'app_id'])
    .where('validation_id', 'in', [...validationIds])
    .where('app_id', '!=', appId)
    .orderBy('validation_id')
    .executeTakeFirst();
}

/**
 * Replaces the app's validations with `rows` (in their order). Outputs of validations that stay (same id) are
 * kept; the others' are removed.
 */
export async function replaceValidations(db: AppExecutor, appId: string, rows: readonly Omit<Insertable<AppValidationsTable>, 'seq'>[]): Promise<void> {
  const kept = rows.map((r) => r.validation_id);
  await db.deleteFrom('app_validations').where('app_id', '=', appId).execute();
  let stale = db.deleteFrom('app_validation_outputs').where('app_id', '=', appId);
  if (kept.length > 0) stale = stale.where('validation_id', 'not in', kept);
  await stale.execute();
  // One at a time, in order: `position` and the generated seq agree.
  for (const row of rows) await db.insertInto('app_validations').values(row).execute();
}

/** Removes every validation of the app and their outputs. */
export async function deleteAllValidations(db: AppExecutor, appId: string): Promise<void> {
  await db.deleteFrom('app_validation_outputs').where('app_id', '=', appId).execute();
  await db.deleteFrom('app_validations').where('app_id', '=', appId).execute();
}
