/** Block arithmetic: which 512 KiB blocks a set of byte ranges touches, kept as compact ranges of block indexes. */
import { BLOCK_SIZE } from '../domain/blocks.ts';

/** Half-open range of block indexes [start, end). */
export interface BlockRange {
  start: number;
  end: number;
}


/** Adds the blocks touched by [offset, offset+length) to `ranges`, merging with the last range when adjacent. */
export function addByteRange(ranges: BlockRange[], offset: number, length: number): void {
  if (length <= 0) return;
  const start = Math.floor(offset / BLOCK_SIZE);
  const end = Math.ceil((offset + length) / BLOCK_SIZE);
  const last = ranges[ranges.length - 1];
  if (last && start <= last.end) {
    last.end = Math.max(last.end, end);
    return;
  }
  ranges.push({ start, end });
}

/** Blocks touched by the given byte ranges (which must come in ascending order). */
export async function blocksOf(byteRanges: AsyncIterable<{ offset: number; length: number }>): Promise<BlockRange[]> {
  const ranges: BlockRange[] = [];
  for await (const range of byteRanges) addByteRange(ranges, range.offset, range.length);
  return ranges;
}

export function countBlocks(ranges: readonly BlockRange[]): number {
  return ranges.reduce((n, r) => n + (r.end - r.start), 0);
}

export function* eachBlock(ranges: readonly BlockRange[]): Generator<number> {
  for (const range of ranges) for (let i = range.start; i < range.end; i++) yield i;
}
