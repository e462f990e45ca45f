/**
 * Migration 7: access keys get a lifecycle and leave plain text behind. Each key now records where it came from
 * (`origin`), when it was deleted (`deleted_at`: a deleted key id never authenticates again and never comes back),
 * and its secret sealed under the master key (`sealed_secret`, with the master key's fingerprint). Row type:
 * src/store/schema.ts; the rules: src/core/accessKeys.ts.
 *
 * A migration holds no master key, so secrets of keys made before it move to `plain_secret` and are sealed (and the
 * column cleared) by the first process that loads the master key: `ferry serve` at start, or a `ferry accounts`
 * command (core/secretsAtRest.ts). The old rows are blanked before the old table is dropped, so with the store's
 * secure_delete the secrets do not linger in freed pages.
 *
 * Origins: `created` (ferry accounts create / keys create), `environment` and `generated` (the root account's key from
 * FERRY_ROOT_* or generated into root-credentials.json), `legacy` (a root key from before this migration: it came
 * from one of those two, and is replaced like them).
 */
import { sql } from 'kysely';
import type { Migration } from './index.ts';

export const accessKeyLifecycleMigration: Migration = {
  version: 7,
  name: 'access keys: origin, revocation, sealed secrets',
  async up(db) {
    await db.schema
      .createTable('access_keys_v7')
      .addColumn('access_key_id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id'))
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('sealed_secret', 'text')
      .addColumn('master_key_fingerprint', 'text')
      .addColumn('plain_secret', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deleted_at', 'bigint')
      .execute();
    await sql`
      insert into access_keys_v7 (access_key_id, account_id, origin, plain_secret, created_at)
      select k.access_key_id, k.account_id, case when a.name = 'root' then 'legacy' else 'created' end, k.secret_access_key, k.created_at
      from access_keys k left join accounts a on a.account_id = k.account_id`.execute(db);
    await db.updateTable('access_keys').set({ secret_access_key: '' }).execute();
    await db.schema.dropTable('access_keys').execute();
    await db.schema.alterTable('access_keys_v7').renameTo('access_keys').execute();
    await db.schema.createIndex('access_keys_account').on('access_keys').columns(['account_id', 'deleted_at']).execute();
  },
};
