/**
 * Pack compaction, the last step of a collection: packs with no live block are deleted; packs whose live records
 * fell below a fraction of their size are rewritten — live records copied (verbatim, header checked) into a new
 * pack, fsynced, the index rows moved in one transaction (only rows still pointing at the old place), and then the
 * old pack's row and file deleted. A reader that located a block before the move either still has the old file
 * open (the bytes are unchanged) or finds it gone and looks the block up again (blockFetcher.ts). A crash anywhere
 * leaves either the old rows (the copies are dead bytes of a pack recovery seals) or the new ones.
 */
import { RECORD_HEADER_SIZE } from './blockCodec.ts';
import { blocksInPack, createOpenPack, deleteSealedPackIfEmpty, liveBlocksByPack, moveBlock, sealPack, sealedPackIds, setPackEnd } from '../store/images/index.ts';
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
  const sealed = await sealedPackIds(ctx.db);
  const byPack = await liveBlocksByPack(ctx.db);
  const usage: PackUsage[] = [];
  for (const packId of sealed) {
    // A missing pack counts as empty; its rows (if any) keep it from being deleted.
    const fileBytes = await ctx.placement.packBytes(packId);
    const l = byPack.get(packId) ?? { blocks: 0, storedBytes: 0 };
    usage.push({ packId, fileBytes, liveBlocks: l.blocks, liveBytes: l.blocks * RECORD_HEADER_SIZE + l.storedBytes });
  }
  return usage;
}

/** Deletes a pack's row if no block points into it any more; true if it did. */
async function dropPackIfEmpty(ctx: GcContext, packId: number): Promise<boolean> {
  if (!(await deleteSealedPackIfEmpty(ctx.db, packId))) return false;
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
      this.pack = PackFile.create(this.#ctx.root, await createOpenPack(this.#ctx.db, this.#ctx.owner, PACK_HEADER_SIZE, now), now);
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
    await sealPack(this.#ctx.db, pack.packId, this.#ctx.now(), pack.size);
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
  const moves: { blockId: number; oldOffset: number; pack: PackFile; newOffset: number }[] = [];
  for (const block of await blocksInPack(ctx.db, packId)) {
    const length = RECORD_HEADER_SIZE + block.storedLen;
    const record = await ctx.packs.read(packId, block.packOffset, length);
    if (record.length !== length || !record.subarray(16, 48).equals(block.storageId)) {
      // Leave a damaged block where it is (reads report it); this pack stays.
      ctx.log.warn({ packId, blockId: block.blockId }, 'not compacting a pack with an unreadable block');
      return false;
    }
    const pack = await target.packFor(length);
    moves.push({ blockId: block.blockId, oldOffset: block.packOffset, pack, newOffset: pack.append([record]) });
    target.written += length;
  }
  const destinations = new Set(moves.map((m) => m.pack));
  await Promise.all([...destinations].map((p) => p.sync()));
  await ctx.db.transaction().execute(async (trx) => {
    // Each move is guarded by the block's old place: a row that no longer points there is left as it is.
    for (const m of moves) await moveBlock(trx, { blockId: m.blockId, fromPack: packId, fromOffset: m.oldOffset, toPack: m.pack.packId, toOffset: m.newOffset });
    for (const pack of destinations) await setPackEnd(trx, pack.packId, pack.size);
  });
  return dropPackIfEmpty(ctx, packId);
}
