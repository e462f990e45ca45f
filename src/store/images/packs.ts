/**
 * `image_packs` and the block rows that point into packs: a pack is created open (owned by the writer appending
 * to it), its indexed end moves forward as records are indexed, and it is sealed once it is in its block storage.
 * A pack row is deleted only while nothing points into it. The caller holds the transaction when several of these
 * must happen together.
 */
import { asBuffer, type ImageIndexDb } from './indexDb.ts';

/** Creates an open pack owned by `owner` (`host:pid:token`) whose indexed end is `headerBytes`; returns its id. */
export async function createOpenPack(db: ImageIndexDb, owner: string, headerBytes: number, now: number): Promise<number> {
  const row = await db
    .insertInto('image_packs')
    .values({ state: 'open', owner, end_offset: headerBytes, created_at: now, sealed_at: null })
    .returning('pack_id')
    .executeTakeFirstOrThrow();
  return Number(row.pack_id);
}

/** Moves a pack's indexed end (records up to it are indexed). */
export async function setPackEnd(db: ImageIndexDb, packId: number, end: number): Promise<void> {
  await db.updateTable('image_packs').set({ end_offset: end }).where('pack_id', '=', packId).execute();
}

/** Seals a pack (its bytes are in block storage): no owner any more; `end`, when given, is its final indexed end. */
export async function sealPack(db: ImageIndexDb, packId: number, now: number, end?: number): Promise<void> {
  await db
    .updateTable('image_packs')
    .set({ state: 'sealed', owner: null, sealed_at: now, ...(end === undefined ? {} : { end_offset: end }) })
    .where('pack_id', '=', packId)
    .where('state', '=', 'open')
    .execute();
}

export interface OpenPack {
  packId: number;
  owner: string | null;
  /** End of the last indexed record: bytes past it are a crashed writer's leftovers. */
  endOffset: number;
  /** When the pack was begun (ms): an upload of it cannot be older. */
  createdAt: number;
}

export async function openPacks(db: ImageIndexDb): Promise<OpenPack[]> {
  const rows = await db.selectFrom('image_packs').select(['pack_id', 'owner', 'end_offset', 'created_at']).where('state', '=', 'open').orderBy('pack_id').execute();
  return rows.map((r) => ({ packId: Number(r.pack_id), owner: r.owner, endOffset: Number(r.end_offset), createdAt: Number(r.created_at) }));
}

export async function sealedPackIds(db: ImageIndexDb): Promise<number[]> {
  const rows = await db.selectFrom('image_packs').select('pack_id').where('state', '=', 'sealed').orderBy('pack_id').execute();
  return rows.map((r) => Number(r.pack_id));
}

export async function packExists(db: ImageIndexDb, packId: number): Promise<boolean> {
  return (await db.selectFrom('image_packs').select('pack_id').where('pack_id', '=', packId).executeTakeFirst()) !== undefined;
}

export async function packHasBlocks(db: ImageIndexDb, packId: number): Promise<boolean> {
  return (await db.selectFrom('image_blocks').select('block_id').where('pack_id', '=', packId).limit(1).executeTakeFirst()) !== undefined;
}

/** Deletes an open pack's row (a writer's pack that never indexed a block). */
export async function deleteOpenPack(db: ImageIndexDb, packId: number): Promise<void> {
  await db.deleteFrom('image_packs').where('pack_id', '=', packId).where('state', '=', 'open').execute();
}

/** Deletes a sealed pack's row if no block points into it, in one statement; true if it did. */
export async function deleteSealedPackIfEmpty(db: ImageIndexDb, packId: number): Promise<boolean> {
  const result = await db
    .deleteFrom('image_packs')
    .where('pack_id', '=', packId)
    .where('state', '=', 'sealed')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('image_blocks').select('block_id').where('pack_id', '=', packId))))
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** Blocks and stored bytes (after record headers) per pack, for the packs any block points into. */
export async function liveBlocksByPack(db: ImageIndexDb): Promise<Map<number, { blocks: number; storedBytes: number }>> {
  const rows = await db
    .selectFrom('image_blocks')
    .select((eb) => ['pack_id', eb.fn.countAll<number>().as('blocks'), eb.fn.sum<number>('stored_len').as('stored')])
    .groupBy('pack_id')
    .execute();
  return new Map(rows.map((r) => [Number(r.pack_id), { blocks: Number(r.blocks), storedBytes: Number(r.stored) }]));
}

export interface PackedBlock {
  blockId: number;
  storageId: Buffer;
  packOffset: number;
  storedLen: number;
}

/** The blocks stored in a pack, in pack order. */
export async function blocksInPack(db: ImageIndexDb, packId: number): Promise<PackedBlock[]> {
  const rows = await db.selectFrom('image_blocks').select(['block_id', 'storage_id', 'pack_offset', 'stored_len']).where('pack_id', '=', packId).orderBy('pack_offset').execute();
  return rows.map((r) => ({ blockId: Number(r.block_id), storageId: asBuffer(r.storage_id), packOffset: Number(r.pack_offset), storedLen: Number(r.stored_len) }));
}

/** Points a block at its copy in another pack, only if it still is where it was copied from (false otherwise). */
export async function moveBlock(db: ImageIndexDb, move: { blockId: number; fromPack: number; fromOffset: number; toPack: number; toOffset: number }): Promise<boolean> {
  const result = await db
    .updateTable('image_blocks')
    .set({ pack_id: move.toPack, pack_offset: move.toOffset })
    .where('block_id', '=', move.blockId)
    .where('pack_id', '=', move.fromPack)
    .where('pack_offset', '=', move.fromOffset)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
