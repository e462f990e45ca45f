/**
 * Migration 5: the webhook outbox. One row per (state-change event, webhook URL), written in the transaction that
 * made the change (src/observability/webhooks/outbox.ts), deleted once delivered; rows that ran out of attempts stay
 * with status `dead` (the dead letters).
 */
import type { Migration } from './index.ts';

export const webhookOutboxMigration: Migration = {
  version: 5,
  name: 'webhook outbox',
  async up(db) {
    await db.schema
      .createTable('webhook_outbox')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      // Events with the same key (the replication job) are delivered to a URL one at a time, in seq order.
      .addColumn('ordering_key', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('dead_at', 'bigint')
      .execute();
    await db.schema.createIndex('webhook_outbox_due').on('webhook_outbox').columns(['status', 'url', 'seq']).execute();
  },
};
