/** Sizes from the block index: the store's totals, and the stored lengths of given blocks (what an image costs). */
import { idBatches, type ImageIndexDb } from './indexDb.ts';

export interface IndexTotals {
  blocks: number;
  /** Stored bytes after each record header (compressed and/or sealed). */
  storedBytes: number;
  rawBytes: number;
  packIds: number[];
}

export async function indexTotals(db: ImageIndexDb): Promise<IndexTotals> {
  const blocks = await db
    .selectFrom('image_blocks')
    .select((eb) => [eb.fn.countAll<number>().as('blocks'), eb.fn.sum<number>('stored_len').as('stored'), eb.fn.sum<number>('raw_len').as('raw')])
    .executeTakeFirstOrThrow();
  const packs = await db.selectFrom('image_packs').select('pack_id').orderBy('pack_id').execute();
  return {
    blocks: Number(blocks.blocks),
    storedBytes: Number(blocks.stored ?? 0),
    rawBytes: Number(blocks.raw ?? 0),
    packIds: packs.map((p) => Number(p.pack_id)),
  };
}

export interface StoredLength {
  blockId: number;
  storedLen: number;
}

/** Every indexed block with an id in [low, high]: one range scan (cheap where the ids wanted are dense). */
export async function storedLengthsBetween(db: ImageIndexDb, low: number, high: number): Promise<StoredLength[]> {
  const rows = await db.selectFrom('image_blocks').select(['block_id', 'stored_len']).where('block_id', '>=', low).where('block_id', '<=', high).execute();
  return rows.map((r) => ({ blockId: Number(r.block_id), storedLen: Number(r.stored_len) }));
}

/** The indexed blocks among `ids`, looked up by id (ids that are not indexed are simply absent). */
export async function storedLengthsOf(db: ImageIndexDb, ids: readonly number[]): Promise<StoredLength[]> {
  const pages = await Promise.all(
    [...idBatches(ids)].map((batch) => db.selectFrom('image_blocks').select(['block_id', 'stored_len']).where('block_id', 'in', batch).execute()),
  );
  return pages.flat().map((r) => ({ blockId: Number(r.block_id), storedLen: Number(r.stored_len) }));
}
