/**
 * The block index (`image_blocks`), the sealer keys and the GC generation. Every statement that hands out or keeps a
 * reference to a block also stamps it with the current GC generation, in the same statement (UPDATE … RETURNING):
 * that stamp is what keeps a collection running concurrently from sweeping it (src/images/garbageCollector.ts).
 */
import { sql } from 'kysely';
import { asBuffer, idBatches, type ImageIndexDb } from './indexDb.ts';

type ImageDb = ImageIndexDb;

export interface IndexedBlock {
  blockId: number;
  keyId: number;
}

const currentGen = sql<number>`(select gc_generation from image_store_state where id = 1)`;

/** The collector's generation now: also what proves the image tables are there (migration 002). */
export async function gcGeneration(db: ImageDb): Promise<number> {
  const row = await db.selectFrom('image_store_state').select('gc_generation').where('id', '=', 1).executeTakeFirst();
  return Number(row?.gc_generation ?? 0);
}

/**
 * Advances the generation (a logical clock) and returns the new value: a run beginning takes one of its own, so
 * "stamped since this run began" is exact rather than "since the last collection".
 */
export async function advanceGeneration(db: ImageDb): Promise<number> {
  const row = await db
    .updateTable('image_store_state')
    .set((eb) => ({ gc_generation: eb('gc_generation', '+', 1) }))
    .where('id', '=', 1)
    .returning('gc_generation')
    .executeTakeFirstOrThrow();
  return Number(row.gc_generation);
}

export async function keyIdFor(db: ImageDb, keyRef: string): Promise<number> {
  const found = await db.selectFrom('image_keys').select('key_id').where('key_ref', '=', keyRef).executeTakeFirst();
  if (found) return Number(found.key_id);
  await db.insertInto('image_keys').values({ key_ref: keyRef }).onConflict((oc) => oc.column('key_ref').doNothing()).execute();
  const row = await db.selectFrom('image_keys').select('key_id').where('key_ref', '=', keyRef).executeTakeFirstOrThrow();
  return Number(row.key_id);
}

export async function keyRefsById(db: ImageDb): Promise<Map<number, string>> {
  const rows = await db.selectFrom('image_keys').select(['key_id', 'key_ref']).execute();
  return new Map(rows.map((r) => [Number(r.key_id), r.key_ref]));
}

/**
 * Finds the blocks with these storage ids and stamps them with the current generation, so they survive any
 * collection that starts after this statement. Returns hex storage id → block.
 */
export async function touchBlocks(db: ImageDb, storageIds: readonly Buffer[]): Promise<Map<string, IndexedBlock>> {
  const found = new Map<string, IndexedBlock>();
  for (const batch of idBatches(storageIds)) {
    const rows = await db
      .updateTable('image_blocks')
      .set({ gen: currentGen })
      .where('storage_id', 'in', batch)
      .returning(['block_id', 'storage_id', 'key_id'])
      .execute();
    for (const row of rows) found.set(asBuffer(row.storage_id).toString('hex'), { blockId: Number(row.block_id), keyId: Number(row.key_id) });
  }
  return found;
}

/** Read-only: which of these storage ids are indexed (hex). */
export async function indexedStorageIds(db: ImageDb, storageIds: readonly Buffer[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const batch of idBatches(storageIds)) {
    const rows = await db.selectFrom('image_blocks').select('storage_id').where('storage_id', 'in', batch).execute();
    for (const row of rows) found.add(asBuffer(row.storage_id).toString('hex'));
  }
  return found;
}

export interface NewBlockRow {
  storageId: Buffer;
  keyId: number;
  packId: number;
  packOffset: number;
  storedLen: number;
  rawLen: number;
  flags: number;
}

/** Where a stored block is: its row, with its id. */
export interface BlockLocation extends NewBlockRow {
  blockId: number;
}

/**
 * Indexes freshly written records. A storage id already indexed (another run wrote the same block at the same time)
 * keeps its existing row, which is stamped like a reuse; our copy becomes dead bytes for compaction. Returns the
 * hex storage ids whose row is ours, with their block ids.
 */
export async function insertBlocks(db: ImageDb, rows: readonly NewBlockRow[], now: number): Promise<Map<string, number>> {
  const ours = new Map<string, number>();
  for (const batch of idBatches(rows)) {
    const returned = await db
      .insertInto('image_blocks')
      .values(
        batch.map((r) => ({
          storage_id: r.storageId,
          key_id: r.keyId,
          pack_id: r.packId,
          pack_offset: r.packOffset,
          stored_len: r.storedLen,
          raw_len: r.rawLen,
          flags: r.flags,
          gen: currentGen,
          created_at: now,
        })),
      )
      .onConflict((oc) => oc.column('storage_id').doUpdateSet({ gen: currentGen }))
      .returning(['block_id', 'storage_id', 'pack_id', 'pack_offset'])
      .execute();
    const mine = new Map(batch.map((r) => [r.storageId.toString('hex'), r]));
    for (const row of returned) {
      const hex = asBuffer(row.storage_id).toString('hex');
      const wrote = mine.get(hex);
      if (wrote && Number(row.pack_id) === wrote.packId && Number(row.pack_offset) === wrote.packOffset) ours.set(hex, Number(row.block_id));
    }
  }
  return ours;
}

/** The storage id and key of each of these blocks (read-only: the caller protects them otherwise). */
export async function storageIdsOf(db: ImageDb, blockIds: readonly number[]): Promise<Map<number, { storageId: Buffer; keyId: number }>> {
  const found = new Map<number, { storageId: Buffer; keyId: number }>();
  for (const batch of idBatches(blockIds)) {
    const rows = await db.selectFrom('image_blocks').select(['block_id', 'storage_id', 'key_id']).where('block_id', 'in', batch).execute();
    for (const row of rows) found.set(Number(row.block_id), { storageId: asBuffer(row.storage_id), keyId: Number(row.key_id) });
  }
  return found;
}

export async function locateBlocks(db: ImageDb, blockIds: readonly number[]): Promise<Map<number, BlockLocation>> {
  const located = new Map<number, BlockLocation>();
  for (const batch of idBatches(blockIds)) {
    const rows = await db
      .selectFrom('image_blocks')
      .select(['block_id', 'storage_id', 'key_id', 'pack_id', 'pack_offset', 'stored_len', 'raw_len', 'flags'])
      .where('block_id', 'in', batch)
      .execute();
    for (const row of rows) {
      located.set(Number(row.block_id), {
        blockId: Number(row.block_id),
        storageId: asBuffer(row.storage_id),
        keyId: Number(row.key_id),
        packId: Number(row.pack_id),
        packOffset: Number(row.pack_offset),
        storedLen: Number(row.stored_len),
        rawLen: Number(row.raw_len),
        flags: Number(row.flags),
      });
    }
  }
  return located;
}
