/** The image store's size: indexed blocks (stored and plaintext bytes) and pack files on disk. */
import { indexTotals } from '../store/images/index.ts';
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import type { ImageDb } from './db.ts';
import { packBytesOnDisk } from './packFile.ts';
import type { StoreStats } from './types.ts';

export async function storeStats(db: ImageDb, root: string): Promise<StoreStats> {
  const totals = await indexTotals(db);
  return {
    blocks: totals.blocks,
    storedBytes: totals.storedBytes + totals.blocks * RECORD_HEADER_SIZE,
    rawBytes: totals.rawBytes,
    packs: totals.packIds.length,
    packBytes: packBytesOnDisk(root, totals.packIds),
  };
}
