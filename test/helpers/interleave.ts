/**
 * Two requests on one store, interleaved deterministically (test/store/jobRaces and appRaces): the first request's
 * transaction is held open after its work and its before-commit hooks, the second runs until it waits on the first
 * (a row lock on PostgreSQL, seen in pg_stat_activity; SQLite's one writer), or ends; then the first commits. What the
 * second answers and leaves behind must be what it would be had it run strictly after the first.
 */
import { sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import type { BeforeCommitHook, Core } from '../../src/core/context.ts';
import type { Store } from '../../src/store/openStore.ts';

/** Resolves once some transaction of the store's database waits on a lock, or `settled` says the second is done. */
async function untilSecondWaits(store: Store, settled: () => boolean): Promise<void> {
  if (!store.capabilities.sharedByNodes) {
    // SQLite: the second cannot pass the held writer; give it time to get as far as it can.
    await new Promise((r) => setTimeout(r, 100));
    return;
  }
  const deadline = Date.now() + 10_000;
  while (!settled()) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(store.db);
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error('the second request neither finished nor waited on a lock within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export type Outcome<T> = { value?: T; error?: Error };

/**
 * Runs `first` on a copy of `core` whose transactions are kept open, after their work and hooks, until `second` waits
 * on them or ends; then lets `first` commit and returns how `second` ended. `first`'s transaction must emit an event
 * (the hold is a last before-commit hook, and hooks run only for transactions that emitted one). With `holdAfter`,
 * the first request is held instead once the result of the first query it matches is in (its transaction open): for
 * a transaction that emits nothing, or a race decided before its hooks run. `holdAfter` needs a store whose
 * transactions run side by side (PostgreSQL): on SQLite the held transaction would keep the one writer.
 */
export async function interleave<T>(
  store: Store,
  core: Core,
  first: (holding: Core) => Promise<unknown>,
  second: () => Promise<T>,
  options: { holdAfter?: (query: RootOperationNode) => boolean } = {},
): Promise<Outcome<T>> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const firstHeld = new Promise<void>((r) => (held = r));
  const hold: BeforeCommitHook = async () => {
    held();
    await gate;
  };
  const holding = options.holdAfter ? { ...core, db: core.db.withPlugin(holdAfterQuery(options.holdAfter, held, gate)) } : { ...core, beforeCommit: [...(core.beforeCommit ?? []), hold] };
  const firstDone = first(holding);
  await Promise.race([firstHeld, firstDone.then(() => Promise.reject(new Error('the first request committed without being held')))]);
  let done = false;
  const outcome = second()
    .then(
      (value): Outcome<T> => ({ value }),
      (error: Error): Outcome<T> => ({ error }),
    )
    .finally(() => (done = true));
  await untilSecondWaits(store, () => done);
  release();
  await firstDone;
  return outcome;
}

/** A plugin that, once, holds the query `matches` picks after its result is in, until `gate` opens. */
function holdAfterQuery(matches: (query: RootOperationNode) => boolean, held: () => void, gate: Promise<void>): KyselyPlugin {
  const picked = new WeakSet<object>();
  let done = false;
  return {
    transformQuery({ node, queryId }) {
      if (!done && matches(node)) {
        done = true;
        picked.add(queryId);
      }
      return node;
    },
    async transformResult({ result, queryId }) {
      if (picked.has(queryId)) {
        held();
        await gate;
      }
      return result;
    },
  };
}
