/**
 * A small LRU of loads (L2 tables by L1 index, inflated clusters by host offset). Entries are promises, so
 * concurrent reads that need the same item share one load; a failed load is dropped so the next read retries.
 */
export class PromiseLru<V> {
  readonly #limit: number;
  readonly #items = new Map<number, Promise<V>>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(key: number, load: () => Promise<V>): Promise<V> {
    const hit = this.#items.get(key);
    if (hit) {
      this.#items.delete(key);
      this.#items.set(key, hit);
      return hit;
    }
    const loading = load();
    loading.catch(() => {
      if (this.#items.get(key) === loading) this.#items.delete(key);
    });
    this.#items.set(key, loading);
    while (this.#items.size > this.#limit) this.#items.delete(this.#items.keys().next().value!);
    return loading;
  }

  clear(): void {
    this.#items.clear();
  }
}
