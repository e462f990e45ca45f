/**
 * Webhooks for job, run, app and instance state changes: staged in the changing transaction (outbox.ts), delivered by an async
 * worker (dispatcher.ts), signed (sign.ts), shaped like SMS's CloudWatch events (event.ts). docs/events.md.
 */
import type { Logger } from 'pino';
import type { Core } from '../../core/context.ts';
import type { DeliveryOutcome } from '../metrics.ts';
import { resolveWebhookConfig } from './config.ts';
import { WebhookDispatcher, type DeliveryOptions } from './dispatcher.ts';
import { isStateEvent } from './event.ts';
import { stageEvents } from './outbox.ts';
import { outboxDb } from '../../store/outbox/outboxTable.ts';
import type { StoreCapabilities } from '../../store/openStore.ts';

export interface WebhookStartOptions {
  core: Core;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** From `--webhook`; when empty, FERRY_WEBHOOK_URLS applies. */
  urls?: readonly string[];
  log: Logger;
  version: string;
  delivery?: Partial<DeliveryOptions>;
  observe?: (outcome: DeliveryOutcome) => void;
  /** How the store claims rows (SKIP LOCKED where it can); without it, claims rely on the conditional update. */
  capabilities?: Pick<StoreCapabilities, 'skipLockedClaims'>;
}

export interface Webhooks {
  readonly urls: readonly string[];
  outboxCounts(): Promise<{ pending: number; dead: number }>;
  stop(): Promise<void>;
}

/**
 * Installs the outbox hook on `core` and starts delivering. Returns undefined (and changes nothing) when no URL
 * is configured. Call before anything can change a job, so that no state change goes unstaged.
 */
export async function startWebhooks(options: WebhookStartOptions): Promise<Webhooks | undefined> {
  const config = resolveWebhookConfig({ urls: options.urls, dataDir: options.dataDir, env: options.env });
  if (!config) return undefined;
  const { core } = options;
  const log = options.log.child({ component: 'webhooks' });
  const urls = config.urls;
  (core.beforeCommit ??= []).push(async (tx, events) => {
    if (events.some(isStateEvent)) await stageEvents(tx, events, urls, core.clock.now());
  });
  const dispatcher = new WebhookDispatcher({
    db: outboxDb(core.db),
    capabilities: options.capabilities ?? { skipLockedClaims: false },
    urls,
    secret: config.secret,
    log,
    userAgent: `ferry-webhooks/${options.version}`,
    delivery: options.delivery,
    observe: options.observe,
  });
  // Rows are committed before events are published: a published state event means there is work.
  const unsubscribe = core.events.subscribe((event) => {
    if (isStateEvent(event)) dispatcher.poke();
  });
  await dispatcher.start();
  log.info(
    {
      webhooks: urls.map((url) => new URL(url).origin),
      secretFrom: config.secretSource.kind === 'env' ? 'FERRY_WEBHOOK_SECRET' : config.secretSource.path,
      ...(config.secretSource.kind === 'file' && config.secretSource.generated ? { generated: true } : {}),
    },
    'webhooks enabled: job, run, app and instance state changes are signed with the webhook secret (see docs/events.md)',
  );
  return {
    urls,
    outboxCounts: () => dispatcher.outboxCounts(),
    async stop() {
      unsubscribe();
      await dispatcher.stop();
    },
  };
}
