/**
 * Migration 9: launched instances (src/launch). One row per instance with its lifecycle state, what it was launched
 * from, the facts a restart needs to resume it (see src/launch/launchSteps.ts), and one row per validation it runs.
 * `launch_host` holds this installation's random id, written into every domain's metadata so Ferry never touches
 * domains another Ferry (or anyone else) made on the same libvirt.
 */
import type { Migration } from './index.ts';

export const instancesMigration: Migration = {
  version: 9,
  name: 'launched instances',
  async up(db) {
    await db.schema
      .createTable('instances')
      .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('instance_id', 'text', (c) => c.notNull().unique())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('app_id', 'text')
      .addColumn('server_id', 'text', (c) => c.notNull())
      .addColumn('ami_id', 'text', (c) => c.notNull())
      .addColumn('domain_name', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('state_message', 'text')
      .addColumn('hydration', 'text', (c) => c.notNull())
      .addColumn('hydration_message', 'text')
      // The resolved launch plan (devices, network, sizes, disks, labels): JSON, fixed at launch.
      .addColumn('plan', 'text', (c) => c.notNull())
      // User data, SSH key and validation scripts until the seed is written (then NULL): JSON.
      .addColumn('inputs', 'text')
      // Per-instance secret that authenticates validation lines on the console (instanceConsole.ts).
      .addColumn('console_nonce', 'text', (c) => c.notNull())
      .addColumn('launched_at', 'bigint', (c) => c.notNull())
      .addColumn('boot_started_at', 'bigint')
      .addColumn('boot_deadline_at', 'bigint')
      .addColumn('booted_at', 'bigint')
      .addColumn('validation_deadline_at', 'bigint')
      .addColumn('hydrated_at', 'bigint')
      .addColumn('terminated_at', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('instances_tenant').on('instances').columns(['account_id', 'region', 'seq']).execute();
    await db.schema.createIndex('instances_state').on('instances').columns(['state']).execute();
    await db.schema
      .createTable('instance_validations')
      .addColumn('instance_id', 'text', (c) => c.notNull())
      .addColumn('validation_id', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('message', 'text')
      .addColumn('at', 'bigint')
      .addPrimaryKeyConstraint('instance_validations_pk', ['instance_id', 'validation_id'])
      .execute();
    await db.schema
      .createTable('launch_host')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('owner_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
