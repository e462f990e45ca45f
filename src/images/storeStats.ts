/** The image store's size: indexed blocks (stored and plaintext bytes) and pack files on disk. */
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import type { ImageDb } from './db.ts';
import { packBytesOnDisk } from './packFile.ts';
import type { StoreStats } from './types.ts';

export async function storeStats(db: ImageDb, root: string): Promise<StoreStats> {
  const blocks = await db
    .selectFrom('image_blocks')
    .select((eb) => [eb.fn.countAll<number>().as('blocks'), eb.fn.sum<number>('stored_len').as('stored'), eb.fn.sum<number>('raw_len').as('raw')])
    .executeTakeFirstOrThrow();
  const packs = await db.selectFrom('image_packs').select('pack_id').execute();
  const count = Number(blocks.blocks);
  return {
    blocks: count,
    storedBytes: Number(blocks.stored ?? 0) + count * RECORD_HEADER_SIZE,
    rawBytes: Number(blocks.raw ?? 0),
    packs: packs.length,
    packBytes: packBytesOnDisk(root, packs.map((p) => Number(p.pack_id))),
  };
}
