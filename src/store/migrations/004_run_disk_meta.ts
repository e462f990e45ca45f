/** Migration 4: connector-owned facts kept per run and disk (the dirty bitmap that tracks changes since it). */
import type { Migration } from './index.ts';

export const runDiskMetaMigration: Migration = {
  version: 4,
  name: 'run disk metadata',
  async up(db) {
    await db.schema
      .createTable('run_disk_meta')
      .addColumn('replication_run_id', 'text', (c) => c.notNull())
      .addColumn('disk_index', 'integer', (c) => c.notNull())
      .addColumn('meta', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_disk_meta_pk', ['replication_run_id', 'disk_index'])
      .execute();
  },
};
