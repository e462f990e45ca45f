/**
 * The webhook outbox (migration 005): rows are written by `stageEvents` inside the very transaction that changes a
 * job or run (Core.beforeCommit), so an event exists exactly when its change committed — a crash can lose neither
 * one without the other. The dispatcher reads due rows on the read-only connection and deletes each row once its
 * URL accepted it.
 */
import { randomUUID } from 'node:crypto';
import type { Generated, Insertable, Kysely, Selectable, Transaction } from 'kysely';
import type { Tx } from '../../core/context.ts';
import type { FerryEvent } from '../../core/events.ts';
import type { Database } from '../../store/schema.ts';
import { isStateEvent, orderingKey, toCloudWatchEvent } from './event.ts';

export interface WebhookOutboxTable {
  seq: Generated<number>;
  event_id: string;
  url: string;
  ordering_key: string;
  body: string;
  created_at: number;
  status: 'pending' | 'dead';
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  dead_at: number | null;
}

export type OutboxDb = Database & { webhook_outbox: WebhookOutboxTable };
export type OutboxRow = Pick<Selectable<WebhookOutboxTable>, 'seq' | 'event_id' | 'ordering_key' | 'body' | 'attempts' | 'next_attempt_at'>;

/** SQLite binds at most 32 766 parameters per statement; 11 columns a row. */
const INSERT_CHUNK = 500;

export const outboxDb = (db: Kysely<Database>): Kysely<OutboxDb> => db as unknown as Kysely<OutboxDb>;

/**
 * Writes one row per (job or run state event, URL). `eventTime` is the change's time (the service clock); the
 * delivery bookkeeping uses real time, like every timer.
 */
export async function stageEvents(core: Tx, events: readonly FerryEvent[], urls: readonly string[], eventTime: number): Promise<number> {
  const tx = core as unknown as Transaction<OutboxDb>;
  const now = Date.now();
  const rows: Insertable<WebhookOutboxTable>[] = [];
  for (const event of events) {
    if (!isStateEvent(event)) continue;
    let amiId: string | null = null;
    if (event.type === 'run.state' && event.state === 'COMPLETED') {
      const run = await tx.selectFrom('runs').select('ami_id').where('replication_run_id', '=', event.replicationRunId).executeTakeFirst();
      amiId = run?.ami_id ?? null;
    }
    const id = randomUUID();
    const body = JSON.stringify(toCloudWatchEvent(event, { id, time: eventTime, amiId }));
    for (const url of urls) {
      rows.push({
        event_id: id,
        url,
        ordering_key: orderingKey(event),
        body,
        created_at: now,
        status: 'pending',
        attempts: 0,
        next_attempt_at: 0,
        last_error: null,
        dead_at: null,
      });
    }
  }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await tx.insertInto('webhook_outbox').values(rows.slice(i, i + INSERT_CHUNK)).execute();
  }
  return rows.length;
}
