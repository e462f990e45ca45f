/**
 * Migration 3: the KMS-style keyring (src/kms). Keys per (account, region) with their wrapped material, and aliases
 * (`alias/NAME`) unique per (account, region). Row types: src/store/kms/kmsTables.ts.
 */
import type { Migration } from './index.ts';

export const kmsMigration: Migration = {
  version: 3,
  name: 'kms: keys and aliases',
  async up(db) {
    await db.schema
      .createTable('kms_keys')
      .addColumn('key_id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('arn', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text')
      .addColumn('key_manager', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('wrapped_material', 'text')
      .addColumn('wrapped_data_key', 'text')
      .addColumn('master_key_fingerprint', 'text')
      .execute();
    await db.schema.createIndex('kms_keys_tenant').on('kms_keys').columns(['account_id', 'region', 'created_at']).execute();
    await db.schema
      .createTable('kms_aliases')
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('alias_name', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.key_id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('kms_aliases_pk', ['account_id', 'region', 'alias_name'])
      .execute();
    await db.schema.createIndex('kms_aliases_key').on('kms_aliases').column('key_id').execute();
  },
};
