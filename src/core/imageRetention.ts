/**
 * The hook through which retention (`numberOfRecentAmisToKeep`) reaches the image store. The domain decides which
 * images to retire and queues them in `image_deletions` in the same transaction; the scheduler drains the queue
 * through this hook, retrying with backoff, so a crash never loses a deletion.
 */
import { coerceError } from '../lib/errors.ts';
import type { Core } from './context.ts';
import type { ImageDeleter } from '../images/types.ts';
import * as runs from '../store/runs/index.ts';
import { tenantOf } from '../domain/tenant.ts';

/**
 * Thrown by a deleter when the image must not go yet (an instance still boots from it, not yet hydrated): the entry
 * stays queued without counting as a failure, and is tried again at a later drain (src/imageLifecycle.ts).
 */
export class ImageDeletionDeferred extends Error {}

const MAX_BATCH = 50;

export async function drainImageDeletions(core: Core, deleter: ImageDeleter, now: number): Promise<{ done: number; failed: number; deferred: number }> {
  const queued = await runs.pendingDeletions(core.db, MAX_BATCH);
  let done = 0;
  let failed = 0;
  let deferred = 0;
  for (const item of queued) {
    // Back off exponentially per entry: 2^attempts seconds, capped at an hour.
    if (item.attempts > 0 && now < item.requested_at + Math.min(2 ** item.attempts * 1000, 3_600_000)) continue;
    try {
      await deleter.deleteImage(tenantOf(item), item.replication_job_id, item.ami_id);
      await runs.markDeletionDone(core.db, item.seq, now);
      done++;
    } catch (thrown) {
      const error = coerceError(thrown);
      if (thrown instanceof ImageDeletionDeferred) {
        // Not a failure: no backoff; the reason is kept for whoever looks at the queue.
        deferred++;
        if (item.last_error !== error.message) await runs.noteDeletionDeferred(core.db, item.seq, error.message);
        continue;
      }
      failed++;
      core.log.warn({ amiId: item.ami_id, err: error.message }, 'image deletion failed; will retry');
      await runs.noteDeletionFailed(core.db, item.seq, item.attempts + 1, error.message, now);
    }
  }
  return { done, failed, deferred };
}
