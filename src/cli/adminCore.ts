/** A core over the data dir's store for admin commands that run beside (or without) a running service. */
import { systemClock } from '../lib/clock.ts';
import { createLogger } from '../lib/logger.ts';
import { defaultPolicy } from '../domain/policy.ts';
import { openStore } from '../store/openStore.ts';
import { resolveStoreSetting } from '../config/config.ts';
import { FerryEvents } from '../core/events.ts';
import type { Core } from '../core/context.ts';
import { openSecretsAtRest, type SecretsAtRest } from '../core/secretsAtRest.ts';

/** Warnings of admin commands go to stderr, one line each, so stdout stays what the command prints. */
export const warnOnStderr = (message: string): void => void process.stderr.write(`ferry: warning: ${message}\n`);

/**
 * The store admin commands open: FERRY_STORE's PostgreSQL when set in `env` (as `ferry serve` uses), else the data
 * dir's SQLite.
 */
export async function withAdminCore<T>(dataDir: string, work: (core: Core) => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const { store: url, storePoolSize } = resolveStoreSetting(undefined, env);
  const store = await openStore({ dataDir, url }, systemClock.now(), { warn: warnOnStderr, poolSize: storePoolSize });
  const core: Core = { db: store.db, readRows: store.readRows, readArrays: store.readArrays, capabilities: store.capabilities, clock: systemClock, policy: defaultPolicy, log: createLogger('warn'), events: new FerryEvents() };
  try {
    return await work(core);
  } finally {
    await store.close();
  }
}

/**
 * withAdminCore for commands that seal or open secrets: the master key is found as `ferry serve` finds it
 * (FERRY_MASTER_KEY, else <data-dir>/master.key) and checked against the store (core/secretsAtRest.ts).
 */
export async function withAdminSecrets<T>(dataDir: string, env: NodeJS.ProcessEnv, work: (core: Core, secrets: SecretsAtRest) => Promise<T>): Promise<T> {
  return withAdminCore(dataDir, async (core) => {
    const secrets = await openSecretsAtRest(core, dataDir, env);
    if (secrets.master.source === 'generated') {
      process.stderr.write(`Ferry generated the master key ${secrets.master.file} (mode 0600). Back it up: without it, encrypted images and access keys cannot be read.\n`);
    }
    if (secrets.sealedNow > 0) warnOnStderr(`sealed ${secrets.sealedNow} access key secret(s) that were stored in plain text.`);
    return work(core, secrets);
  }, env);
}
