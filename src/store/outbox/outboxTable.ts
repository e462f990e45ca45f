/**
 * The webhook_outbox table (migrations 5 and 12): one row per (state-change event, webhook URL). Rows are
 * `pending` until their URL accepts them (`delivered`, purged later) or every attempt failed (`dead`, kept).
 */
import type { Generated, Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.ts';

export type OutboxStatus = 'pending' | 'delivered' | 'dead';

export interface WebhookOutboxTable {
  seq: Generated<number>;
  event_id: string;
  url: string;
  ordering_key: string;
  body: string;
  created_at: number;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  dead_at: number | null;
  /** The node (dispatcher) holding the row while it delivers it. */
  claimed_by: string | null;
  /** The claim's end: past it, another node may claim the row. */
  lease_until: number | null;
  delivered_at: number | null;
}

export type OutboxDb = Database & { webhook_outbox: WebhookOutboxTable };

/** A connection or a transaction: every query of the outbox repository runs on either. */
export type OutboxExecutor = Kysely<OutboxDb> | Transaction<OutboxDb>;

/** The store's database, seen with the outbox table (kept out of schema.ts: only this repository names it). */
export const outboxDb = (db: Kysely<Database>): Kysely<OutboxDb> => db as unknown as Kysely<OutboxDb>;
