/** A compact set of block indexes (one bit each), for resume state that must stay small for terabyte disks. */
export function encodeBlockSet(indexes: Iterable<number>, blockCount: number): string {
  const bits = Buffer.alloc(Math.ceil(blockCount / 8));
  for (const i of indexes) if (i >= 0 && i < blockCount) bits[i >> 3]! |= 1 << (i & 7);
  return bits.toString('base64');
}

export function decodeBlockSet(encoded: string): Set<number> {
  const bits = Buffer.from(encoded, 'base64');
  const set = new Set<number>();
  for (let byte = 0; byte < bits.length; byte++) {
    const value = bits[byte]!;
    if (value === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (value & (1 << bit)) set.add(byte * 8 + bit);
  }
  return set;
}
