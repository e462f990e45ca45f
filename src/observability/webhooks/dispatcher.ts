/**
 * Delivers the webhook outbox: an async worker beside the API, never in a request's path. Per URL, the events of
 * one replication job go out one at a time in commit order (a retry holds back that job's later events, not other
 * jobs'); at most `concurrency` requests are in flight in all, each with a timeout. A failed attempt (network
 * error, timeout, any non-2xx answer) is retried with exponential backoff and jitter, capped, honouring
 * Retry-After; after `maxAttempts` the row is dead-lettered (kept with status `dead`) with a warning in the log.
 *
 * A delivered row is remembered in memory at once, then deleted in batches: it is never sent twice by a running
 * process. Only a crash between a receiver's 2xx and that delete sends it again, with the same event id, which
 * receivers deduplicate on (X-Ferry-Event-Id, the body's `id`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ReadRows } from '../../store/openStore.ts';
import { ConcurrencyLimit } from '../../lib/concurrency.ts';
import type { DeliveryOutcome } from '../metrics.ts';
import type { OutboxDb, OutboxRow } from './outbox.ts';
import { ATTEMPT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from './sign.ts';

export interface DeliveryOptions {
  /** Requests in flight at once, over all URLs (default 8). */
  concurrency: number;
  /** Per attempt (default 10 s). */
  timeoutMs: number;
  /** The first retry's delay; each next one doubles (default 1 s). */
  retryBaseMs: number;
  /** The longest delay between attempts (default 5 min). */
  retryMaxMs: number;
  /** Attempts before an event is dead-lettered (default 20: about an hour of retries). */
  maxAttempts: number;
  /** How long stop() lets requests in flight finish before aborting them (default 2 s). */
  stopGraceMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  concurrency: 8,
  timeoutMs: 10_000,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  maxAttempts: 20,
  stopGraceMs: 2000,
};

/** Rows read per URL and pass: the oldest pending ones, whose per-job heads are the candidates. */
const WINDOW = 256;
const DELETE_BATCH = 500;

type Attempt = { ok: true } | { ok: false; error: string; retryAfterMs?: number; aborted?: boolean };

/** The delay before attempt `attempts + 1`, after `attempts` failures. */
export function backoffMs(attempts: number, options: Pick<DeliveryOptions, 'retryBaseMs' | 'retryMaxMs'>, random = Math.random): number {
  const exponential = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
  // ±20 % jitter, so receivers that come back are not hit by every waiting event at the same instant.
  return Math.round(Math.min(options.retryMaxMs, exponential * (0.8 + 0.4 * random())));
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** What a log line may say about a URL: its origin and position in the configuration (paths can hold tokens). */
export function describeUrl(url: string, urls: readonly string[]): { webhook: number; origin: string } {
  return { webhook: urls.indexOf(url), origin: new URL(url).origin };
}

export interface DispatcherOptions {
  db: Kysely<OutboxDb>;
  readRows: ReadRows;
  urls: readonly string[];
  secret: string;
  log: Logger;
  userAgent: string;
  delivery?: Partial<DeliveryOptions>;
  observe?: (outcome: DeliveryOutcome) => void;
}

export class WebhookDispatcher {
  readonly #db: Kysely<OutboxDb>;
  readonly #readRows: ReadRows;
  readonly #urls: readonly string[];
  readonly #secret: string;
  readonly #log: Logger;
  readonly #userAgent: string;
  readonly #options: DeliveryOptions;
  readonly #observe: (outcome: DeliveryOutcome) => void;
  readonly #abort = new AbortController();
  /** Deliveries in flight (each: the request and its bookkeeping), at most `concurrency`. */
  readonly #deliveries: ConcurrencyLimit;
  /** `url \0 job` pairs with a delivery in flight: their next event waits. */
  readonly #busyKeys = new Set<string>();
  /** Rows delivered whose delete has not committed yet: never sent again meanwhile. */
  readonly #delivered = new Set<number>();
  #toDelete: number[] = [];
  #deleting: Promise<void> | undefined;
  #passing = false;
  #again = false;
  #queued = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  #stopped = false;

  constructor(options: DispatcherOptions) {
    this.#db = options.db;
    this.#readRows = options.readRows;
    this.#urls = options.urls;
    this.#secret = options.secret;
    this.#log = options.log;
    this.#userAgent = options.userAgent;
    this.#options = { ...DEFAULT_DELIVERY, ...options.delivery };
    this.#deliveries = new ConcurrencyLimit(this.#options.concurrency);
    this.#observe = options.observe ?? (() => {});
  }

  async start(): Promise<void> {
    // A restart (often: the receiver was fixed) retries what is pending at once rather than after its backoff.
    await this.#db.updateTable('webhook_outbox').set({ next_attempt_at: 0 }).where('status', '=', 'pending').where('next_attempt_at', '>', 0).execute();
    const query = this.#db
      .selectFrom('webhook_outbox')
      .select((eb) => ['url', eb.fn.countAll<number>().as('count')])
      .where('status', '=', 'pending')
      .groupBy('url')
      .compile();
    for (const row of await this.#readRows(query)) {
      if (this.#urls.includes(row.url)) continue;
      this.#log.warn(
        { origin: new URL(row.url).origin, events: Number(row.count) },
        'undelivered webhook events for a URL that is no longer configured are kept: they go out if it is configured again',
      );
    }
    this.poke();
  }

  /** Look for due events soon (new ones committed, a slot freed, a retry due). */
  poke(): void {
    if (this.#stopped || this.#queued) return;
    this.#queued = true;
    setImmediate(() => {
      this.#queued = false;
      void this.#pass();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await Promise.race([this.#deliveries.idle(), sleep(this.#options.stopGraceMs, undefined, { ref: false })]);
    this.#abort.abort();
    await this.#deliveries.idle();
    while (this.#deleting) await this.#deleting;
  }

  async outboxCounts(): Promise<{ pending: number; dead: number }> {
    const query = this.#db
      .selectFrom('webhook_outbox')
      .select((eb) => ['status', eb.fn.countAll<number>().as('count')])
      .groupBy('status')
      .compile();
    const counts = { pending: 0, dead: 0 };
    for (const row of await this.#readRows(query)) counts[row.status] = Number(row.count);
    // Delivered rows whose delete is still queued are not pending any more.
    counts.pending = Math.max(0, counts.pending - this.#delivered.size);
    return counts;
  }

  async #pass(): Promise<void> {
    if (this.#passing) {
      this.#again = true;
      return;
    }
    this.#passing = true;
    try {
      do {
        this.#again = false;
        await this.#dispatchDue();
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#log.error({ err: error }, 'webhook dispatcher pass failed; retrying');
      this.#arm(1000);
    } finally {
      this.#passing = false;
    }
  }

  async #dispatchDue(): Promise<void> {
    if (this.#stopped) return;
    const now = Date.now();
    let wake = Infinity;
    for (const url of this.#urls) {
      if (this.#deliveries.full) return; // a finishing delivery pokes again
      const query = this.#db
        .selectFrom('webhook_outbox')
        .select(['seq', 'event_id', 'ordering_key', 'body', 'attempts', 'next_attempt_at'])
        .where('status', '=', 'pending')
        .where('url', '=', url)
        .orderBy('seq')
        .limit(WINDOW)
        .compile();
      const heads = new Set<string>();
      for (const row of await this.#readRows(query)) {
        if (this.#delivered.has(row.seq)) continue;
        const key = `${url}\u0000${row.ordering_key}`;
        // Only the oldest pending event of each job may go: the rest wait behind it, retries included.
        if (heads.has(key)) continue;
        heads.add(key);
        if (this.#busyKeys.has(key)) continue;
        if (row.next_attempt_at > now) {
          wake = Math.min(wake, row.next_attempt_at);
          continue;
        }
        if (this.#deliveries.full) return;
        this.#deliver(url, key, row);
      }
    }
    if (wake !== Infinity) this.#arm(wake - now);
  }

  #arm(delay: number): void {
    if (this.#stopped) return;
    const due = Date.now() + Math.max(0, delay);
    if (this.#timer && this.#timerDue <= due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      this.poke();
    }, Math.max(0, delay));
    this.#timer.unref();
  }

  #deliver(url: string, key: string, row: OutboxRow): void {
    this.#busyKeys.add(key);
    // Called only when a slot is free (#dispatchDue checks `full`), so the delivery starts at once.
    void this.#deliveries
      .run(async () => {
        const result = await this.#attempt(url, row);
        if (result.ok) {
          this.#delivered.add(row.seq);
          this.#observe('delivered');
          this.#queueDelete(row.seq);
        } else if (!result.aborted) {
          await this.#recordFailure(url, row, result);
        }
      })
      .catch((error: unknown) => this.#log.error({ err: error, eventId: row.event_id }, 'webhook delivery bookkeeping failed'))
      .finally(() => {
        this.#busyKeys.delete(key);
        this.poke();
      });
  }

  async #attempt(url: string, row: OutboxRow): Promise<Attempt> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs)]);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': this.#userAgent,
          [SIGNATURE_HEADER]: signBody(this.#secret, row.body),
          [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000)),
          [EVENT_ID_HEADER]: row.event_id,
          [ATTEMPT_HEADER]: String(row.attempts + 1),
        },
        body: row.body,
        redirect: 'manual',
        signal,
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { ok: true };
      return { ok: false, error: `HTTP ${response.status}`, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
    } catch (thrown) {
      if (this.#abort.signal.aborted) return { ok: false, aborted: true, error: 'stopped' };
      const error = thrown as Error & { cause?: { message?: string; code?: string } };
      if (error.name === 'TimeoutError') return { ok: false, error: `no answer within ${this.#options.timeoutMs} ms` };
      const cause = error.cause?.code ?? error.cause?.message;
      return { ok: false, error: cause ? `${error.message} (${cause})` : error.message };
    }
  }

  async #recordFailure(url: string, row: OutboxRow, result: Extract<Attempt, { ok: false }>): Promise<void> {
    const attempts = row.attempts + 1;
    const now = Date.now();
    if (attempts >= this.#options.maxAttempts) {
      await this.#db
        .updateTable('webhook_outbox')
        .set({ status: 'dead', attempts, last_error: result.error, dead_at: now })
        .where('seq', '=', row.seq)
        .execute();
      this.#observe('dead');
      this.#log.warn(
        // The ordering key is a job's id (job and run events) or an app's or instance's (app and instance events).
        { ...describeUrl(url, this.#urls), eventId: row.event_id, [keyField(row.ordering_key)]: row.ordering_key, attempts, lastError: result.error },
        'webhook event dead-lettered: every delivery attempt failed',
      );
      return;
    }
    let delay = backoffMs(attempts, this.#options);
    if (result.retryAfterMs !== undefined) delay = Math.max(delay, Math.min(this.#options.retryMaxMs, result.retryAfterMs));
    await this.#db
      .updateTable('webhook_outbox')
      .set({ attempts, next_attempt_at: now + delay, last_error: result.error })
      .where('seq', '=', row.seq)
      .execute();
    this.#observe('failed');
    this.#log.info(
      { ...describeUrl(url, this.#urls), eventId: row.event_id, attempts, error: result.error, retryInMs: delay },
      'webhook delivery failed; will retry',
    );
  }

  #queueDelete(seq: number): void {
    this.#toDelete.push(seq);
    if (!this.#deleting) this.#deleting = this.#flushDeletes().finally(() => (this.#deleting = undefined));
  }

  async #flushDeletes(): Promise<void> {
    while (this.#toDelete.length > 0) {
      const batch = this.#toDelete.splice(0, DELETE_BATCH);
      try {
        await this.#db.deleteFrom('webhook_outbox').where('seq', 'in', batch).execute();
        for (const seq of batch) this.#delivered.delete(seq);
      } catch (error) {
        // Still remembered as delivered: this process will not send them again; the delete is retried.
        this.#log.error({ err: error, rows: batch.length }, 'could not remove delivered webhook events from the outbox; retrying');
        this.#toDelete.unshift(...batch);
        if (this.#stopped) return;
        await sleep(1000, undefined, { ref: false });
      }
    }
  }
}

/** The log field that names what an ordering key identifies. */
function keyField(key: string): 'replicationJobId' | 'appId' | 'instanceId' {
  return key.startsWith('app-') ? 'appId' : key.startsWith('i-') ? 'instanceId' : 'replicationJobId';
}
