/**
 * A set of block indexes kept as sorted, disjoint ranges, and its wire codec: what a run has committed, as the
 * service reads it from its store and as it tells a connector that resumes. Memory and encoded size follow how
 * fragmented the set is, never the size of the disk, so a 64 TiB disk with a few committed blocks costs a few bytes.
 *
 * Wire format (the connector protocol's `committedRanges`, one string per disk): base64 of unsigned LEB128 varints,
 * two per range in ascending order — the gap since the end of the previous range (since 0 for the first), then
 * the range's length (at least 1). Adjacent ranges are merged, so every gap after the first is at least 1.
 */

/** Half-open range of block indexes [start, end). */
export interface IndexRange {
  start: number;
  end: number;
}

export class BlockRangeSetError extends Error {
  override name = 'BlockRangeSetError';
}

export class BlockRangeSet {
  /** start0, end0, start1, end1, … (doubles: block indexes stay far below 2^53). */
  #bounds = new Float64Array(16);
  #ranges = 0;
  #count = 0;

  /** How many block indexes are in the set. */
  get count(): number {
    return this.#count;
  }

  /** How many disjoint ranges hold them. */
  get rangeCount(): number {
    return this.#ranges;
  }

  /** The first index past the set's last range (0 when empty). */
  get end(): number {
    return this.#ranges === 0 ? 0 : this.#bounds[2 * this.#ranges - 1]!;
  }

  has(index: number): boolean {
    // The last range whose start is at most `index`.
    let low = 0;
    let high = this.#ranges - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.#bounds[2 * mid]! <= index) low = mid + 1;
      else high = mid - 1;
    }
    return high >= 0 && index < this.#bounds[2 * high + 1]!;
  }

  /** Adds [start, end), which must not begin before the set's end: sets are built from ordered scans. */
  appendRange(start: number, end: number): void {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
      throw new BlockRangeSetError(`[${start}, ${end}) is not a range of block indexes.`);
    }
    if (start < this.end) throw new BlockRangeSetError(`[${start}, ${end}) starts before the end of the set (${this.end}): append in order.`);
    this.#count += end - start;
    if (this.#ranges > 0 && start === this.end) {
      this.#bounds[2 * this.#ranges - 1] = end;
      return;
    }
    if (2 * this.#ranges + 2 > this.#bounds.length) {
      const grown = new Float64Array(this.#bounds.length * 2);
      grown.set(this.#bounds);
      this.#bounds = grown;
    }
    this.#bounds[2 * this.#ranges] = start;
    this.#bounds[2 * this.#ranges + 1] = end;
    this.#ranges++;
  }

  /** Adds one index, at or after the set's end (an index already at the end's edge is a no-op). */
  append(index: number): void {
    if (this.#ranges > 0 && index === this.end - 1) return;
    this.appendRange(index, index + 1);
  }

  /** start0, end0, start1, end1, …: a view for codecs (not to be written). */
  bounds(): Float64Array {
    return this.#bounds.subarray(0, 2 * this.#ranges);
  }

  *ranges(): Generator<IndexRange> {
    for (let i = 0; i < this.#ranges; i++) yield { start: this.#bounds[2 * i]!, end: this.#bounds[2 * i + 1]! };
  }

  static of(ranges: Iterable<IndexRange>): BlockRangeSet {
    const set = new BlockRangeSet();
    for (const range of ranges) set.appendRange(range.start, range.end);
    return set;
  }
}

// ── Wire codec ───────────────────────────────────────────────────────────────────────────────────────────────

/** A varint of a safe integer takes at most 8 bytes (8 × 7 = 56 bits ≥ 53). */
const MAX_VARINT_BYTES = 8;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Writes `value` at `at` as a varint; returns the offset after it. */
function writeVarint(out: Buffer, at: number, value: number): number {
  let rest = value;
  let next = at;
  while (rest >= 0x80) {
    out[next++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[next++] = rest;
  return next;
}

export function encodeBlockRangeSet(set: BlockRangeSet): string {
  const bounds = set.bounds();
  const out = Buffer.allocUnsafe(bounds.length * MAX_VARINT_BYTES);
  let at = 0;
  let previousEnd = 0;
  for (let i = 0; i < bounds.length; i += 2) {
    at = writeVarint(out, at, bounds[i]! - previousEnd);
    at = writeVarint(out, at, bounds[i + 1]! - bounds[i]!);
    previousEnd = bounds[i + 1]!;
  }
  return out.toString('base64', 0, at);
}

/** Decodes and checks an encoded set: every range must lie within [0, blockCount). */
export function decodeBlockRangeSet(encoded: string, blockCount: number): BlockRangeSet {
  if (typeof encoded !== 'string' || encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw new BlockRangeSetError('An encoded block set must be a base64 string.');
  }
  const bytes = Buffer.from(encoded, 'base64');
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (at >= bytes.length) throw new BlockRangeSetError('An encoded block set ends inside a number.');
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw new BlockRangeSetError('An encoded block set holds a number that is too large.');
  };
  const set = new BlockRangeSet();
  let previousEnd = 0;
  while (at < bytes.length) {
    const gap = readVarint();
    const length = readVarint();
    if (set.rangeCount > 0 && gap === 0) throw new BlockRangeSetError('An encoded block set has adjacent ranges that are not merged.');
    const start = previousEnd + gap;
    const end = start + length;
    if (length === 0 || end > blockCount) throw new BlockRangeSetError(`An encoded block set has a range [${start}, ${end}) outside the disk's ${blockCount} blocks.`);
    set.appendRange(start, end);
    previousEnd = end;
  }
  return set;
}
