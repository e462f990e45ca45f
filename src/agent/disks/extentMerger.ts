/** Building a disk's extent list from cluster-sized pieces: adjacent pieces of the same kind become one extent. */
import type { Extent } from './diskSource.ts';

/** Merges adjacent extents of the same kind; add() returns the extents that are complete. */
export class ExtentMerger {
  #pending: Extent | undefined;

  add(offset: number, length: number, zero: boolean): Extent[] {
    if (length <= 0) return [];
    if (this.#pending && this.#pending.zero === zero) {
      this.#pending.length += length;
      return [];
    }
    const done = this.#pending;
    this.#pending = { offset, length, zero };
    return done ? [done] : [];
  }

  flush(): Extent | undefined {
    const done = this.#pending;
    this.#pending = undefined;
    return done;
  }
}
