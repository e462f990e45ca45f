/**
 * The queue of images retention retired (runs.retireImages queues them with the runs' change): what the scheduler
 * drains, and what each attempt leaves behind (done, its error, its backoff count).
 */
import type { Selectable } from 'kysely';
import type { Executor } from '../executor.ts';
import type { ImageDeletionsTable } from '../schema.ts';

export type QueuedImageDeletion = Selectable<ImageDeletionsTable>;

/** The oldest `limit` deletions not done yet, in queue order. */
export function pendingDeletions(db: Executor, limit: number): Promise<QueuedImageDeletion[]> {
  return db.selectFrom('image_deletions').selectAll().where('done_at', 'is', null).orderBy('seq').limit(limit).execute();
}

export async function markDeletionDone(db: Executor, seq: number, now: number): Promise<void> {
  await db.updateTable('image_deletions').set({ done_at: now }).where('seq', '=', seq).execute();
}

/** Why the deletion waits (not a failure: no backoff). */
export async function noteDeletionDeferred(db: Executor, seq: number, reason: string): Promise<void> {
  await db.updateTable('image_deletions').set({ last_error: reason }).where('seq', '=', seq).execute();
}

/** A failed attempt: its error, one more attempt counted, and the backoff measured from `now`. */
export async function noteDeletionFailed(db: Executor, seq: number, attempts: number, error: string, now: number): Promise<void> {
  await db.updateTable('image_deletions').set({ attempts, last_error: error, requested_at: now }).where('seq', '=', seq).execute();
}
