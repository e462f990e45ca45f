/**
 * The webhook outbox's queries. Rows are staged inside the transaction that made the change (insertOutboxRows on
 * the caller's transaction); dispatchers on any number of nodes claim due rows with a lease (claimDueEvents), and
 * only the holder of a live claim can mark its row delivered, retried or dead. A node that dies leaves its claims to
 * lapse; another node then claims those rows again.
 *
 * Claiming is exclusive on both dialects: on SQLite the claim transaction holds the one write lock; where the store
 * can (`skipLockedClaims`, PostgreSQL) the chosen rows are locked with FOR UPDATE SKIP LOCKED, so concurrent
 * claimers pass over each other's rows instead of waiting, and the conditional update makes a lost race harmless.
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import { planClaims, type PendingEvent } from '../../domain/webhookOutbox.ts';
import type { StoreCapabilities } from '../openStore.ts';
import type { OutboxDb, OutboxExecutor, WebhookOutboxTable } from './outboxTable.ts';

export type OutboxInsert = Omit<Insertable<WebhookOutboxTable>, 'seq' | 'claimed_by' | 'lease_until' | 'delivered_at'>;
export type ClaimedEvent = Pick<Selectable<WebhookOutboxTable>, 'seq' | 'event_id' | 'url' | 'ordering_key' | 'body' | 'attempts'>;

/** SQLite binds at most 32 766 parameters per statement; 11 columns a row. */
const INSERT_CHUNK = 500;
/** Pending rows read per URL and claim: the oldest ones, whose per-key heads are the candidates. */
const CLAIM_WINDOW = 256;

export async function insertOutboxRows(db: OutboxExecutor, rows: readonly OutboxInsert[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db.insertInto('webhook_outbox').values(rows.slice(i, i + INSERT_CHUNK)).execute();
  }
}

export interface ClaimRequest {
  /** Who claims (unique per dispatcher, across nodes). */
  owner: string;
  urls: readonly string[];
  now: number;
  /** How long the claim holds; longer than one delivery attempt (its timeout) with room to record the outcome. */
  leaseMs: number;
  /** Rows to claim at most (the free delivery slots). */
  limit: number;
}

export interface ClaimResult {
  claimed: ClaimedEvent[];
  /** When a head now waiting for its retry becomes due (Infinity: none waits). */
  wakeAt: number;
}

export async function claimDueEvents(
  db: Kysely<OutboxDb>,
  capabilities: Pick<StoreCapabilities, 'skipLockedClaims'>,
  request: ClaimRequest,
): Promise<ClaimResult> {
  if (request.limit <= 0 || request.urls.length === 0) return { claimed: [], wakeAt: Infinity };
  return db.transaction().execute(async (trx) => {
    const claimed: ClaimedEvent[] = [];
    let wakeAt = Infinity;
    for (const url of request.urls) {
      const room = request.limit - claimed.length;
      if (room <= 0) break;
      // A plain read: rows another node is claiming right now still show, so their keys are passed over (a head
      // skipped by the lock below must not let the event behind it jump the queue).
      const pending = await trx
        .selectFrom('webhook_outbox')
        .select(['seq', 'url', 'ordering_key', 'next_attempt_at', 'lease_until'])
        .where('status', '=', 'pending')
        .where('url', '=', url)
        .orderBy('seq')
        .limit(CLAIM_WINDOW)
        .execute();
      const plan = planClaims(pending.map(toPendingEvent), request.now, room);
      wakeAt = Math.min(wakeAt, plan.wakeAt);
      let seqs = plan.claimable;
      if (seqs.length === 0) continue;
      if (capabilities.skipLockedClaims) {
        const locked = await trx.selectFrom('webhook_outbox').select('seq').where('seq', 'in', seqs).forUpdate().skipLocked().execute();
        seqs = locked.map((row) => row.seq);
        if (seqs.length === 0) continue;
      }
      const rows = await trx
        .updateTable('webhook_outbox')
        .set({ claimed_by: request.owner, lease_until: request.now + request.leaseMs })
        .where('seq', 'in', seqs)
        .where('status', '=', 'pending')
        // Lost races and stale reads end here: a row another claimer holds now is not taken.
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', request.now)]))
        .returning(['seq', 'event_id', 'url', 'ordering_key', 'body', 'attempts'])
        .execute();
      claimed.push(...rows.sort((a, b) => a.seq - b.seq));
    }
    return { claimed, wakeAt };
  });
}

const toPendingEvent = (row: { seq: number; url: string; ordering_key: string; next_attempt_at: number; lease_until: number | null }): PendingEvent => ({
  seq: row.seq,
  url: row.url,
  orderingKey: row.ordering_key,
  nextAttemptAt: Number(row.next_attempt_at),
  leaseUntil: row.lease_until === null ? null : Number(row.lease_until),
});

/** Marks delivered the rows `owner` still holds; returns the seqs it marked (a row whose claim lapsed is not). */
export async function markDelivered(db: OutboxExecutor, owner: string, seqs: readonly number[], now: number): Promise<number[]> {
  if (seqs.length === 0) return [];
  const rows = await db
    .updateTable('webhook_outbox')
    .set({ status: 'delivered', delivered_at: now, claimed_by: null, lease_until: null })
    .where('seq', 'in', [...seqs])
    .where('claimed_by', '=', owner)
    .where('status', '=', 'pending')
    .returning('seq')
    .execute();
  return rows.map((row) => row.seq);
}

/** Records a failed attempt on a row `owner` holds and releases it until `nextAttemptAt`. */
export async function recordRetry(db: OutboxExecutor, owner: string, seq: number, update: { attempts: number; nextAttemptAt: number; error: string }): Promise<boolean> {
  const result = await db
    .updateTable('webhook_outbox')
    .set({ attempts: update.attempts, next_attempt_at: update.nextAttemptAt, last_error: update.error, claimed_by: null, lease_until: null })
    .where('seq', '=', seq)
    .where('claimed_by', '=', owner)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Dead-letters a row `owner` holds: kept with status `dead`, never tried again. */
export async function markDead(db: OutboxExecutor, owner: string, seq: number, update: { attempts: number; error: string; now: number }): Promise<boolean> {
  const result = await db
    .updateTable('webhook_outbox')
    .set({ status: 'dead', attempts: update.attempts, last_error: update.error, dead_at: update.now, claimed_by: null, lease_until: null })
    .where('seq', '=', seq)
    .where('claimed_by', '=', owner)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Gives back what `owner` holds (a dispatcher stopping): other nodes need not wait for the leases to lapse. */
export async function releaseClaims(db: OutboxExecutor, owner: string): Promise<number> {
  const result = await db
    .updateTable('webhook_outbox')
    .set({ claimed_by: null, lease_until: null })
    .where('claimed_by', '=', owner)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Makes every pending row due now (a restart, often because the receiver was fixed, retries at once). */
export async function makePendingDue(db: OutboxExecutor): Promise<void> {
  await db.updateTable('webhook_outbox').set({ next_attempt_at: 0 }).where('status', '=', 'pending').where('next_attempt_at', '>', 0).execute();
}

/** Removes delivered rows marked before `before`, at most `limit` of them; returns how many it removed. */
export async function purgeDelivered(db: OutboxExecutor, before: number, limit: number): Promise<number> {
  const doomed = db.selectFrom('webhook_outbox').select('seq').where('status', '=', 'delivered').where('delivered_at', '<', before).orderBy('seq').limit(limit);
  const result = await db.deleteFrom('webhook_outbox').where('seq', 'in', doomed).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function outboxStatusCounts(db: OutboxExecutor): Promise<Record<'pending' | 'dead' | 'delivered', number>> {
  const rows = await db
    .selectFrom('webhook_outbox')
    .select((eb) => ['status', eb.fn.countAll<number | string>().as('count')])
    .groupBy('status')
    .execute();
  const counts = { pending: 0, dead: 0, delivered: 0 };
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}

/** Pending rows per URL (the start-up warning about URLs no longer configured). */
export async function pendingCountsByUrl(db: OutboxExecutor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('webhook_outbox')
    .select((eb) => ['url', eb.fn.countAll<number | string>().as('count')])
    .where('status', '=', 'pending')
    .groupBy('url')
    .execute();
  return new Map(rows.map((row) => [row.url, Number(row.count)]));
}
