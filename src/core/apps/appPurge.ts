/**
 * Removes an app and everything that belongs only to it, in the caller's transaction. Its servers are free to join
 * another app afterwards; their replication jobs, runs and images are not touched (images are kept, spec §6.4).
 */
import { deleteApp } from '../../store/apps/appQueries.ts';
import type { Tx } from '../context.ts';

export function purgeApp(tx: Tx, appId: string): Promise<void> {
  return deleteApp(tx, appId);
}
