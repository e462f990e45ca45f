/** What every control-plane service needs: the store, the clock, the limits, a logger and an event sink. */
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';
import type { Policy } from '../domain/policy.ts';
import type { Database } from '../store/schema.ts';
import type { ReadRows, ReadArrays } from '../store/openStore.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import type { FerryEvent, FerryEvents } from './events.ts';

/** Every row belongs to one (account, region) pair, taken from the caller's credential scope. */
export interface Tenant {
  accountId: string;
  region: string;
}

export interface Core {
  db: Kysely<Database>;
  /** Committed-data reads for the hot list paths (see openStore.ts). */
  readRows: ReadRows;
  /** readRows with rows as arrays (the GetReplicationJobs page, see jobPageEncoding.ts). */
  readArrays: ReadArrays;
  clock: Clock;
  policy: Policy;
  log: Logger;
  events: FerryEvents;
  /**
   * Called inside each inTransaction, after `work` and before the commit, with the events it queued: the webhook
   * outbox (src/observability/webhooks) writes its rows here, so they commit or roll back with the change itself.
   */
  beforeCommit?: (tx: Tx, events: readonly FerryEvent[]) => Promise<void>;
}

export type Tx = Transaction<Database>;

/**
 * Runs `work` in one transaction, then publishes the events it queued, only once the commit has happened.
 * `synced: false` is for facts that are fine to lose to a power loss (a run's progress, a heartbeat): the commit
 * skips its fsync (see store/unsyncedTransaction.ts); everything acknowledged to a client keeps the default.
 */
export async function inTransaction<T>(
  core: Core,
  work: (tx: Tx, emit: (e: FerryEvent) => void) => Promise<T>,
  options: { synced?: boolean } = {},
): Promise<T> {
  const queued: FerryEvent[] = [];
  const body = async (tx: Tx) => {
    const value = await work(tx, (e) => queued.push(e));
    if (core.beforeCommit && queued.length > 0) await core.beforeCommit(tx, queued);
    return value;
  };
  const result = options.synced === false ? await unsyncedTransaction(core.db, body) : await core.db.transaction().execute(body);
  for (const event of queued) core.events.publish(event);
  return result;
}
