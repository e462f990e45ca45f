/**
 * Appends blocks to this process's current pack and indexes them in batches. The rule that makes crashes safe:
 * a block is indexed only after its bytes are durable, so every flush is one fdatasync per touched pack, then one
 * transaction inserting the batch's index rows, moving the packs' indexed end forward and sealing full packs.
 * Until then a block is "pending": visible to this process (dedup, presence checks) but to no one else.
 */
import type { ImageDb } from './db.ts';
import { insertBlocks } from './blockIndex.ts';
import { unsyncedTransaction } from '../store/unsyncedTransaction.ts';
import { RECORD_HEADER_SIZE, type EncodedBlock } from './blockCodec.ts';
import { PACK_HEADER_SIZE, PackFile } from './packFile.ts';
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
    if (this.#closed) throw new Error('image store is closed');
    const hex = storageId.toString('hex');
    const length = block.header.length + block.payload.length;
    for (;;) {
      if (this.#pendingById.has(hex)) return false;
      const pack = this.#pack;
      // Check and take the offset with no await in between, so no roll can slip under us.
      if (pack && (pack.size + pack.recordSpace(length) <= this.#o.packSize || pack.empty)) {
        const { offset: packOffset, written } = pack.appendAsync([block.header, block.payload]);
        const record: PendingRecord = {
          hex,
          runSeq,
          storageId,
          keyId,
          pack,
          packOffset,
          storedLen: block.payload.length,
          rawLen: block.rawLen,
          flags: block.flags,
        };
        // Pending (deduplicated against) at once; flushed only once its bytes are written (see #flushNow).
        this.#pendingById.set(hex, record);
        const settled = written.then(
          () => undefined,
          () => undefined,
        );
        this.#writing.add(settled);
        try {
          await written;
        } catch (thrown) {
          if (this.#pendingById.get(hex) === record) this.#pendingById.delete(hex);
          // The failed range is undefined: nothing more goes into this pack (it is sealed at the next flush).
          if (this.#pack === pack) {
            this.#toSeal.push(pack);
            this.#pack = undefined;
          }
          throw thrown;
        } finally {
          this.#writing.delete(settled);
        }
        this.#pending.push(record);
        this.#pendingBytes += length;
        break;
      }
      this.#rolling ??= this.#roll().finally(() => (this.#rolling = undefined));
      await this.#rolling;
    }
    // Past the flush threshold a flush starts in the background (its fdatasync overlaps with further writes);
    // writers wait only when they run far ahead of it.
    if (this.#pendingBytes >= this.#o.flushBytes && !this.#background) {
      this.#background = this.flush().finally(() => (this.#background = undefined));
      this.#background.catch(() => {}); // on failure the records stay pending; the next flush retries and reports
    }
    if (this.#pendingBytes >= 4 * this.#o.flushBytes) await this.flush();
    return true;
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
    const row = await this.#o.db
      .insertInto('image_packs')
      .values({ state: 'open', owner: this.#o.owner, end_offset: PACK_HEADER_SIZE, created_at: now, sealed_at: null })
      .returning('pack_id')
      .executeTakeFirstOrThrow();
    this.#pack = PackFile.create(this.#o.root, Number(row.pack_id), now, this.#o.direct);
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
      const now = this.#o.now();
      // Unsynced: the packs were fdatasynced above; if a power loss takes these rows back, the blocks are sent again.
      await unsyncedTransaction(this.#o.db, async (trx) => {
        const ours = await insertBlocks(trx, taken.map((r) => ({ ...r, packId: r.pack.packId })), now);
        for (const [pack, end] of ends) {
          const sealed = sealing.includes(pack);
          await trx
            .updateTable('image_packs')
            .set(sealed ? { end_offset: end, state: 'sealed', owner: null, sealed_at: now } : { end_offset: end })
            .where('pack_id', '=', pack.packId)
            .execute();
        }
        const perRun = new Map<number, { blocks: number; bytes: number }>();
        for (const r of taken) {
          if (!ours.has(r.hex)) continue;
          const sum = perRun.get(r.runSeq) ?? { blocks: 0, bytes: 0 };
          sum.blocks++;
          sum.bytes += RECORD_HEADER_SIZE + r.storedLen;
          perRun.set(r.runSeq, sum);
        }
        for (const [runSeq, sum] of perRun) {
          await trx
            .updateTable('image_runs')
            .set((eb) => ({ new_blocks: eb('new_blocks', '+', sum.blocks), new_bytes: eb('new_bytes', '+', sum.bytes), updated_at: now }))
            .where('run_seq', '=', runSeq)
            .execute();
        }
      });
    } catch (thrown) {
      // Nothing was indexed: keep the records pending so the next flush retries them.
      this.#pending = [...taken, ...this.#pending];
      for (const r of taken) this.#pendingBytes += RECORD_HEADER_SIZE + r.storedLen;
      this.#toSeal = [...sealing, ...this.#toSeal];
      throw thrown;
    }
    for (const r of taken) if (this.#pendingById.get(r.hex) === r) this.#pendingById.delete(r.hex);
    for (const pack of sealing) pack.close();
  }
}
