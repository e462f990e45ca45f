/**
 * The cost of a commit on each store dialect: one small insert per unit of work, strict and relaxed, one writer
 * at a time and 16 at once. SQLite in a temp dir; PostgreSQL on FERRY_TEST_PG_URL (a fresh database, dropped after).
 *
 *   FERRY_TEST_PG_URL=$(.ci/postgres) node bench/storeCommit.bench.ts [commits per case, default 400]
 */
import { loadavg } from 'node:os';
import { inUnitOfWork, type Durability } from '../src/store/unitOfWork.ts';
import { storeDialects } from '../test/helpers/stores.ts';

const commits = Number(process.argv[2] ?? 400);
console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const dialect of storeDialects) {
  const under = await dialect.open();
  try {
    let n = 0;
    const commit = (durability: Durability) =>
      inUnitOfWork(under.store.db, durability, (trx) =>
        trx.insertInto('accounts').values({ account_id: String(++n).padStart(12, '0'), name: `bench-${n}`, created_at: n }).execute(),
      );
    for (const durability of ['strict', 'relaxed'] as const) {
      for (const writers of [1, 16]) {
        const started = performance.now();
        await Promise.all(Array.from({ length: writers }, async () => {
          for (let i = 0; i < commits / writers; i++) await commit(durability);
        }));
        const ms = performance.now() - started;
        console.log(`${dialect.name.padEnd(8)} ${durability.padEnd(7)} writers=${String(writers).padEnd(2)} ${(commits / (ms / 1000)).toFixed(0).padStart(6)} commits/s  ${((ms * writers) / commits).toFixed(2)} ms/commit latency`);
      }
    }
  } finally {
    await under.dispose();
  }
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
