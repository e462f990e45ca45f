/**
 * When an unfinished upload of a pack into block storage (an S3 multipart upload) is a leftover to abort. A node
 * killed while a pack streams leaves one behind: invisible to readers and listings, but its parts are stored (and
 * billed) until someone aborts it, and nothing in Ferry ever completes it (the pack's recovery uploads it afresh).
 *
 * The caller reads the index's pack states first, then lists the uploads. That order is what makes two states safe
 * without any clock:
 * - sealed: a pack is sealed only after its upload completed, and nothing uploads a sealed pack again, so an upload
 *   still listed after the pack was seen sealed can only be a dead writer's;
 * - newer than every pack the index had (pack ids only grow): its writer may have created it after the index was
 *   read, so it is never touched (the next sweep sees it in the index).
 * The other states need an age, and the object store's own start time is not always to be trusted (moto_server
 * answers a fixed date in 2010 for every upload), so an open pack's age is counted from the later of the upload's
 * start and the pack's creation in the index:
 * - gone (an id below the newest, not in the index: the pack was deleted by compaction or GC): an hour by the store's
 *   clock, against a row committed out of id order by another node;
 * - open, its writer known dead: the pack is its recovery's to re-upload; an hour covers that recovery's own
 *   upload, which may have begun after the index was read;
 * - open, its writer alive or not known from here (another host): streaming, so left a day. A pack stays open that
 *   long only when its node never came back; should it come back, its seal fails on the aborted upload and the next
 *   flush uploads the pack again from the local file, so nothing is lost.
 */

export type PackStateForUpload =
  | { state: 'sealed' }
  | { state: 'newer' }
  | { state: 'gone' }
  | { state: 'open'; writerAlive: boolean; createdAt: number };

export const GONE_PACK_GRACE_MS = 60 * 60_000;
export const DEAD_WRITER_GRACE_MS = 60 * 60_000;
export const LIVE_WRITER_GRACE_MS = 24 * 60 * 60_000;

/** True when the upload begun at `startedAt` (the object store's clock) should be aborted at `now`. */
export function unfinishedUploadIsLeftover(pack: PackStateForUpload, startedAt: number, now: number): boolean {
  switch (pack.state) {
    case 'sealed':
      return true;
    case 'newer':
      return false;
    case 'gone':
      return now - startedAt >= GONE_PACK_GRACE_MS;
    case 'open':
      return now - Math.max(startedAt, pack.createdAt) >= (pack.writerAlive ? LIVE_WRITER_GRACE_MS : DEAD_WRITER_GRACE_MS);
  }
}

/** What the index says of the pack an upload is for, from the states read before the listing (a name that is no pack's is kept, like a newer pack). */
export function packStateForUpload(
  packId: number | undefined,
  index: { sealed: ReadonlySet<number>; open: ReadonlyMap<number, { writerAlive: boolean; createdAt: number }>; newestPackId: number },
): PackStateForUpload {
  if (packId === undefined || packId > index.newestPackId) return { state: 'newer' };
  if (index.sealed.has(packId)) return { state: 'sealed' };
  const open = index.open.get(packId);
  return open ? { state: 'open', ...open } : { state: 'gone' };
}
