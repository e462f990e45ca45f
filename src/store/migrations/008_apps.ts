/**
 * Migration 8: applications (spec §7). Apps, their server groups and member servers (each server in at most one
 * app, enforced by a unique index), per-server replication and launch configuration, the instances a launch asks
 * for (one row per server and launch, so a restart never launches a server twice), validation configuration and
 * outputs, the operator-loaded application catalog behind ImportAppCatalog, and the per-tenant SSH key pairs that
 * `ec2KeyName` names. Every row carries (account, region).
 */
import type { Migration } from './index.ts';

const tenancy = ['account_id', 'region'] as const;

export const appsMigration: Migration = {
  version: 8,
  name: 'applications, server groups, launch and validation configuration, key pairs',
  async up(db) {
    await db.schema
      .createTable('apps')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('app_id', 'text', (c) => c.notNull().unique())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('imported_app_id', 'text')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('role_name', 'text')
      .addColumn('client_token', 'text')
      .addColumn('request_hash', 'text')
      .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_message', 'text')
      .addColumn('replication_configured', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('replication_phase', 'text', (c) => c.notNull())
      .addColumn('replication_status', 'text', (c) => c.notNull())
      .addColumn('replication_status_message', 'text')
      .addColumn('latest_replication_time', 'bigint')
      .addColumn('first_replicated_at', 'bigint')
      .addColumn('launch_configured', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('launch_role_name', 'text')
      .addColumn('auto_launch', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('launch_phase', 'text', (c) => c.notNull())
      .addColumn('launch_seq', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('launch_status', 'text', (c) => c.notNull())
      .addColumn('launch_status_message', 'text')
      .addColumn('latest_launch_time', 'bigint')
      .addColumn('stack_name', 'text')
      .addColumn('stack_id', 'text')
      .addColumn('launched_configuration', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('apps_tenant').on('apps').columns([...tenancy, 'seq']).execute();
    // CreateApp's clientToken: one app per token and tenant, so a retried request finds the app it created.
    await db.schema.createIndex('apps_client_token').on('apps').columns([...tenancy, 'client_token']).unique().execute();
    await db.schema.createIndex('apps_imported').on('apps').columns([...tenancy, 'imported_app_id']).execute();
    await db.schema.createIndex('apps_launch_phase').on('apps').columns(['launch_phase']).execute();

    await db.schema
      .createTable('app_server_groups')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('server_group_id', 'text', (c) => c.notNull().unique())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('launch_order', 'integer')
      .execute();
    await db.schema.createIndex('app_server_groups_app').on('app_server_groups').columns(['app_id', 'position']).execute();

    await db.schema
      .createTable('app_servers')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      // A server belongs to at most one app: the unique constraint makes that hold even for concurrent requests.
      .addColumn('server_id', 'text', (c) => c.notNull().unique())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('server_group_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('replication_parameters', 'text')
      .addColumn('launch_configuration', 'text')
      .addColumn('replication_job_id', 'text')
      .execute();
    await db.schema.createIndex('app_servers_app').on('app_servers').columns(['app_id', 'position']).execute();
    // Every job or run state change looks up the app of its job here (the status hook), so it must be indexed.
    await db.schema.createIndex('app_servers_job').on('app_servers').columns(['replication_job_id']).execute();

    await db.schema
      .createTable('app_instances')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('launch_seq', 'integer', (c) => c.notNull())
      .addColumn('server_id', 'text', (c) => c.notNull())
      .addColumn('wave', 'integer', (c) => c.notNull())
      .addColumn('ami_id', 'text', (c) => c.notNull())
      .addColumn('launch_token', 'text', (c) => c.notNull().unique())
      .addColumn('instance_id', 'text')
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('message', 'text')
      .addColumn('requested_at', 'bigint')
      .addColumn('running_at', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('app_instances_once', ['app_id', 'launch_seq', 'server_id'])
      .execute();
    await db.schema.createIndex('app_instances_instance').on('app_instances').columns(['instance_id']).execute();

    await db.schema
      .createTable('app_validations')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('validation_id', 'text', (c) => c.notNull().unique())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('server_group_id', 'text')
      .addColumn('server_id', 'text')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('configuration', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('app_validations_app').on('app_validations').columns(['app_id', 'position']).execute();

    await db.schema
      .createTable('app_validation_outputs')
      .addColumn('validation_id', 'text', (c) => c.primaryKey())
      .addColumn('app_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_message', 'text')
      .addColumn('output_bucket', 'text')
      .addColumn('output_key', 'text')
      .addColumn('reported_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('app_validation_outputs_app').on('app_validation_outputs').columns(['app_id']).execute();

    await db.schema
      .createTable('app_catalog')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('imported_app_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('servers', 'text', (c) => c.notNull())
      .addColumn('loaded_at', 'bigint', (c) => c.notNull())
      .addColumn('import_result', 'text')
      .addUniqueConstraint('app_catalog_entry', [...tenancy, 'imported_app_id'])
      .execute();

    await db.schema
      .createTable('key_pairs')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('key_name', 'text', (c) => c.notNull())
      .addColumn('key_type', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('key_pairs_name', [...tenancy, 'key_name'])
      .execute();
  },
};
