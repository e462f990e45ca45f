/**
 * The garbage table as blobs shared by several nodes use it (src/artifacts/local/sharedBlobs.ts says why): a row
 * for a blob being received (pending: its `queued_at` is a lease end the receiver pushes forward), claimed in the
 * commit that first refers to the blob; and garbage claimed by one node before it deletes the bytes.
 */
import { sql } from 'kysely';
import type { ArtifactTx, Queryable } from './artifactIndex.ts';
import type { Segment } from './artifactTables.ts';

/** Records a blob about to be received; collectable once `until` (and the grace) has passed. */
export async function insertPending(db: Queryable, blobId: string, until: number): Promise<void> {
  await db.insertInto('artifact_garbage').values({ blob_id: blobId, queued_at: until }).execute();
}

/** Pushes a pending blob's lease end forward (nothing when it was claimed meanwhile). */
export async function renewPending(db: Queryable, blobId: string, until: number): Promise<void> {
  await db.updateTable('artifact_garbage').set({ queued_at: until }).where('blob_id', '=', blobId).execute();
}

/** Takes a pending blob off the garbage table; false when a collector claimed it first (its bytes may be gone). */
export async function takePending(db: Queryable | ArtifactTx, blobId: string): Promise<boolean> {
  const result = await db.deleteFrom('artifact_garbage').where('blob_id', '=', blobId).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** Garbage queued at or before `cutoff`, at most `limit` rows. */
export async function garbageBefore(db: Queryable, cutoff: number, limit: number): Promise<string[]> {
  return (await db.selectFrom('artifact_garbage').select('blob_id').where('queued_at', '<=', cutoff).limit(limit).execute()).map((r) => r.blob_id);
}

/**
 * Deletes the rows of `blobIds` still queued at or before `cutoff` and returns the ids it deleted: this node's to
 * delete the bytes of, and no other's (a second collector's delete finds no row), nor a receiver's (its commit finds
 * none and fails).
 */
export async function claimGarbage(db: Queryable, blobIds: readonly string[], cutoff: number): Promise<string[]> {
  if (blobIds.length === 0) return [];
  const rows = await db.deleteFrom('artifact_garbage').where('blob_id', 'in', blobIds).where('queued_at', '<=', cutoff).returning('blob_id').execute();
  return rows.map((r) => r.blob_id);
}

/**
 * Every blob a row refers to (an object, in blob_id or segments; a part; the garbage table), read in ONE statement
 * so that it is one snapshot on PostgreSQL as on SQLite: a blob moving from one table to another in a transaction
 * (a pending blob committed, parts completed into an object, an object replaced) is seen in one place or the other.
 */
export async function everyReferencedBlob(db: Queryable): Promise<Set<string>> {
  const rows = await db
    .selectFrom('artifact_objects')
    .select(['blob_id', 'segments'])
    .unionAll(db.selectFrom('artifact_parts').select(['blob_id', sql<string | null>`null`.as('segments')]))
    .unionAll(db.selectFrom('artifact_garbage').select(['blob_id', sql<string | null>`null`.as('segments')]))
    .execute();
  const found = new Set<string>();
  for (const row of rows) {
    if (row.blob_id !== null) found.add(row.blob_id);
    if (row.segments !== null) for (const [id] of JSON.parse(row.segments) as Segment[]) found.add(id);
  }
  return found;
}
