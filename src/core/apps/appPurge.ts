/**
 * Removes an app and everything that belongs only to it, in the caller's transaction. Its servers are free to join
 * another app afterwards; their replication jobs, runs and images are not touched (images are kept, spec §6.4).
 */
import type { Tx } from '../context.ts';

export async function purgeApp(tx: Tx, appId: string): Promise<void> {
  await tx.deleteFrom('app_validation_outputs').where('app_id', '=', appId).execute();
  await tx.deleteFrom('app_validations').where('app_id', '=', appId).execute();
  await tx.deleteFrom('app_instances').where('app_id', '=', appId).execute();
  await tx.deleteFrom('app_servers').where('app_id', '=', appId).execute();
  await tx.deleteFrom('app_server_groups').where('app_id', '=', appId).execute();
  await tx.deleteFrom('apps').where('app_id', '=', appId).execute();
}
