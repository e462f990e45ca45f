/**
 * Migration 13: leadership leases (domain/leadership.ts), one row per role. The scheduler's row says which node
 * applies the time-driven rules; the row outlives a killed holder and simply runs out. Plain columns only: the same
 * DDL runs on SQLite and PostgreSQL.
 */
import type { Migration } from './index.ts';

export const leasesMigration: Migration = {
  version: 13,
  name: 'leadership leases',
  async up(db) {
    await db.schema
      .createTable('leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('term', 'bigint', (c) => c.notNull())
      .addColumn('acquired_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
