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
