/** The server catalog's servers. */
import type { Executor } from '../executor.ts';

/** The details JSON the connector reported for a server (null when it reported none or the server is unknown). */
export async function serverDetails(db: Executor, serverId: string): Promise<string | null> {
  const row = await db.selectFrom('servers').select('details').where('server_id', '=', serverId).executeTakeFirst();
  return row?.details ?? null;
}
