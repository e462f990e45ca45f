/**
 * What launching an app writes and reads beside its row: one app_instances row per server and launch, the waves'
 * bulk state changes, and the images and VM names a launch plan starts from.
 */
import type { Insertable, Updateable } from 'kysely';
import type { AppInstancesTable } from '../schema.ts';
import type { AppExecutor, AppValidationRow, MemberRow } from './appQueries.ts';

export async function insertLaunchRow(db: AppExecutor, row: Insertable<AppInstancesTable>): Promise<void> {
  await db.insertInto('app_instances').values(row).execute();
}

/** The launch's servers not started yet will not be: `skipped`, with `message`. */
export async function skipPlannedLaunchRows(db: AppExecutor, appId: string, launchSeq: number, message: string, now: number): Promise<void> {
  await db
    .updateTable('app_instances')
    .set({ state: 'skipped', message, updated_at: now })
    .where('app_id', '=', appId)
    .where('launch_seq', '=', launchSeq)
    .where('state', '=', 'planned')
    .execute();
}

/** Every instance of the launch that is not terminated yet is to be terminated, whatever it was doing. */
export async function markLaunchRowsToTerminate(db: AppExecutor, appId: string, launchSeq: number, now: number): Promise<void> {
  await db
    .updateTable('app_instances')
    .set({ state: 'terminate', message: null, updated_at: now })
    .where('app_id', '=', appId)
    .where('launch_seq', '=', launchSeq)
    .where('instance_id', 'is not', null)
    .where('state', '!=', 'terminated')
    .execute();
}

/** The latest image of each of these jobs (null: none yet), by job id. */
export async function selectLatestImages(db: AppExecutor, replicationJobIds: readonly string[]): Promise<Map<string, string | null>> {
  if (replicationJobIds.length === 0) return new Map();
  const rows = await db.selectFrom('jobs').select(['replication_job_id', 'latest_ami_id']).where('replication_job_id', 'in', [...replicationJobIds]).execute();
  return new Map(rows.map((j) => [j.replication_job_id, j.latest_ami_id]));
}

/** Changes a launch row, only while it is still in state `onlyIf` when given; whether it changed. */
export async function updateLaunchRowIf(db: AppExecutor, seq: number, patch: Updateable<AppInstancesTable>, onlyIf?: string): Promise<boolean> {
  let query = db.updateTable('app_instances').set(patch).where('seq', '=', seq);
  if (onlyIf !== undefined) query = query.where('state', '=', onlyIf);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Apps (of every tenant) whose launch phase is one of `phases`: what a restarted coordinator picks up again. */
export function selectAppsInLaunchPhases(db: AppExecutor, phases: readonly string[]): Promise<{ app_id: string; account_id: string; region: string; launch_status: string }[]> {
  return db.selectFrom('apps').select(['app_id', 'account_id', 'region', 'launch_status']).where('launch_phase', 'in', [...phases]).execute();
}

/** The app's member row of one server (its launch configuration). */
export function selectMember(db: AppExecutor, appId: string, serverId: string): Promise<MemberRow | undefined> {
  return db.selectFrom('app_servers').selectAll().where('server_id', '=', serverId).where('app_id', '=', appId).executeTakeFirst();
}

/** The validations configured for one server of the app, in their order. */
export function selectServerValidations(db: AppExecutor, appId: string, serverId: string): Promise<AppValidationRow[]> {
  return db.selectFrom('app_validations').selectAll().where('app_id', '=', appId).where('server_id', '=', serverId).orderBy('position').execute();
}
