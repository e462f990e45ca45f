/**
 * Appends blocks to this process's current pack and indexes them in batches. The rule that makes crashes safe:
 * a block is indexed only after its bytes are durable, so every flush is one fdatasync per touched pack, then one
 * transaction inserting the batch's index rows, moving the packs' indexed end forward and sealing full packs.
 * Until then a block is "pending": visible to this process (dedup, presence checks) but to no one else.
 */
import type { ImageDb } from './db.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { addRunNewBlocks, createOpenPack, insertBlocks, sealPack, setPackEnd } from '../store/images/index.ts';
import { RECORD_HEADER_SIZE, type EncodedBlock } from './blockCodec.ts';
import { PACK_HEADER_SIZE, PackFile } from './packFile.ts';
import type { BlockPlacement } from './blocks/blockPlacement.ts';
import type { DirectWriteBuffers } from './directIo.ts';

interface PendingRecord {
  hex: string;
  runSeq: number;
  storageId: Buffer;
  keyId: number;
  pack: PackFile;
  packOffset: number;
  storedLen: number;
  rawLen: number;
  flags: number;
}

export interface BlockWriterOptions {
  db: ImageDb;
  root: string;
  owner: string;
  packSize: number;
  flushBytes: number;
  now: () => number;
  /** Staging buffers for O_DIRECT pack writes (directIo.ts); undefined: through the page cache. */
  direct?: DirectWriteBuffers;
  /** Uploads sealed packs to remote block storage (blocks/blockPlacement.ts); undefined or local: nothing to do. */
  placement?: BlockPlacement;
  /** Told each block a flush indexed for a run (its row ours), with its block id, once the rows are committed. */
  onIndexed?: (runSeq: number, hex: string, blockId: number) => void;
}

export class BlockWriter {
  readonly #o: BlockWriterOptions;
  #pack: PackFile | undefined;
  #rolling: Promise<void> | undefined;
  #pending: PendingRecord[] = [];
  #pendingBytes = 0;
  readonly #pendingById = new Map<string, PendingRecord>();
  /** Full packs rolled over since the last flush: the next flush seals them once their records are indexed. */
  #toSeal: PackFile[] = [];
  #flushChain: Promise<void> = Promise.resolve();
  /** Appends still being written (these promises never reject). */
  readonly #writing = new Set<Promise<void>>();
  #background: Promise<void> | undefined;
  #closed = false;

  constructor(options: BlockWriterOptions) {
    this.#o = options;
  }

  isPending(hex: string): boolean {
    return this.#pendingById.has(hex);
  }

  /** Appends a block; false when it is already pending (written by a concurrent put). */
  async write(runSeq: number, keyId: number, storageId: Buffer, block: EncodedBlock): Promise<boolean> {
    return (await this.writeMany(runSeq, keyId, [{ storageId, block }]))[0]!;
  }

  /**
   * Appends blocks, as few writes as the pack and its staging buffers allow; per block, false when it was already
   * pending (written by a concurrent put, or earlier in the same list). Throws the first write failure once every
   * write has settled.
   */
  async writeMany(runSeq: number, keyId: number, blocks: readonly { storageId: Buffer; block: EncodedBlock }[]): Promise<boolean[]> {
    if (this.#closed) throw new Error('image store is closed');
    const stored = blocks.map(() => false);
    const writes: Promise<void>[] = [];
    let next = 0;
    while (next < blocks.length) {
      const pack = this.#pack;
      // Take a group that fits the pack and one append, with no await in between, so no roll can slip under us.
      const group: { index: number; hex: string; parts: Buffer[] }[] = [];
      let groupSpace = 0;
      for (; pack && next < blocks.length; next++) {
        const { storageId, block } = blocks[next]!;
        const hex = storageId.toString('hex');
        if (this.#pendingById.has(hex) || group.some((g) => g.hex === hex)) continue;
        const space = pack.recordSpace(block.header.length + block.payload.length);
        const fitsPack = pack.size + groupSpace + space <= this.#o.packSize || (pack.empty && group.length === 0);
        if (!fitsPack || (group.length > 0 && groupSpace + space > pack.maxAppendBytes)) break;
        group.push({ index: next, hex, parts: [block.header, block.payload] });
        groupSpace += space;
      }
      if (!pack || group.length === 0) {
        if (next >= blocks.length) break;
        this.#rolling ??= this.#roll().finally(() => (this.#rolling = undefined));
        await this.#rolling;
        continue;
      }
      const { offsets, written } = pack.appendManyAsync(group.map((g) => g.parts));
      const records = group.map((g, i): PendingRecord => {
        const { storageId, block } = blocks[g.index]!;
        // Pending (deduplicated against) at once; flushed only once its bytes are written (see #flushNow).
        const record = { hex: g.hex, runSeq, storageId, keyId, pack, packOffset: offsets[i]!, storedLen: block.payload.length, rawLen: block.rawLen, flags: block.flags };
        this.#pendingById.set(g.hex, record);
        stored[g.index] = true;
        return record;
      });
      writes.push(this.#settleWrite(pack, records, written));
    }
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    // Past the flush threshold a flush starts in the background (its fdatasync overlaps with further writes);
    // writers wait only when they run far ahead of it.
    if (this.#pendingBytes >= this.#o.flushBytes && !this.#background) {
      this.#background = this.flush().finally(() => (this.#background = undefined));
      this.#background.catch(() => {}); // on failure the records stay pending; the next flush retries and reports
    }
    if (this.#pendingBytes >= 4 * this.#o.flushBytes) await this.flush();
    return stored;
  }

  /** Waits for one grouped append; its records become flushable, or on failure stop being pending. */
  async #settleWrite(pack: PackFile, records: readonly PendingRecord[], written: Promise<void>): Promise<void> {
    const settled = written.then(
      () => undefined,
      () => undefined,
    );
    this.#writing.add(settled);
    try {
      await written;
    } catch (thrown) {
      for (const record of records) if (this.#pendingById.get(record.hex) === record) this.#pendingById.delete(record.hex);
      // The failed range is undefined: nothing more goes into this pack (it is sealed at the next flush).
      if (this.#pack === pack) {
        this.#toSeal.push(pack);
        this.#pack = undefined;
      }
      throw thrown;
    } finally {
      this.#writing.delete(settled);
    }
    for (const record of records) {
      this.#pending.push(record);
      this.#pendingBytes += RECORD_HEADER_SIZE + record.storedLen;
    }
  }

  /** Makes everything written so far durable and indexed. Flushes run one at a time, in order. */
  flush(): Promise<void> {
    const next = this.#flushChain.then(() => this.#flushNow());
    this.#flushChain = next.catch(() => {});
    return next;
  }

  /** Flushes and seals the current pack (the next write starts a new one), so a collection can compact it. */
  async sealCurrent(): Promise<void> {
    await this.#rolling;
    if (this.#pack) this.#toSeal.push(this.#pack);
    this.#pack = undefined;
    await this.flush();
  }

  /** Flushes and seals the current pack. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.sealCurrent();
    this.#closed = true;
  }

  async #roll(): Promise<void> {
    if (this.#pack) this.#toSeal.push(this.#pack);
    this.#pack = undefined;
    const now = this.#o.now();
    const packId = await createOpenPack(this.#o.db, this.#o.owner, PACK_HEADER_SIZE, now);
    this.#pack = PackFile.create(this.#o.root, packId, now, this.#o.direct);
  }

  async #flushNow(): Promise<void> {
    // Blocks being written are pending already (deduplicated against): a flush must include them, so a run that
    // records a block another put is still writing finds it indexed.
    if (this.#writing.size > 0) await Promise.all([...this.#writing]);
    const taken = this.#pending;
    const sealing = this.#toSeal;
    if (taken.length === 0 && sealing.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#toSeal = [];
    try {
      const ends = new Map<PackFile, number>();
      for (const r of taken) ends.set(r.pack, Math.max(ends.get(r.pack) ?? 0, r.packOffset + RECORD_HEADER_SIZE + r.storedLen));
      for (const pack of sealing) ends.set(pack, pack.size);
      await Promise.all([...ends.keys()].map((pack) => pack.sync()));
      // Synced bytes of packs still open start uploading now, so sealing one later only completes its upload.
      for (const [pack, end] of ends) if (!sealing.includes(pack)) this.#o.placement?.packSynced(pack.packId, end);
      // A pack is in its block storage before its row says sealed (a no-op for local storage).
      for (const pack of sealing) await this.#o.placement?.publishPack(pack.packId);
      const now = this.#o.now();
      // Unsynced: the packs were fdatasynced above; if a power loss takes these rows back, the blocks are sent again.
      const ours = await unsyncedTransaction(this.#o.db, async (trx) => {
        const ours = await insertBlocks(trx, taken.map((r) => ({ ...r, packId: r.pack.packId })), now);
        for (const [pack, end] of ends) {
          if (sealing.includes(pack)) await sealPack(trx, pack.packId, now, end);
          else await setPackEnd(trx, pack.packId, end);
        }
        const perRun = new Map<number, { blocks: number; bytes: number }>();
        for (const r of taken) {
          if (!ours.has(r.hex)) continue;
          const sum = perRun.get(r.runSeq) ?? { blocks: 0, bytes: 0 };
          sum.blocks++;
          sum.bytes += RECORD_HEADER_SIZE + r.storedLen;
          perRun.set(r.runSeq, sum);
        }
        for (const [runSeq, sum] of perRun) await addRunNewBlocks(trx, runSeq, sum, now);
        return ours;
      });
      for (const r of taken) {
        const blockId = ours.get(r.hex);
        if (blockId !== undefined) this.#o.onIndexed?.(r.runSeq, r.hex, blockId);
      }
    } catch (thrown) {
      // Nothing was indexed: keep the records pending so the next flush retries them.
      this.#pending = [...taken, ...this.#pending];
      for (const r of taken) this.#pendingBytes += RECORD_HEADER_SIZE + r.storedLen;
      this.#toSeal = [...sealing, ...this.#toSeal];
      throw thrown;
    }
    for (const r of taken) if (this.#pendingById.get(r.hex) === r) this.#pendingById.delete(r.hex);
    for (const pack of sealing) {
      pack.close();
      await this.#o.placement?.dropLocalPack(pack.packId);
    }
  }
}
