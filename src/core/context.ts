/** What every control-plane service needs: the store, the clock, the limits, a logger and an event sink. */
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../lib/clock.ts';
import type { Policy } from '../domain/policy.ts';
import type { Database } from '../store/schema.ts';
import type { ReadRows, ReadArrays, StoreCapabilities } from '../store/openStore.ts';
import { inUnitOfWork } from '../store/unitOfWork.ts';
import type { FerryEvent, FerryEvents } from './events.ts';

export interface Core {
  db: Kysely<Database>;
  /** Committed-data reads for the hot list paths (see openStore.ts). */
  readRows: ReadRows;
  /** readRows with rows as arrays (the GetReplicationJobs page, see store/jobs/jobPageQuery.ts). */
  readArrays: ReadArrays;
  /** What the store's dialect can do (repositories pick a strategy by it: the run claim's row locks). */
  capabilities: StoreCapabilities;
  clock: Clock;
  policy: Policy;
  log: Logger;
  events: FerryEvents;
  /**
   * Called inside each inTransaction, after `work` and before the commit, with the events it queued: the app status
   * hook (core/apps/refreshApps.ts) recomputes the apps whose jobs changed, the webhook outbox
   * (src/observability/webhooks) writes its rows, so both commit or roll back with the change itself.
   */
  beforeCommit?: BeforeCommitHook[];
}

export type Tx = Transaction<Database>;

/**
 * A hook sees each event once; events it (or another hook) emits are queued too, and every hook is called again
 * with the ones it has not seen, until none is new — so a hook that turns job changes into app changes comes
 * before, or after, a hook that records every change, and the second still sees them all.
 */
export type BeforeCommitHook = (tx: Tx, events: readonly FerryEvent[], emit: (e: FerryEvent) => void) => Promise<void>;

async function runHooks(hooks: readonly BeforeCommitHook[], tx: Tx, queued: FerryEvent[]): Promise<void> {
  const seen = hooks.map(() => 0);
  const emit = (e: FerryEvent) => void queued.push(e);
  for (let progressed = true; progressed; ) {
    progressed = false;
    for (const [i, hook] of hooks.entries()) {
      if (queued.length === seen[i]) continue;
      const batch = queued.slice(seen[i]);
      seen[i] = queued.length;
      await hook(tx, batch, emit);
      progressed = true;
    }
  }
}

/**
 * Runs `work` in one transaction, then publishes the events it queued, only once the commit has happened.
 * The commit is strict (store/unitOfWork.ts): this resolves once it is durable, grouped with the commits of every
 * other transaction ready at the same time (one WAL sync for all of them). `synced: false` is for facts that are
 * fine to lose to a power loss (a run's progress, a heartbeat): a relaxed commit that does not wait for the disk.
 */
export async function inTransaction<T>(
  core: Core,
  work: (tx: Tx, emit: (e: FerryEvent) => void) => Promise<T>,
  options: { synced?: boolean } = {},
): Promise<T> {
  const queued: FerryEvent[] = [];
  const body = async (tx: Tx) => {
    const value = await work(tx, (e) => queued.push(e));
    if (core.beforeCommit?.length && queued.length > 0) await runHooks(core.beforeCommit, tx, queued);
    return value;
  };
  const result = await inUnitOfWork(core.db, options.synced === false ? 'relaxed' : 'strict', body);
  for (const event of queued) core.events.publish(event);
  return result;
}
