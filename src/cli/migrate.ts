/**
 * `ferry migrate`: applies the store's migrations and exits, so an operator upgrades the schema once before
 * starting N nodes (each node also migrates on start, under the same lock; this only makes it a separate step).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { systemClock } from '../lib/clock.ts';
import { resolveDataDir, resolveStoreSetting } from '../config/config.ts';
import { openStore } from '../store/openStore.ts';
import { migrations } from '../store/migrations/index.ts';
import { warnOnStderr } from './adminCore.ts';

export function addMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description("apply the state store's schema migrations and exit")
    .addOption(new Option('--data-dir <dir>', 'data directory (env FERRY_DATA_DIR, default ./ferry-data)'))
    .addOption(new Option('--store <url>', 'a postgres:// URL (env FERRY_STORE; default: SQLite in the data dir)'))
    .option('--json', 'print the result as JSON')
    .action(async (flags: { dataDir?: string; store?: string; json?: boolean }) => {
      const { store: url, storePoolSize } = resolveStoreSetting(flags.store, process.env);
      const dataDir = resolveDataDir(flags.dataDir, process.env);
      // One connection is enough to migrate.
      const store = await openStore({ dataDir, url }, systemClock.now(), { warn: warnOnStderr, poolSize: Math.min(storePoolSize ?? 1, 1) });
      await store.close();
      const latest = migrations.at(-1)!.version;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ dialect: store.dialect, applied: store.migrationsRun, schemaVersion: latest })}\n`);
      } else if (store.migrationsRun.length === 0) {
        process.stdout.write(`The ${store.dialect} store is at schema version ${latest}; nothing to apply.\n`);
      } else {
        process.stdout.write(`Applied ${store.migrationsRun.length} migration(s) to the ${store.dialect} store (${store.migrationsRun.join(', ')}); schema version ${latest}.\n`);
      }
    });
}
