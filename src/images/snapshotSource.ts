/**
 * A snapshot as an NBD source: block status straight from the manifest (zero blocks are holes), reads assembled
 * from verified blocks, with a few decoded blocks cached for requests that do not line up with 512 KiB.
 */
import type { BlockFetcher } from './blockFetcher.ts';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import type { ManifestReader } from './manifest.ts';
import type { NbdSource } from './nbdExportServer.ts';

const CACHED_BLOCKS = 16;
/** Block-status answers cover at most this many blocks (qemu asks again for the rest). */
const STATUS_BLOCKS = 65536;

export function snapshotSource(fetcher: BlockFetcher, manifest: ManifestReader, amiId: string, diskIndex: number, onRead?: (offset: number) => void): NbdSource {
  const size = manifest.sizeBytes;
  const cache = new Map<number, Promise<Buffer>>();

  function blockAt(blockIndex: number, blockId: number): Promise<Buffer> {
    let data = cache.get(blockIndex);
    if (!data) {
      data = fetcher.readById(blockId, { amiId, diskIndex, blockIndex });
      data.catch(() => cache.delete(blockIndex));
      cache.set(blockIndex, data);
      if (cache.size > CACHED_BLOCKS) cache.delete(cache.keys().next().value!);
    }
    return data;
  }

  return {
    size,
    async extents(offset, length) {
      const first = Math.floor(offset / IMAGE_BLOCK_SIZE);
      const last = Math.min(first + STATUS_BLOCKS, Math.ceil((offset + length) / IMAGE_BLOCK_SIZE));
      const end = Math.min(offset + length, last * IMAGE_BLOCK_SIZE);
      const data = await manifest.dataEntries(first, last);
      const runs: { length: number; zero: boolean }[] = [];
      const add = (from: number, to: number, zero: boolean) => {
        if (to <= from) return;
        const previous = runs.at(-1);
        if (previous && previous.zero === zero) previous.length += to - from;
        else runs.push({ length: to - from, zero });
      };
      // Only the data blocks are listed: the gaps between them are holes, however large.
      let at = offset;
      for (const blockIndex of data.indexes) {
        const from = Math.max(offset, blockIndex * IMAGE_BLOCK_SIZE);
        const to = Math.min(end, (blockIndex + 1) * IMAGE_BLOCK_SIZE);
        add(at, from, true);
        add(from, to, false);
        at = to;
      }
      add(at, end, true);
      return runs;
    },
    async read(offset, length) {
      const out = Buffer.alloc(length);
      const first = Math.floor(offset / IMAGE_BLOCK_SIZE);
      const data = await manifest.dataEntries(first, Math.ceil((offset + length) / IMAGE_BLOCK_SIZE));
      await Promise.all(
        [...data.indexes].map(async (blockIndex, i) => {
          const start = blockIndex * IMAGE_BLOCK_SIZE;
          const block = await blockAt(blockIndex, data.ids[i]!);
          const from = Math.max(offset, start);
          const to = Math.min(offset + length, start + block.length);
          if (to > from) block.copy(out, from - offset, from - start, to - start);
        }),
      );
      onRead?.(offset + length);
      return out;
    },
  };
}
