/**
 * The latest reported output of each of an app's validations (app_validation_outputs): one row per validation,
 * replaced by each newer report.
 */
import type { Selectable } from 'kysely';
import type { AppValidationOutputsTable } from '../schema.ts';
import type { AppExecutor } from './appQueries.ts';

export type ValidationOutputRecord = Selectable<AppValidationOutputsTable>;

/** Whether `validationId` is configured for the app. */
export async function validationConfigured(db: AppExecutor, appId: string, validationId: string): Promise<boolean> {
  const row = await db.selectFrom('app_validations').select('validation_id').where('app_id', '=', appId).where('validation_id', '=', validationId).executeTakeFirst();
  return row !== undefined;
}

/** Writes a validation's output, replacing the one it had. */
export async function upsertValidationOutput(db: AppExecutor, row: ValidationOutputRecord): Promise<void> {
  const { validation_id: validationId, ...values } = row;
  await db
    .insertInto('app_validation_outputs')
    .values(row)
    .onConflict((oc) => oc.column('validation_id').doUpdateSet(values))
    .execute();
}

/** The app's stored outputs by validation id (times as numbers, whatever the dialect returns for a bigint). */
export async function selectValidationOutputs(db: AppExecutor, appId: string): Promise<Map<string, ValidationOutputRecord>> {
  const rows = await db.selectFrom('app_validation_outputs').selectAll().where('app_id', '=', appId).execute();
  return new Map(rows.map((row) => [row.validation_id, { ...row, reported_at: Number(row.reported_at) }]));
}

/** The app's app-level (SSM) validations with their stored configuration (JSON), in their order. */
export async function selectAppLevelValidations(db: AppExecutor, appId: string): Promise<{ validation_id: string; configuration: string }[]> {
  return db.selectFrom('app_validations').select(['validation_id', 'configuration']).where('app_id', '=', appId).where('kind', '=', 'APP').orderBy('position').execute();
}

/** Apps with an output of `source` in one of `statuses` (the runner's work left from before a restart). */
export async function selectAppsWithOutputs(db: AppExecutor, source: string, statuses: readonly string[]): Promise<{ app_id: string; account_id: string; region: string }[]> {
  return db
    .selectFrom('app_validation_outputs')
    .select(['app_id', 'account_id', 'region'])
    .distinct()
    .where('source', '=', source)
    .where('status', 'in', [...statuses])
    .orderBy('app_id')
    .execute();
}

/** The app's outputs of `source` in one of `statuses`. */
export async function selectOutputsIn(db: AppExecutor, appId: string, source: string, statuses: readonly string[]): Promise<ValidationOutputRecord[]> {
  const rows = await db.selectFrom('app_validation_outputs').selectAll().where('app_id', '=', appId).where('source', '=', source).where('status', 'in', [...statuses]).execute();
  return rows.map((row) => ({ ...row, reported_at: Number(row.reported_at) }));
}

/**
 * Moves an output from one of `from` to `change`, only if it is still the version the caller read (`reportedAt`):
 * of several runners (or nodes) that read the same queued row, one wins. Returns whether this call did.
 */
export async function changeOutputIfCurrent(
  db: AppExecutor,
  validationId: string,
  expected: { statuses: readonly string[]; reportedAt: number },
  change: Pick<ValidationOutputRecord, 'status' | 'status_message' | 'output_bucket' | 'output_key' | 'reported_at'>,
): Promise<boolean> {
  const result = await db
    .updateTable('app_validation_outputs')
    .set(change)
    .where('validation_id', '=', validationId)
    .where('status', 'in', [...expected.statuses])
    .where('reported_at', '=', expected.reportedAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
