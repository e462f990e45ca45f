/**
 * Migration 10: the artifact buckets' index (src/artifacts/local). Object bytes live in files under
 * `<data-dir>/artifacts`, named by generated blob ids; these tables say which blobs make up which object, the open
 * multipart uploads and their parts, and the blobs waiting to be deleted. Row types: src/store/artifacts/artifactTables.ts.
 */
import type { Migration } from './index.ts';

export const artifactsMigration: Migration = {
  version: 10,
  name: 'artifact buckets: buckets, objects, multipart uploads, parts, blob garbage',
  async up(db) {
    await db.schema
      .createTable('artifact_buckets')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('artifact_buckets_account').on('artifact_buckets').columns(['account_id', 'name']).execute();

    // Listings walk (bucket, key) in byte order of the UTF-8 key, as S3 lists: SQLite's BINARY collation compares
    // UTF-8 bytes; a PostgreSQL version of this table needs COLLATE "C" on `key`.
    await db.schema
      .createTable('artifact_objects')
      .addColumn('bucket', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('etag', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      // The bytes: one blob (a plain PUT) or, for a multipart upload, a JSON array of [blob id, bytes] per part.
      .addColumn('blob_id', 'text')
      .addColumn('segments', 'text')
      .addColumn('part_count', 'integer')
      .addColumn('last_modified', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('artifact_objects_pk', ['bucket', 'key'])
      .execute();
    // When the store opens, blobs left in incoming/ are looked up by id (blobFiles.ts).
    await db.schema.createIndex('artifact_objects_blob').on('artifact_objects').columns(['blob_id']).execute();

    await db.schema
      .createTable('artifact_uploads')
      .addColumn('upload_id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('bucket', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text')
      .addColumn('metadata', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('artifact_uploads_bucket').on('artifact_uploads').columns(['bucket', 'key']).execute();
    await db.schema.createIndex('artifact_uploads_account').on('artifact_uploads').columns(['account_id']).execute();

    await db.schema
      .createTable('artifact_parts')
      .addColumn('upload_id', 'text', (c) => c.notNull())
      .addColumn('part_number', 'integer', (c) => c.notNull())
      .addColumn('blob_id', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('etag', 'text', (c) => c.notNull())
      .addColumn('last_modified', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('artifact_parts_pk', ['upload_id', 'part_number'])
      .execute();
    await db.schema.createIndex('artifact_parts_blob').on('artifact_parts').columns(['blob_id']).execute();

    // Blobs no row refers to any more, written in the transaction that dropped the reference and deleted after it
    // commits; whatever a crash leaves here is deleted when the store opens.
    await db.schema
      .createTable('artifact_garbage')
      .addColumn('blob_id', 'text', (c) => c.primaryKey())
      .addColumn('queued_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
