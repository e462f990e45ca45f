/**
 * Reads an image's blocks back: manifest entry → index row → pack record → open, decompress, check. Every failure
 * becomes a CorruptBlockError naming the image, the disk and the byte offset, so bad data is never handed out
 * silently. Disk-order streaming visits only the data blocks, keeps a few reads in flight and holds only one manifest
 * chunk in memory.
 */
import type { BlockSealer } from './blockSealer.ts';
import { locateBlocks, type BlockLocation } from '../store/images/index.ts';
import { RECORD_HEADER_SIZE, decodeRecord } from './blockCodec.ts';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import type { ImageDb } from './db.ts';
import { BlockCheckError, CorruptBlockError, ImageStoreError } from './errors.ts';
import type { ManifestReader } from './manifest.ts';
import { PackGoneError, type PackReader } from './packReader.ts';

export interface BlockPlace {
  amiId: string;
  diskIndex: number;
  blockIndex: number;
}

export interface DiskBlock {
  blockIndex: number;
  data: Buffer;
}

const READ_AHEAD = 8;

export class BlockFetcher {
  readonly #db: ImageDb;
  readonly #packs: PackReader;
  readonly #sealerForKey: (keyId: number) => Promise<BlockSealer>;

  constructor(db: ImageDb, packs: PackReader, sealerForKey: (keyId: number) => Promise<BlockSealer>) {
    this.#db = db;
    this.#packs = packs;
    this.#sealerForKey = sealerForKey;
  }

  async readById(blockId: number, place: BlockPlace): Promise<Buffer> {
    const location = (await locateBlocks(this.#db, [blockId])).get(blockId);
    return this.read(blockId, location, place);
  }

  /** The verified plaintext of one block; `location` may be stale (the pack compacted away): it is looked up again. */
  async read(blockId: number, location: BlockLocation | undefined, place: BlockPlace): Promise<Buffer> {
    const offset = place.blockIndex * IMAGE_BLOCK_SIZE;
    let loc = location;
    for (let attempt = 0; ; attempt++) {
      if (!loc) throw new CorruptBlockError(place.amiId, place.diskIndex, offset, `block ${blockId} is missing from the store`);
      let record: Buffer;
      try {
        record = await this.#packs.read(loc.packId, loc.packOffset, RECORD_HEADER_SIZE + loc.storedLen);
      } catch (thrown) {
        if (thrown instanceof PackGoneError && attempt === 0) {
          loc = (await locateBlocks(this.#db, [blockId])).get(blockId);
          continue;
        }
        if (thrown instanceof PackGoneError) throw new CorruptBlockError(place.amiId, place.diskIndex, offset, `pack ${loc.packId} of block ${blockId} is missing`);
        throw thrown;
      }
      const sealer = await this.#sealerForKey(loc.keyId);
      try {
        return decodeRecord(record, loc, sealer);
      } catch (thrown) {
        if (thrown instanceof BlockCheckError) {
          throw new CorruptBlockError(
            place.amiId,
            place.diskIndex,
            offset,
            `block ${blockId} (pack ${loc.packId} offset ${loc.packOffset}) fails its check: ${thrown.message}`,
          );
        }
        throw thrown;
      }
    }
  }

  /** The non-zero blocks of a snapshot in block order, each verified. */
  async *diskBlocks(manifest: ManifestReader, manifestSha256: string, amiId: string, diskIndex: number): AsyncGenerator<DiskBlock> {
    const inFlight: { blockIndex: number; data: Promise<Buffer> }[] = [];
    for await (const chunk of manifest.chunks(manifestSha256)) {
      const located = await locateBlocks(this.#db, [...new Set(chunk.ids)]);
      for (let i = 0; i < chunk.ids.length; i++) {
        const id = chunk.ids[i]!;
        const blockIndex = chunk.indexes[i]!;
        const data = this.read(id, located.get(id), { amiId, diskIndex, blockIndex });
        data.catch(() => {}); // awaited below, in order; this only keeps an early failure from counting as unhandled
        inFlight.push({ blockIndex, data });
        if (inFlight.length >= READ_AHEAD) {
          const head = inFlight.shift()!;
          yield { blockIndex: head.blockIndex, data: await head.data };
        }
      }
    }
    while (inFlight.length > 0) {
      const head = inFlight.shift()!;
      yield { blockIndex: head.blockIndex, data: await head.data };
    }
  }
}

export function noSealerFor(keyRef: string): ImageStoreError {
  return new ImageStoreError('NoSealer', `Blocks sealed under ${keyRef} cannot be opened: no sealer for that key is configured.`);
}
