/**
 * Migration 12: claims on webhook outbox rows, so that several nodes share one outbox and deliver each event once.
 * A node claims due rows by writing its id and a lease end; a lease that runs out (the node died) makes the row
 * claimable again. Delivered rows are marked (status `delivered`, delivered_at) and purged later, instead of being
 * deleted by the one process that sent them. Plain columns only: the same DDL runs on SQLite and PostgreSQL.
 */
import type { Migration } from './index.ts';

export const webhookOutboxLeasesMigration: Migration = {
  version: 12,
  name: 'webhook outbox leases',
  async up(db) {
    await db.schema.alterTable('webhook_outbox').addColumn('claimed_by', 'text').execute();
    await db.schema.alterTable('webhook_outbox').addColumn('lease_until', 'bigint').execute();
    await db.schema.alterTable('webhook_outbox').addColumn('delivered_at', 'bigint').execute();
    // The purge of delivered rows reads by status and time.
    await db.schema.createIndex('webhook_outbox_delivered').on('webhook_outbox').columns(['status', 'delivered_at']).execute();
  },
};
