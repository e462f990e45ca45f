/**
 * When app-level (SSM) validations run: each is queued — its output row set to PENDING — in the transaction that
 * makes the app LAUNCHED or PARTIALLY_LAUNCHED, and again by a PutAppValidationConfiguration on an app that is
 * launched (the way to run them again on demand). The runner (appValidationRunner.ts) takes queued rows from there,
 * after every instance of the launch has reported its boot-time (USERDATA) validations; a restart finds the rows
 * still queued or IN_PROGRESS and runs them. Nothing runs on a timer.
 */
import type { FerryEvent } from '../events.ts';
import type { Tx } from '../context.ts';
import type { AppRow } from './appRecords.ts';
import { selectAppLevelValidations, upsertValidationOutput } from '../../store/apps/validationOutputs.ts';
import { tenantOf } from '../../domain/tenant.ts';

export const SSM_SOURCE = 'SSM';
export const LAUNCHED_STATUSES: readonly string[] = ['LAUNCHED', 'PARTIALLY_LAUNCHED'];
export const QUEUED_MESSAGE = 'Runs once every instance of the launch has reported its boot-time (USERDATA) validations.';

/** Queues every APP validation of the app; announces it with an `app.validation` event. Returns how many. */
export async function queueAppValidations(tx: Tx, app: Pick<AppRow, 'app_id' | 'account_id' | 'region'>, now: number, emit: (e: FerryEvent) => void): Promise<number> {
  const validations = await selectAppLevelValidations(tx, app.app_id);
  for (const { validation_id } of validations) {
    await upsertValidationOutput(tx, {
      validation_id,
      app_id: app.app_id,
      account_id: app.account_id,
      region: app.region,
      source: SSM_SOURCE,
      status: 'PENDING',
      status_message: QUEUED_MESSAGE,
      output_bucket: null,
      output_key: null,
      reported_at: now,
    });
  }
  if (validations.length > 0) emit({ type: 'app.validation', tenant: tenantOf(app), appId: app.app_id });
  return validations.length;
}

/** Did this change make the app launched (so its app-level validations are due)? */
export function becameLaunched(before: string, after: string): boolean {
  return LAUNCHED_STATUSES.includes(after) && !LAUNCHED_STATUSES.includes(before);
}
