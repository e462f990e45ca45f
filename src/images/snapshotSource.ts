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

  function block(blockIndex: number, blockId: number): Promise<Buffer> {
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
      const end = offset + length;
      const ids = await manifest.entries(first, Math.min(STATUS_BLOCKS, Math.ceil(end / IMAGE_BLOCK_SIZE) - first));
      const runs: { length: number; zero: boolean }[] = [];
      for (let i = 0; i < ids.length; i++) {
        const from = Math.max(offset, (first + i) * IMAGE_BLOCK_SIZE);
        const to = Math.min(end, (first + i + 1) * IMAGE_BLOCK_SIZE);
        const zero = ids[i] === 0;
        const last = runs.at(-1);
        if (last && last.zero === zero) last.length += to - from;
        else runs.push({ length: to - from, zero });
      }
      return runs;
    },
    async read(offset, length) {
      const out = Buffer.alloc(length);
      const first = Math.floor(offset / IMAGE_BLOCK_SIZE);
      const ids = await manifest.entries(first, Math.ceil((offset + length) / IMAGE_BLOCK_SIZE) - first);
      await Promise.all(
        [...ids].map(async (id, i) => {
          if (id === 0) return;
          const start = (first + i) * IMAGE_BLOCK_SIZE;
          const data = await block(first + i, id);
          const from = Math.max(offset, start);
          const to = Math.min(offset + length, start + data.length);
          if (to > from) data.copy(out, from - offset, from - start, to - start);
        }),
      );
      onRead?.(offset + length);
      return out;
    },
  };
}
