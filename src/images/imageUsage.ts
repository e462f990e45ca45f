/**
 * What one image costs: its distinct blocks' stored bytes, how many it shares with other available images of its
 * account, and what deleting it would free. Reads the manifests of the account's available images (their data
 * entries only) and reads the index rows of the image's own blocks; memory is one bit per block id plus the
 * image's distinct block ids.
 *
 * Only the image's own account counts: blocks are stored per account (see blockSealer.ts), and even blocks an older
 * store shared across accounts must not let one account's figures reveal what another holds.
 */
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import { BitSet } from './bitSet.ts';
import type { ImageDb } from './db.ts';
import { snapshotsOfOtherImages, storedLengthsBetween, storedLengthsOf, type StoredLength } from '../store/images/index.ts';
import { openManifest } from './manifest.ts';
import type { ImageDetails } from './types.ts';

const PAGE = 8192;

export interface SnapshotRef {
  snapshotId: string;
  sha256: string;
}

export async function forEachManifestId(path: string, sha256: string, visit: (id: number) => void): Promise<void> {
  const reader = await openManifest(path);
  try {
    for await (const chunk of reader.chunks(sha256)) for (const id of chunk.ids) visit(id);
  } finally {
    await reader.close();
  }
}

export async function imageUsage(
  db: ImageDb,
  manifestPath: (snapshotId: string) => Promise<string>,
  image: { amiId: string; accountId: string },
  own: readonly SnapshotRef[],
): Promise<ImageDetails['usage']> {
  const mine = new BitSet();
  let ids = new Float64Array(1024);
  let distinct = 0;
  for (const snap of own) {
    await forEachManifestId(await manifestPath(snap.snapshotId), snap.sha256, (id) => {
      if (!mine.add(id)) return;
      if (distinct === ids.length) {
        const grown = new Float64Array(ids.length * 2);
        grown.set(ids);
        ids = grown;
      }
      ids[distinct++] = id;
    });
  }
  const shared = new BitSet();
  const others = await snapshotsOfOtherImages(db, image);
  for (const snap of others) {
    await forEachManifestId(await manifestPath(snap.snapshotId), snap.manifestSha256, (id) => {
      if (mine.has(id)) shared.add(id);
    });
  }
  let storedBytes = 0;
  let exclusiveBytes = 0;
  for (const row of await storedLengths(db, ids.subarray(0, distinct).sort())) {
    const bytes = RECORD_HEADER_SIZE + row.storedLen;
    storedBytes += bytes;
    if (!shared.has(row.blockId)) exclusiveBytes += bytes;
  }
  return { storedBytes, sharedBlocks: shared.count, exclusiveBlocks: mine.count - shared.count, exclusiveBytes };
}

/**
 * The stored lengths of these blocks (sorted ids), a page of ids at a time: a range scan where the page's ids are
 * dense (a run's new blocks are), a lookup by id where they are spread out, so the rows read stay within a few
 * times the image's own blocks, whatever else the store holds between them.
 */
async function storedLengths(db: ImageDb, sortedIds: Float64Array): Promise<StoredLength[]> {
  const found: StoredLength[] = [];
  for (let at = 0; at < sortedIds.length; at += PAGE) {
    const page = sortedIds.subarray(at, at + PAGE);
    const low = page[0]!;
    const high = page[page.length - 1]!;
    const wanted = new Set(page);
    const rows = high - low < 4 * page.length ? await storedLengthsBetween(db, low, high) : await storedLengthsOf(db, [...page]);
    for (const row of rows) if (wanted.has(row.blockId)) found.push(row);
  }
  return found;
}
