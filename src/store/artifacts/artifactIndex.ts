/**
 * The artifact index as stored: buckets, objects, the key listing and the queue of blobs to delete (multipart
 * uploads: uploadIndex.ts). Rows in and out; what they mean to the S3 API (errors, wire shapes) is src/artifacts'.
 */
import type { Transaction } from 'kysely';
import type { ArtifactBucketsTable, ArtifactDb, ArtifactObjectsTable, ArtifactTables, Segment } from './artifactTables.ts';

export type ArtifactTx = Transaction<ArtifactTables>;
export type Queryable = ArtifactDb | ArtifactTx;

/** Fails when the artifact tables cannot be read (a store without migration 010). */
export async function probeArtifactTables(db: Queryable): Promise<void> {
  await db.selectFrom('artifact_garbage').select('blob_id').limit(1).execute();
}

export function bucketRow(db: Queryable, name: string): Promise<ArtifactBucketsTable | undefined> {
  return db.selectFrom('artifact_buckets').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function countBuckets(db: Queryable, accountId: string): Promise<number> {
  const row = await db
    .selectFrom('artifact_buckets')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The account's buckets by name. */
export function bucketRowsOf(db: Queryable, accountId: string): Promise<ArtifactBucketsTable[]> {
  return db.selectFrom('artifact_buckets').selectAll().where('account_id', '=', accountId).orderBy('name').execute();
}

export async function insertBucket(db: Queryable, row: ArtifactBucketsTable): Promise<void> {
  await db.insertInto('artifact_buckets').values(row).execute();
}

export async function deleteBucket(db: Queryable, name: string): Promise<void> {
  await db.deleteFrom('artifact_buckets').where('name', '=', name).execute();
}

export async function bucketHasObjects(db: Queryable, name: string): Promise<boolean> {
  return (await db.selectFrom('artifact_objects').select('key').where('bucket', '=', name).limit(1).executeTakeFirst()) !== undefined;
}

export async function findObject(db: Queryable, bucket: string, key: string): Promise<ArtifactObjectsTable | undefined> {
  return db.selectFrom('artifact_objects').selectAll().where('bucket', '=', bucket).where('key', '=', key).executeTakeFirst();
}

/** The blobs holding an object's bytes, in order. */
export function segmentsOf(row: Pick<ArtifactObjectsTable, 'blob_id' | 'segments' | 'size'>): Segment[] {
  if (row.blob_id !== null) return [[row.blob_id, Number(row.size)]];
  return JSON.parse(row.segments ?? '[]') as Segment[];
}

/** Puts `row` in place of whatever the key held; returns the blobs the replaced version used (now garbage). */
export async function replaceObject(trx: ArtifactTx, row: ArtifactObjectsTable): Promise<string[]> {
  const old = await findObject(trx, row.bucket, row.key);
  if (old) {
    await trx.updateTable('artifact_objects').set(row).where('bucket', '=', row.bucket).where('key', '=', row.key).execute();
  } else {
    await trx.insertInto('artifact_objects').values(row).execute();
  }
  return old ? segmentsOf(old).map(([id]) => id) : [];
}

/** Deletes the key's row if there is one; returns the blobs it used. */
export async function deleteObjectRow(trx: ArtifactTx, bucket: string, key: string): Promise<string[]> {
  const old = await trx.deleteFrom('artifact_objects').where('bucket', '=', bucket).where('key', '=', key).returning(['blob_id', 'segments', 'size']).executeTakeFirst();
  return old ? segmentsOf(old).map(([id]) => id) : [];
}

export async function queueGarbage(trx: ArtifactTx, blobIds: readonly string[], now: number): Promise<void> {
  for (let i = 0; i < blobIds.length; i += 500) {
    const values = blobIds.slice(i, i + 500).map((blob_id) => ({ blob_id, queued_at: now }));
    await trx.insertInto('artifact_garbage').values(values).onConflict((oc) => oc.column('blob_id').doNothing()).execute();
  }
}

/** Every blob queued for deletion. */
export async function queuedGarbage(db: Queryable): Promise<string[]> {
  return (await db.selectFrom('artifact_garbage').select('blob_id').execute()).map((r) => r.blob_id);
}

/** Takes deleted blobs off the queue. */
export async function dropGarbage(db: Queryable, blobIds: readonly string[]): Promise<void> {
  for (let i = 0; i < blobIds.length; i += 500) await db.deleteFrom('artifact_garbage').where('blob_id', 'in', blobIds.slice(i, i + 500)).execute();
}

/** Of `ids`, those a committed row refers to (an object's blob or a part). */
export async function referencedBlobs(db: Queryable, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    for (const r of await db.selectFrom('artifact_objects').select('blob_id').where('blob_id', 'in', batch).execute()) found.add(r.blob_id!);
    for (const r of await db.selectFrom('artifact_parts').select('blob_id').where('blob_id', 'in', batch).execute()) found.add(r.blob_id);
  }
  return found;
}

const LISTED_COLUMNS = ['key', 'size', 'etag', 'content_type', 'last_modified'] as const;
export type ListedRow = Pick<ArtifactObjectsTable, (typeof LISTED_COLUMNS)[number]>;

/** Keys of `bucket` in byte order from a position, within [low, high) when given (a prefix's range). */
export async function keysFrom(
  db: Queryable,
  bucket: string,
  from: { key: string; inclusive: boolean } | undefined,
  range: { low: string; high: string | undefined },
  limit: number,
): Promise<ListedRow[]> {
  let query = db.selectFrom('artifact_objects').select(LISTED_COLUMNS).where('bucket', '=', bucket);
  if (range.low !== '') query = query.where('key', '>=', range.low);
  if (range.high !== undefined) query = query.where('key', '<', range.high);
  if (from) query = query.where('key', from.inclusive ? '>=' : '>', from.key);
  return query.orderBy('key').limit(limit).execute();
}
