/**
 * Delivers the webhook outbox: an async worker beside the API, never in a request's path. Any number of dispatchers
 * (one per node) share one outbox: each claims due rows with a lease (store/outbox/), sends them, and marks them
 * delivered, so every event goes out once however many nodes run. Per URL, the events of one ordering key (a job,
 * an app) go out one at a time in commit order (a retry holds back that key's later events, not other keys'); at
 * most `concurrency` requests are in flight per dispatcher, each with a timeout. A failed attempt (network error,
 * timeout, any non-2xx answer) is retried with exponential backoff and jitter, capped, honouring Retry-After; after
 * `maxAttempts` the row is dead-lettered (kept with status `dead`) with a warning in the log (domain/webhookOutbox.ts).
 *
 * A delivered row stays claimed until its mark commits, so no dispatcher sends it again meanwhile. Only a node
 * that dies (or stalls past its lease) between a receiver's 2xx and that mark lets the event go out again, with the
 * same event id, which receivers deduplicate on (X-Ferry-Event-Id, the body's `id`).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { StoreCapabilities } from '../../store/openStore.ts';
import { ConcurrencyLimit } from '../../lib/concurrency.ts';
import { backoffMs, failureVerdict } from '../../domain/webhookOutbox.ts';
import type { OutboxDb } from '../../store/outbox/outboxTable.ts';
import {
  claimDueEvents,
  makePendingDue,
  markDead,
  markDelivered,
  outboxStatusCounts,
  pendingCountsByUrl,
  purgeDelivered,
  recordRetry,
  releaseClaims,
  type ClaimedEvent,
} from '../../store/outbox/outboxRepository.ts';
import type { DeliveryOutcome } from '../metrics.ts';
import { ATTEMPT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signBody } from './sign.ts';

export { backoffMs };

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
  /** How long a claim holds (default: twice the timeout plus 10 s): a dead node's rows wait this long. */
  leaseMs: number;
  /** How often to look for rows other nodes staged (default 2 s); this node's own changes poke at once. */
  pollMs: number;
  /** How long delivered rows are kept before they are purged (default 10 min). */
  deliveredRetentionMs: number;
}

export const DEFAULT_DELIVERY: Omit<DeliveryOptions, 'leaseMs'> = {
  concurrency: 8,
  timeoutMs: 10_000,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  maxAttempts: 20,
  stopGraceMs: 2000,
  pollMs: 2000,
  deliveredRetentionMs: 10 * 60_000,
};

/**
 * How long a claim holds by default: one attempt's timeout, then as long again for its outcome to be recorded, and
 * 10 s of slack. A node that dies holding a claim delays that event (and its key's later ones) this long.
 */
export const defaultLeaseMs = (timeoutMs: number): number => 2 * timeoutMs + 10_000;

const MARK_BATCH = 500;
const PURGE_BATCH = 1000;
const PURGE_EVERY_MS = 60_000;

type Attempt = { ok: true } | { ok: false; error: string; retryAfterMs?: number; aborted?: boolean };

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
  capabilities: Pick<StoreCapabilities, 'skipLockedClaims'>;
  urls: readonly string[];
  secret: string;
  log: Logger;
  userAgent: string;
  delivery?: Partial<DeliveryOptions>;
  observe?: (outcome: DeliveryOutcome) => void;
  /** This dispatcher's claim owner id (default: host, pid and a random part: unique across nodes and restarts). */
  owner?: string;
}

export class WebhookDispatcher {
  readonly owner: string;
  readonly #db: Kysely<OutboxDb>;
  readonly #capabilities: Pick<StoreCapabilities, 'skipLockedClaims'>;
  readonly #urls: readonly string[];
  readonly #secret: string;
  readonly #log: Logger;
  readonly #userAgent: string;
  readonly #options: DeliveryOptions;
  readonly #observe: (outcome: DeliveryOutcome) => void;
  readonly #abort = new AbortController();
  /** Deliveries in flight (each: the request and its bookkeeping), at most `concurrency`. */
  readonly #deliveries: ConcurrencyLimit;
  /** Rows delivered whose mark has not committed yet: still claimed by this dispatcher, never sent again. */
  readonly #delivered = new Set<number>();
  #toMark: number[] = [];
  #marking: Promise<void> | undefined;
  #lastPurge = 0;
  #passing = false;
  #again = false;
  #queued = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  #stopped = false;

  constructor(options: DispatcherOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#db = options.db;
    this.#capabilities = options.capabilities;
    this.#urls = options.urls;
    this.#secret = options.secret;
    this.#log = options.log;
    this.#userAgent = options.userAgent;
    const timeoutMs = options.delivery?.timeoutMs ?? DEFAULT_DELIVERY.timeoutMs;
    this.#options = { ...DEFAULT_DELIVERY, leaseMs: defaultLeaseMs(timeoutMs), ...options.delivery };
    this.#deliveries = new ConcurrencyLimit(this.#options.concurrency);
    this.#observe = options.observe ?? (() => {});
  }

  async start(): Promise<void> {
    // A restart (often: the receiver was fixed) retries what is pending at once rather than after its backoff.
    await makePendingDue(this.#db);
    for (const [url, count] of await pendingCountsByUrl(this.#db)) {
      if (this.#urls.includes(url)) continue;
      this.#log.warn(
        { origin: new URL(url).origin, events: count },
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
    while (this.#passing) await sleep(5);
    await Promise.race([this.#deliveries.idle(), sleep(this.#options.stopGraceMs, undefined, { ref: false })]);
    this.#abort.abort();
    await this.#deliveries.idle();
    while (this.#marking) await this.#marking;
    // What this node still holds (aborted sends) goes back at once rather than when its leases lapse.
    await releaseClaims(this.#db, this.owner).catch((error: unknown) => this.#log.warn({ err: error }, 'could not release webhook outbox claims; they lapse with their leases'));
  }

  async outboxCounts(): Promise<{ pending: number; dead: number }> {
    const counts = await outboxStatusCounts(this.#db);
    // Delivered rows whose mark is still queued are not pending any more.
    return { pending: Math.max(0, counts.pending - this.#delivered.size), dead: counts.dead };
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
    // Other nodes stage rows this one hears nothing about: look again in a while, whatever happens now.
    this.#arm(this.#options.pollMs);
    const free = this.#options.concurrency - this.#deliveries.active;
    if (free <= 0) return; // a finishing delivery pokes again
    const now = Date.now();
    const { claimed, wakeAt } = await claimDueEvents(this.#db, this.#capabilities, {
      owner: this.owner,
      urls: this.#urls,
      now,
      leaseMs: this.#options.leaseMs,
      limit: free,
    });
    for (const row of claimed) {
      // Delivered, but its mark failed and the lease lapsed back to us: mark it again, never send it again.
      if (this.#delivered.has(row.seq)) this.#queueMark(row.seq);
      else this.#deliver(row);
    }
    if (wakeAt !== Infinity) this.#arm(wakeAt - now);
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

  #deliver(row: ClaimedEvent): void {
    void this.#deliveries
      .run(async () => {
        const result = await this.#attempt(row);
        if (result.ok) {
          this.#delivered.add(row.seq);
          this.#observe('delivered');
          this.#queueMark(row.seq);
        } else if (!result.aborted) {
          await this.#recordFailure(row, result);
        }
      })
      .catch((error: unknown) => this.#log.error({ err: error, eventId: row.event_id }, 'webhook delivery bookkeeping failed'))
      .finally(() => this.poke());
  }

  async #attempt(row: ClaimedEvent): Promise<Attempt> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs)]);
    try {
      const response = await fetch(row.url, {
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

  async #recordFailure(row: ClaimedEvent, result: Extract<Attempt, { ok: false }>): Promise<void> {
    const now = Date.now();
    const verdict = failureVerdict(row.attempts, now, this.#options, result.retryAfterMs);
    if (verdict.kind === 'dead') {
      if (!(await markDead(this.#db, this.owner, row.seq, { attempts: verdict.attempts, error: result.error, now }))) return this.#lostClaim(row);
      this.#observe('dead');
      this.#log.warn(
        // The ordering key is a job's id (job and run events) or an app's or instance's (app and instance events).
        { ...describeUrl(row.url, this.#urls), eventId: row.event_id, [keyField(row.ordering_key)]: row.ordering_key, attempts: verdict.attempts, lastError: result.error },
        'webhook event dead-lettered: every delivery attempt failed',
      );
      return;
    }
    if (!(await recordRetry(this.#db, this.owner, row.seq, { attempts: verdict.attempts, nextAttemptAt: verdict.nextAttemptAt, error: result.error }))) {
      return this.#lostClaim(row);
    }
    this.#observe('failed');
    this.#log.info(
      { ...describeUrl(row.url, this.#urls), eventId: row.event_id, attempts: verdict.attempts, error: result.error, retryInMs: verdict.nextAttemptAt - now },
      'webhook delivery failed; will retry',
    );
  }

  #lostClaim(row: ClaimedEvent): void {
    this.#log.warn({ eventId: row.event_id, leaseMs: this.#options.leaseMs }, 'webhook delivery outlived its claim; the node that holds the event now records it');
  }

  #queueMark(seq: number): void {
    this.#toMark.push(seq);
    if (!this.#marking) this.#marking = this.#flushMarks().finally(() => (this.#marking = undefined));
  }

  async #flushMarks(): Promise<void> {
    while (this.#toMark.length > 0) {
      const batch = this.#toMark.splice(0, MARK_BATCH);
      try {
        const now = Date.now();
        await markDelivered(this.#db, this.owner, batch, now);
        // Marked, or no longer ours to mark (the lease lapsed and another node took the row): either way done here.
        for (const seq of batch) this.#delivered.delete(seq);
        if (now - this.#lastPurge >= PURGE_EVERY_MS) {
          this.#lastPurge = now;
          await purgeDelivered(this.#db, now - this.#options.deliveredRetentionMs, PURGE_BATCH);
        }
      } catch (error) {
        // Still remembered as delivered and still claimed: this process will not send them again; the mark is retried.
        this.#log.error({ err: error, rows: batch.length }, 'could not mark delivered webhook events in the outbox; retrying');
        this.#toMark.unshift(...batch);
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
