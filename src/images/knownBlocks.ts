/**
 * The block ids a run being written already has: blocks missingBlocks told it the store has, and blocks a flush
 * indexed for it. Either statement stamped the block after the run began, which protects it from collection until
 * the run ends (garbageCollector.ts), so recordBlocks needs no second lookup (and no second stamp) for them. Kept
 * until recorded, and bounded: a block missing here is simply looked up.
 */
const MAX_KNOWN_BLOCKS = 16_384;

export class KnownBlocks {
  readonly #ids = new Map<string, number>();

  /** `hex`: the block's storage id in hex. */
  remember(hex: string, blockId: number): void {
    if (this.#ids.size >= MAX_KNOWN_BLOCKS) this.#ids.delete(this.#ids.keys().next().value!);
    this.#ids.set(hex, blockId);
  }

  get(hex: string): number | undefined {
    return this.#ids.get(hex);
  }

  forget(hex: string): void {
    this.#ids.delete(hex);
  }
}
