/** A growable set of small non-negative integers (block ids, block indexes): one bit each, bounded memory. */
export class BitSet {
  #words: Uint32Array;
  #count = 0;

  constructor(capacity = 1024) {
    this.#words = new Uint32Array(Math.max(1, Math.ceil(capacity / 32)));
  }

  /** How many members. */
  get count(): number {
    return this.#count;
  }

  has(n: number): boolean {
    const word = Math.floor(n / 32);
    return word < this.#words.length && (this.#words[word]! & (1 << (n & 31))) !== 0;
  }

  /** Adds n; returns true if it was not there yet. */
  add(n: number): boolean {
    const word = Math.floor(n / 32);
    if (word >= this.#words.length) this.#grow(word + 1);
    const bit = 1 << (n & 31);
    const old = this.#words[word]!;
    if ((old & bit) !== 0) return false;
    this.#words[word] = old | bit;
    this.#count++;
    return true;
  }

  #grow(words: number): void {
    const next = new Uint32Array(Math.max(words, this.#words.length * 2));
    next.set(this.#words);
    this.#words = next;
  }
}
