/**
 * A snapshot as an NBD source: block status straight from the manifest (zero blocks are holes), reads assembled
 * from verified blocks, with a few decoded blocks cached for requests that do not line up with 512 KiB.
 * A booting guest reads in small pieces (~32 KiB), so the per-read path matters: which block an index holds is kept
 * in memory per window of the manifest (no file read per request), and a read inside one block is a view of the
 * cached block (no allocation, no copy).
 */
import type { BlockFetcher } from './blockFetcher.ts';
import { IMAGE_BLOCK_SIZE } from './constants.ts';
import type { ManifestReader } from './manifest.ts';
import type { NbdSource } from './nbdExportServer.ts';

const CACHED_BLOCKS = 16;
/** Block-status answers cover at most this many blocks (qemu asks again for the rest). */
const STATUS_BLOCKS = 65536;
/** Manifest entries are looked up this many block indexes at a time and kept (a window of ids is at most 8 KiB). */
const WINDOW_BLOCKS = 1024;
const CACHED_WINDOWS = 256;

export function snapshotSource(fetcher: BlockFetcher, manifest: ManifestReader, amiId: string, diskIndex: number, onRead?: (offset: number) => void): NbdSource {
  const size = manifest.sizeBytes;
  const cache = new Map<number, Promise<Buffer>>();
  const windows = new Map<number, Promise<Map<number, number>>>();

  /** Block index → block id of the data blocks in the window holding `blockIndex` (zero blocks are absent). */
  function windowOf(blockIndex: number): Promise<Map<number, number>> {
    const window = Math.floor(blockIndex / WINDOW_BLOCKS);
    let ids = windows.get(window);
    if (!ids) {
      const first = window * WINDOW_BLOCKS;
      ids = manifest.dataEntries(first, Math.min(manifest.blockCount, first + WINDOW_BLOCKS)).then((data) => {
        const byIndex = new Map<number, number>();
        data.indexes.forEach((index, i) => byIndex.set(index, data.ids[i]!));
        return byIndex;
      });
      ids.catch(() => windows.delete(window));
      windows.set(window, ids);
      if (windows.size > CACHED_WINDOWS) windows.delete(windows.keys().next().value!);
    }
    return ids;
  }

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
      const first = Math.floor(offset / IMAGE_BLOCK_SIZE);
      const last = Math.ceil((offset + length) / IMAGE_BLOCK_SIZE);
      if (last - first === 1) {
        // The common case: one block. A view of the cached block is safe, as nothing writes to a served block.
        const id = (await windowOf(first)).get(first);
        const start = first * IMAGE_BLOCK_SIZE;
        const block = id === undefined ? undefined : await blockAt(first, id);
        onRead?.(offset + length);
        if (block && block.length >= offset - start + length) return block.subarray(offset - start, offset - start + length);
        const out = Buffer.alloc(length);
        if (block && block.length > offset - start) block.copy(out, 0, offset - start);
        return out;
      }
      const out = Buffer.alloc(length);
      await Promise.all(
        Array.from({ length: last - first }, async (_, k) => {
          const blockIndex = first + k;
          const id = (await windowOf(blockIndex)).get(blockIndex);
          if (id === undefined) return;
          const start = blockIndex * IMAGE_BLOCK_SIZE;
          const block = await blockAt(blockIndex, id);
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
