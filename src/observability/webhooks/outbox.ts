/**
 * The webhook outbox (migration 005): rows are written by `stageEvents` inside the very transaction that changes a
 * job or run (Core.beforeCommit), so an event exists exactly when its change committed — a crash can lose neither
 * one without the other. Dispatchers claim due rows with a lease and mark each delivered once its URL accepted it
 * (store/outbox/outboxRepository.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Tx } from '../../core/context.ts';
import type { FerryEvent } from '../../core/events.ts';
import type { OutboxDb } from '../../store/outbox/outboxTable.ts';
import { insertOutboxRows, type OutboxInsert } from '../../store/outbox/outboxRepository.ts';
import * as runs from '../../store/runs/index.ts';
import { isStateEvent, orderingKey, toCloudWatchEvent } from './event.ts';

/**
 * Writes one row per (job or run state event, URL). `eventTime` is the change's time (the service clock); the
 * delivery bookkeeping uses real time, like every timer.
 */
export async function stageEvents(core: Tx, events: readonly FerryEvent[], urls: readonly string[], eventTime: number): Promise<number> {
  const tx = core as unknown as Transaction<OutboxDb>;
  const now = Date.now();
  const rows: OutboxInsert[] = [];
  for (const event of events) {
    if (!isStateEvent(event)) continue;
    let amiId: string | null = null;
    if (event.type === 'run.state' && event.state === 'COMPLETED') {
      amiId = await runs.amiOf(core, event.replicationRunId);
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
  await insertOutboxRows(tx, rows);
  return rows.length;
}
