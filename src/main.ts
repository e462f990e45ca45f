/**
 * Composition root: opens the store, builds the core, starts the scheduler and the HTTP server. Tests, benchmarks
 * and `ferry serve` all start Ferry through `startFerry`.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { systemClock, type Clock } from './lib/clock.ts';
import { createLogger } from './lib/logger.ts';
import { defaultPolicy, type Policy } from './domain/policy.ts';
import { openSqliteStore } from './store/openStore.ts';
import { FerryEvents } from './core/events.ts';
import type { Core } from './core/context.ts';
import { ensureRootCredentials, secretLookup, type RootCredentials } from './core/accounts.ts';
import { noImageStore } from './core/imageRetention.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { buildApp } from './server/app.ts';
import type { ServeConfig } from './config/config.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface FerryOptions extends Partial<ServeConfig> {
  dataDir: string;
  clock?: Clock;
  policy?: Partial<Policy>;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface RunningFerry {
  url: string;
  port: number;
  core: Core;
  scheduler: Scheduler;
  root: RootCredentials;
  close(): Promise<void>;
}

export async function startFerry(options: FerryOptions): Promise<RunningFerry> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(options.logLevel ?? 'info');
  if (options.datastore) {
    throw new Error(
      '--datastore / FERRY_DATASTORE: the embedded connector (disk replication) is not implemented yet; start without it and connect a connector through the connector API.',
    );
  }
  const store = await openSqliteStore(options.dataDir, clock.now());
  const core: Core = { db: store.db, clock, policy: { ...defaultPolicy, ...options.policy }, log, events: new FerryEvents() };
  const root = await ensureRootCredentials(core, options.dataDir, options.env ?? process.env);
  const scheduler = new Scheduler(core, noImageStore);
  const app = await buildApp({ core, log, secrets: secretLookup(core), version: VERSION });
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  scheduler.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host === '0.0.0.0' || options.host === undefined ? '127.0.0.1' : options.host;
  let closed = false;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    core,
    scheduler,
    root,
    async close() {
      if (closed) return;
      closed = true;
      await scheduler.stop();
      await app.close();
      await store.close();
    },
  };
}
