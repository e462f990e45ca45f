/** A core over the data dir's store for admin commands that run beside (or without) a running service. */
import { systemClock } from '../lib/clock.ts';
import { createLogger } from '../lib/logger.ts';
import { defaultPolicy } from '../domain/policy.ts';
import { openSqliteStore } from '../store/openStore.ts';
import { FerryEvents } from '../core/events.ts';
import type { Core } from '../core/context.ts';

export async function withAdminCore<T>(dataDir: string, work: (core: Core) => Promise<T>): Promise<T> {
  const store = await openSqliteStore(dataDir, systemClock.now());
  const core: Core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, clock: systemClock, policy: defaultPolicy, log: createLogger('warn'), events: new FerryEvents() };
  try {
    return await work(core);
  } finally {
    await store.close();
  }
}
