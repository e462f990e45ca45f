/**
 * What one image costs: its distinct blocks' stored bytes, how many it shares with other available images of its
 * account, and what deleting it would free. Reads the manifests of the account's available images (their data
 * entries only) and walks the block index over the image's id range; memory is one bit per block id.
 *
 * Only the image's own account counts: blocks are stored per account (see blockSealer.ts), and even blocks an older
 * store shared across accounts must not let one account's figures reveal what another holds.
 */
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import { BitSet } from './bitSet.ts';
import type { ImageDb } from './db.ts';
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
  manifestPath: (snapshotId: string) => string,
  image: { amiId: string; accountId: string },
  own: readonly SnapshotRef[],
): Promise<ImageDetails['usage']> {
  const mine = new BitSet();
  let low = Infinity;
  let high = 0;
  for (const snap of own) {
    await forEachManifestId(manifestPath(snap.snapshotId), snap.sha256, (id) => {
      mine.add(id);
      if (id < low) low = id;
      if (id > high) high = id;
    });
  }
  const shared = new BitSet();
  const others = await db
    .selectFrom('image_snapshots')
    .innerJoin('images', 'images.ami_id', 'image_snapshots.ami_id')
    .select(['image_snapshots.snapshot_id', 'image_snapshots.manifest_sha256'])
    .where('images.state', '=', 'available')
    .where('images.account_id', '=', image.accountId)
    .where('images.ami_id', '!=', image.amiId)
    .execute();
  for (const snap of others) {
    await forEachManifestId(manifestPath(snap.snapshot_id), snap.manifest_sha256, (id) => {
      if (mine.has(id)) shared.add(id);
    });
  }
  let storedBytes = 0;
  let exclusiveBytes = 0;
  for (let from = low; from <= high; ) {
    const rows = await db
      .selectFrom('image_blocks')
      .select(['block_id', 'stored_len'])
      .where('block_id', '>=', from)
      .where('block_id', '<=', high)
      .orderBy('block_id')
      .limit(PAGE)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const id = Number(row.block_id);
      if (!mine.has(id)) continue;
      const bytes = RECORD_HEADER_SIZE + Number(row.stored_len);
      storedBytes += bytes;
      if (!shared.has(id)) exclusiveBytes += bytes;
    }
    from = Number(rows.at(-1)!.block_id) + 1;
  }
  return { storedBytes, sharedBlocks: shared.count, exclusiveBlocks: mine.count - shared.count, exclusiveBytes };
}
