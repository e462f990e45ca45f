/**
 * Pack compaction, the last step of a collection: packs with no live block are deleted; packs whose live records
 * fell below a fraction of their size are rewritten — live records copied (verbatim, header checked) into a new
 * pack, fsynced, the index rows moved in one transaction (only rows still pointing at the old place), and then the
 * old pack's row and file deleted. A reader that located a block before the move either still has the old file
 * open (the bytes are unchanged) or finds it gone and looks the block up again (blockFetcher.ts). A crash anywhere
 * leaves either the old rows (the copies are dead bytes of a pack recovery seals) or the new ones.
 */
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import { asBuffer } from './db.ts';
import type { GcContext } from './garbageCollector.ts';
import { PACK_HEADER_SIZE, PackFile } from './packFile.ts';
import type { GcReport } from './types.ts';

interface PackUsage {
  packId: number;
  fileBytes: number;
  liveBlocks: number;
  liveBytes: number;
}

async function packUsage(ctx: GcContext): Promise<PackUsage[]> {
  const sealed = await ctx.db.selectFrom('image_packs').select('pack_id').where('state', '=', 'sealed').orderBy('pack_id').execute();
  const live = await ctx.db
    .selectFrom('image_blocks')
    .select((eb) => ['pack_id', eb.fn.countAll<number>().as('blocks'), eb.fn.sum<number>('stored_len').as('stored')])
    .groupBy('pack_id')
    .execute();
  const byPack = new Map(live.map((r) => [Number(r.pack_id), { blocks: Number(r.blocks), stored: Number(r.stored) }]));
  const usage: PackUsage[] = [];
  for (const pack of sealed) {
    const packId = Number(pack.pack_id);
    // A missing pack counts as empty; its rows (if any) keep it from being deleted.
    const fileBytes = await ctx.placement.packBytes(packId);
    const l = byPack.get(packId) ?? { blocks: 0, stored: 0 };
    usage.push({ packId, fileBytes, liveBlocks: l.blocks, liveBytes: l.blocks * RECORD_HEADER_SIZE + l.stored });
  }
  return usage;
}

/** Deletes a pack's row if no block points into it any more; true if it did. */
async function dropPackIfEmpty(ctx: GcContext, packId: number): Promise<boolean> {
  const result = await ctx.db
    .deleteFrom('image_packs')
    .where('pack_id', '=', packId)
    .where('state', '=', 'sealed')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('image_blocks').select('block_id').where('pack_id', '=', packId))))
    .executeTakeFirst();
  if (Number(result.numDeletedRows) !== 1) return false;
  ctx.packs.forget(packId);
  await ctx.placement.deletePack(packId);
  return true;
}

class CompactionTarget {
  readonly #ctx: GcContext;
  pack: PackFile | undefined;
  written = 0;

  constructor(ctx: GcContext) {
    this.#ctx = ctx;
  }

  /** The pack to copy `length` bytes into, sealing a full one first. */
  async packFor(length: number): Promise<PackFile> {
    if (this.pack && this.pack.size + length > this.#ctx.packSize && this.pack.size > PACK_HEADER_SIZE) await this.seal();
    if (!this.pack) {
      const now = this.#ctx.now();
      const row = await this.#ctx.db
        .insertInto('image_packs')
        .values({ state: 'open', owner: this.#ctx.owner, end_offset: PACK_HEADER_SIZE, created_at: now, sealed_at: null })
        .returning('pack_id')
        .executeTakeFirstOrThrow();
      this.pack = PackFile.create(this.#ctx.root, Number(row.pack_id), now);
      this.written += PACK_HEADER_SIZE;
    }
    return this.pack;
  }

  async seal(): Promise<void> {
    const pack = this.pack;
    if (!pack) return;
    this.pack = undefined;
    await pack.sync();
    await this.#ctx.placement.publishPack(pack.packId);
    await this.#ctx.db
      .updateTable('image_packs')
      .set({ state: 'sealed', owner: null, end_offset: pack.size, sealed_at: this.#ctx.now() })
      .where('pack_id', '=', pack.packId)
      .execute();
    pack.close();
    await this.#ctx.placement.dropLocalPack(pack.packId);
    if (pack.size === PACK_HEADER_SIZE) {
      await dropPackIfEmpty(this.#ctx, pack.packId);
      this.written -= PACK_HEADER_SIZE;
    }
  }
}

export async function compactPacks(ctx: GcContext, compactBelow: number, report: GcReport, renewLease: () => Promise<void>): Promise<void> {
  const target = new CompactionTarget(ctx);
  try {
    for (const pack of await packUsage(ctx)) {
      if (pack.liveBlocks === 0) {
        if (await dropPackIfEmpty(ctx, pack.packId)) {
          report.packsDeleted++;
          report.bytesFreed += pack.fileBytes;
        }
        continue;
      }
      const body = Math.max(1, pack.fileBytes - PACK_HEADER_SIZE);
      if (pack.liveBytes / body >= compactBelow) continue;
      if (await compactPack(ctx, pack.packId, target)) {
        report.packsCompacted++;
        report.bytesFreed += pack.fileBytes;
      }
      await renewLease();
    }
  } finally {
    await target.seal();
  }
  report.bytesFreed -= target.written;
}

/** Copies a pack's live records into the compaction target and moves their index rows; true if the old pack is gone. */
async function compactPack(ctx: GcContext, packId: number, target: CompactionTarget): Promise<boolean> {
  const rows = await ctx.db
    .selectFrom('image_blocks')
    .select(['block_id', 'storage_id', 'pack_offset', 'stored_len'])
    .where('pack_id', '=', packId)
    .orderBy('pack_offset')
    .execute();
  const moves: { blockId: number; oldOffset: number; pack: PackFile; newOffset: number }[] = [];
  for (const row of rows) {
    const length = RECORD_HEADER_SIZE + Number(row.stored_len);
    const record = await ctx.packs.read(packId, Number(row.pack_offset), length);
    if (record.length !== length || !record.subarray(16, 48).equals(asBuffer(row.storage_id))) {
      // Leave a damaged block where it is (reads report it); this pack stays.
      ctx.log.warn({ packId, blockId: Number(row.block_id) }, 'not compacting a pack with an unreadable block');
      return false;
    }
    const pack = await target.packFor(length);
    moves.push({ blockId: Number(row.block_id), oldOffset: Number(row.pack_offset), pack, newOffset: pack.append([record]) });
    target.written += length;
  }
  const destinations = new Set(moves.map((m) => m.pack));
  await Promise.all([...destinations].map((p) => p.sync()));
  await ctx.db.transaction().execute(async (trx) => {
    for (const m of moves) {
      await trx
        .updateTable('image_blocks')
        .set({ pack_id: m.pack.packId, pack_offset: m.newOffset })
        .where('block_id', '=', m.blockId)
        .where('pack_id', '=', packId)
        .where('pack_offset', '=', m.oldOffset)
        .execute();
    }
    for (const pack of destinations) await trx.updateTable('image_packs').set({ end_offset: pack.size }).where('pack_id', '=', pack.packId).execute();
  });
  return dropPackIfEmpty(ctx, packId);
}
