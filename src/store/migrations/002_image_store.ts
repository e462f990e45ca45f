/**
 * Migration 2: the local image store's metadata (src/images). Blocks live in pack files under `<dataDir>/images`;
 * these tables index them, hold the unfinished runs' committed blocks and the finished images. Row types:
 * src/store/images/schema.ts.
 */
import { PostgresAdapter, type Kysely } from 'kysely';
import type { Migration } from './index.ts';

/** The two column types that differ between the dialects, named by what they hold. */
function columnTypes(db: Kysely<any>): { binary: 'blob' | 'bytea'; serial: 'integer' | 'bigserial' } {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return postgres ? { binary: 'bytea', serial: 'bigserial' } : { binary: 'blob', serial: 'integer' };
}

export const imageStoreMigration: Migration = {
  version: 2,
  name: 'image store: packs, block index, runs in progress, images and snapshots',
  async up(db) {
    const types = columnTypes(db);
    await db.schema
      .createTable('image_store_state')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('gc_generation', 'bigint', (c) => c.notNull())
      .addColumn('gc_owner', 'text')
      .addColumn('gc_lease_until', 'bigint')
      .execute();
    await db.insertInto('image_store_state').values({ id: 1, gc_generation: 1, gc_owner: null, gc_lease_until: null }).execute();

    await db.schema
      .createTable('image_keys')
      .addColumn('key_id', types.serial, (c) => (types.serial === 'integer' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('key_ref', 'text', (c) => c.notNull().unique())
      .execute();

    await db.schema
      .createTable('image_packs')
      .addColumn('pack_id', types.serial, (c) => (types.serial === 'integer' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('owner', 'text')
      .addColumn('end_offset', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('sealed_at', 'bigint')
      .execute();
    await db.schema.createIndex('image_packs_state').on('image_packs').columns(['state']).execute();

    // AUTOINCREMENT: a block id is never handed out twice, so a dangling reference finds nothing rather than
    // another block.
    await db.schema
      .createTable('image_blocks')
      .addColumn('block_id', types.serial, (c) => (types.serial === 'integer' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('storage_id', types.binary, (c) => c.notNull().unique())
      .addColumn('key_id', 'integer', (c) => c.notNull())
      .addColumn('pack_id', 'integer', (c) => c.notNull())
      .addColumn('pack_offset', 'bigint', (c) => c.notNull())
      .addColumn('stored_len', 'integer', (c) => c.notNull())
      .addColumn('raw_len', 'integer', (c) => c.notNull())
      .addColumn('flags', 'integer', (c) => c.notNull())
      .addColumn('gen', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('image_blocks_pack').on('image_blocks').columns(['pack_id', 'pack_offset']).execute();

    await db.schema
      .createTable('image_runs')
      .addColumn('run_seq', types.serial, (c) => (types.serial === 'integer' ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('run_id', 'text', (c) => c.notNull().unique())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('replication_job_id', 'text', (c) => c.notNull())
      .addColumn('parent_ami_id', 'text')
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('key_id', 'integer', (c) => c.notNull())
      .addColumn('compression', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('ami_id', 'text', (c) => c.notNull().unique())
      .addColumn('disks', 'text', (c) => c.notNull())
      .addColumn('block_watermark', 'bigint', (c) => c.notNull())
      .addColumn('begin_generation', 'bigint', (c) => c.notNull())
      .addColumn('new_blocks', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('new_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('image_runs_state').on('image_runs').columns(['state', 'parent_ami_id']).execute();

    await db.schema
      .createTable('image_run_blocks')
      .addColumn('run_seq', 'integer', (c) => c.notNull())
      .addColumn('disk_index', 'integer', (c) => c.notNull())
      .addColumn('block_index', 'bigint', (c) => c.notNull())
      .addColumn('block_id', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('image_run_blocks_pk', ['run_seq', 'disk_index', 'block_index'])
      .execute();

    await db.schema
      .createTable('images')
      .addColumn('ami_id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('replication_job_id', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('parent_ami_id', 'text')
      .addColumn('key_id', 'integer', (c) => c.notNull())
      .addColumn('encrypted', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('deleted_at', 'bigint')
      .addColumn('logical_bytes', 'bigint', (c) => c.notNull())
      .addColumn('data_blocks', 'bigint', (c) => c.notNull())
      .addColumn('distinct_blocks', 'bigint', (c) => c.notNull())
      .addColumn('new_blocks', 'bigint', (c) => c.notNull())
      .addColumn('new_bytes', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('images_tenant').on('images').columns(['account_id', 'region', 'state', 'created_at']).execute();
    await db.schema.createIndex('images_job').on('images').columns(['replication_job_id', 'created_at']).execute();

    await db.schema
      .createTable('image_snapshots')
      .addColumn('snapshot_id', 'text', (c) => c.primaryKey())
      .addColumn('ami_id', 'text', (c) => c.notNull())
      .addColumn('disk_index', 'integer', (c) => c.notNull())
      .addColumn('size_bytes', 'bigint', (c) => c.notNull())
      .addColumn('block_count', 'bigint', (c) => c.notNull())
      .addColumn('data_blocks', 'bigint', (c) => c.notNull())
      .addColumn('manifest_sha256', 'text', (c) => c.notNull())
      .addUniqueConstraint('image_snapshots_disk', ['ami_id', 'disk_index'])
      .execute();
  },
};
