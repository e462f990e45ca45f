/**
 * Numbered migrations, applied in order inside one transaction each. Written with Kysely's schema builder so
 * the same steps serve SQLite and, later, PostgreSQL; a step that must differ per dialect says so.
 */
import type { Kysely } from 'kysely';
import { imageStoreMigration } from './002_image_store.ts';
import { kmsMigration } from './003_kms.ts';
import { runDiskMetaMigration } from './004_run_disk_meta.ts';
import { webhookOutboxMigration } from './005_webhook_outbox.ts';
import { accessKeyLifecycleMigration } from './007_access_key_lifecycle.ts';
import { appsMigration } from './008_apps.ts';
import { instancesMigration } from './009_instances.ts';
import { artifactsMigration } from './010_artifacts.ts';
import { accountJobCountsMigration } from './011_account_job_counts.ts';
import { webhookOutboxLeasesMigration } from './012_webhook_outbox_leases.ts';
import { leasesMigration } from './013_leases.ts';
import { dropJobsTenantStateMigration } from './014_drop_jobs_tenant_state.ts';
import { partialClockIndexesMigration } from './015_partial_clock_indexes.ts';

export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<any>): Promise<void>;
}

const tenancy = ['account_id', 'region'] as const;

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'control plane: accounts, connectors, catalog, servers, jobs, runs',
    async up(db) {
      await db.schema
        .createTable('accounts')
        .addColumn('account_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('access_keys')
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        .addColumn('secret_access_key', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('connectors')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('connector_id', 'text', (c) => c.notNull().unique())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('label', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('registered_at', 'bigint')
        .addColumn('vm_manager_type', 'text')
        .addColumn('vm_manager_name', 'text')
        .addColumn('vm_manager_id', 'text')
        .addColumn('version', 'text')
        .addColumn('capabilities', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('ip_address', 'text')
        .addColumn('mac_address', 'text')
        .addColumn('last_heartbeat_at', 'bigint')
        .addColumn('reported_status', 'text')
        .addColumn('status_message', 'text')
        .addColumn('disassociated_at', 'bigint')
        .addColumn('last_inventory_at', 'bigint')
        .execute();
      await db.schema.createIndex('connectors_tenant').on('connectors').columns([...tenancy, 'seq']).execute();
      await db.schema
        .createTable('catalogs')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('last_modified_on', 'bigint')
        .addColumn('import_requested_at', 'bigint')
        .addColumn('status_before_import', 'text')
        .addPrimaryKeyConstraint('catalogs_pk', [...tenancy])
        .execute();
      await db.schema
        .createTable('servers')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('server_id', 'text', (c) => c.notNull().unique())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('connector_id', 'text', (c) => c.notNull())
        .addColumn('vm_manager_id', 'text', (c) => c.notNull())
        .addColumn('vm_manager_name', 'text', (c) => c.notNull())
        .addColumn('vm_manager_type', 'text', (c) => c.notNull())
        .addColumn('vm_id', 'text', (c) => c.notNull())
        .addColumn('vm_name', 'text', (c) => c.notNull())
        .addColumn('vm_path', 'text', (c) => c.notNull())
        .addColumn('replicable', 'integer', (c) => c.notNull())
        .addColumn('unsupported_reason', 'text')
        .addColumn('in_catalog', 'integer', (c) => c.notNull())
        .addColumn('replication_job_id', 'text')
        .addColumn('replication_job_terminated', 'integer')
        .addColumn('details', 'text')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('servers_vm_address', [...tenancy, 'vm_manager_id', 'vm_id'])
        .execute();
      await db.schema.createIndex('servers_tenant').on('servers').columns([...tenancy, 'in_catalog', 'seq']).execute();
      await db.schema
        .createTable('jobs')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('replication_job_id', 'text', (c) => c.notNull().unique())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('server_id', 'text', (c) => c.notNull())
        .addColumn('server_type', 'text', (c) => c.notNull())
        .addColumn('vm_server', 'text', (c) => c.notNull())
        .addColumn('vm_manager_id', 'text', (c) => c.notNull())
        .addColumn('seed_time', 'bigint', (c) => c.notNull())
        .addColumn('schedule_anchor', 'bigint', (c) => c.notNull())
        .addColumn('frequency', 'integer')
        .addColumn('run_once', 'integer', (c) => c.notNull())
        .addColumn('license_type', 'text')
        .addColumn('role_name', 'text')
        .addColumn('description', 'text')
        .addColumn('amis_to_keep', 'integer', (c) => c.notNull())
        .addColumn('encrypted', 'integer', (c) => c.notNull())
        .addColumn('kms_key_id', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('status_message', 'text')
        .addColumn('next_run_at', 'bigint')
        .addColumn('latest_ami_id', 'text')
        .addColumn('latest_run_seq', 'integer')
        .addColumn('consecutive_failures', 'integer', (c) => c.notNull())
        .addColumn('first_replication_at', 'bigint')
        .addColumn('paused_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('jobs_tenant').on('jobs').columns([...tenancy, 'seq']).execute();
      await db.schema.createIndex('jobs_server').on('jobs').columns(['server_id', 'state']).execute();
      // The per-account limit counted non-terminal jobs on every CreateReplicationJob (migration 14 drops this index).
      await db.schema.createIndex('jobs_tenant_state').on('jobs').columns([...tenancy, 'state']).execute();
      await db.schema.createIndex('jobs_state_paused').on('jobs').columns(['state', 'paused_at']).execute();
      await db.schema.createIndex('jobs_state_first').on('jobs').columns(['state', 'first_replication_at']).execute();
      await db.schema
        .createTable('runs')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('replication_run_id', 'text', (c) => c.notNull().unique())
        .addColumn('replication_job_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('scheduled_start_time', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('completed_time', 'bigint')
        .addColumn('status_message', 'text')
        .addColumn('stage', 'text')
        .addColumn('stage_progress', 'text')
        .addColumn('ami_id', 'text')
        .addColumn('ami_deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('description', 'text')
        .addColumn('encrypted', 'integer', (c) => c.notNull())
        .addColumn('kms_key_id', 'text')
        .addColumn('connector_id', 'text')
        .addColumn('lease_expires_at', 'bigint')
        .addColumn('miss_at', 'bigint')
        .addColumn('progress', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('runs_job').on('runs').columns(['replication_job_id', 'seq']).execute();
      await db.schema.createIndex('runs_due').on('runs').columns(['state', 'scheduled_start_time']).execute();
      await db.schema.createIndex('runs_lease').on('runs').columns(['state', 'lease_expires_at']).execute();
      await db.schema.createIndex('runs_miss').on('runs').columns(['state', 'miss_at']).execute();
      await db.schema
        .createTable('image_deletions')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('replication_job_id', 'text', (c) => c.notNull())
        .addColumn('ami_id', 'text', (c) => c.notNull())
        .addColumn('requested_at', 'bigint', (c) => c.notNull())
        .addColumn('done_at', 'bigint')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .execute();
      await db.schema.createIndex('image_deletions_pending').on('image_deletions').columns(['done_at', 'seq']).execute();
    },
  },
  imageStoreMigration,
  kmsMigration,
  runDiskMetaMigration,
  webhookOutboxMigration,
  accessKeyLifecycleMigration,
  appsMigration,
  instancesMigration,
  artifactsMigration,
  accountJobCountsMigration,
  webhookOutboxLeasesMigration,
  leasesMigration,
  dropJobsTenantStateMigration,
  partialClockIndexesMigration,
];

export interface MigrateOptions {
  /**
   * Runs first in every migration transaction and holds until it ends, so nodes starting together apply each
   * migration once: PostgreSQL takes an advisory transaction lock here. SQLite needs nothing: its transactions
   * begin IMMEDIATE (sqlite/durableDriver.ts), which already holds the one write lock.
   */
  lock?: (trx: Kysely<any>) => Promise<void>;
}

/** Applies the migrations not yet applied; returns the versions this call applied (none when another node did). */
export async function migrate(db: Kysely<any>, now: number, options: MigrateOptions = {}): Promise<number[]> {
  const lock = options.lock ?? (async () => {});
  await db.transaction().execute(async (trx) => {
    await lock(trx);
    await trx.schema
      .createTable('ferry_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'bigint', (c) => c.notNull())
      .execute();
  });
  const before = new Set((await db.selectFrom('ferry_migrations').select('version').execute()).map((r: { version: number }) => r.version));
  const ran: number[] = [];
  for (const migration of migrations) {
    if (before.has(migration.version)) continue;
    // The applied versions are read again under the lock: another node may have applied this one meanwhile.
    const applied = await db.transaction().execute(async (trx) => {
      await lock(trx);
      const done = await trx.selectFrom('ferry_migrations').select('version').where('version', '=', migration.version).executeTakeFirst();
      if (done) return false;
      await migration.up(trx);
      await trx.insertInto('ferry_migrations').values({ version: migration.version, name: migration.name, applied_at: now }).execute();
      return true;
    });
    if (applied) ran.push(migration.version);
  }
  return ran;
}
