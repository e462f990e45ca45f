/**
 * Builds a new snapshot's manifest at finish: the run's committed blocks laid over the parent snapshot's
 * (incremental mode) or over zeros (full mode). Both inputs are read in block order and merged as streams, so the
 * work follows the parent's data and the run's records, never the disk's virtual size.
 */
import type { BitSet } from './bitSet.ts';
import type { ImageDb } from './db.ts';
import { ManifestWriter, openManifest, type ManifestEntries, type ManifestSummary } from './manifest.ts';
import { runBlockPages, type RunBlockRow } from '../store/images/index.ts';

export interface ManifestSource {
  db: ImageDb;
  runSeq: number;
  diskIndex: number;
  sizeBytes: number;
  blockCount: number;
  /** The parent's snapshot of the same disk, when the run inherits unrecorded blocks. */
  parent?: { path: string; sha256: string };
}

/** Walks a stream of pages one item at a time. */
class Cursor<Page, Item> {
  readonly #pages: AsyncIterator<Page>;
  readonly #length: (page: Page) => number;
  readonly #item: (page: Page, i: number) => Item;
  #page: Page | undefined;
  #at = 0;
  #done = false;

  constructor(pages: AsyncIterable<Page>, length: (page: Page) => number, item: (page: Page, i: number) => Item) {
    this.#pages = pages[Symbol.asyncIterator]();
    this.#length = length;
    this.#item = item;
  }

  /** The current item, or undefined at the end. */
  async peek(): Promise<Item | undefined> {
    while (!this.#done && (this.#page === undefined || this.#at >= this.#length(this.#page))) {
      const next = await this.#pages.next();
      if (next.done) this.#done = true;
      else {
        this.#page = next.value;
        this.#at = 0;
      }
    }
    return this.#done ? undefined : this.#item(this.#page!, this.#at);
  }

  advance(): void {
    this.#at++;
  }

  async close(): Promise<void> {
    await this.#pages.return?.();
  }
}

export async function buildManifest(source: ManifestSource, path: string, distinct: BitSet): Promise<ManifestSummary> {
  const parent = source.parent ? await openManifest(source.parent.path) : undefined;
  const writer = new ManifestWriter(path, source.sizeBytes, source.blockCount);
  const inherited = parent
    ? new Cursor(parent.chunks(source.parent!.sha256), (c: ManifestEntries) => c.ids.length, (c, i) => ({ blockIndex: c.indexes[i]!, blockId: c.ids[i]! }))
    : undefined;
  const recorded = new Cursor(runBlockPages(source.db, source.runSeq, source.diskIndex), (p: RunBlockRow[]) => p.length, (p, i) => p[i]!);
  try {
    // The parent is checked whole first: a damaged parent must not leave a half-merged manifest behind.
    if (parent) await parent.verify(source.parent!.sha256);
    for (;;) {
      const mine = await recorded.peek();
      const theirs = await inherited?.peek();
      if (!mine && !theirs) break;
      let entry: RunBlockRow;
      if (theirs && (!mine || theirs.blockIndex < mine.blockIndex)) {
        entry = theirs;
        inherited!.advance();
      } else {
        // The run's record wins over the parent's block at the same index (a recorded zero clears it).
        if (theirs && theirs.blockIndex === mine!.blockIndex) inherited!.advance();
        entry = mine!;
        recorded.advance();
      }
      // A parent disk larger than this one: its blocks past the end are not inherited.
      if (entry.blockIndex >= source.blockCount) continue;
      writer.push(entry.blockIndex, entry.blockId);
      if (entry.blockId !== 0) distinct.add(entry.blockId);
    }
    return writer.finish();
  } catch (thrown) {
    writer.abort();
    throw thrown;
  } finally {
    await inherited?.close();
    await recorded.close();
    await parent?.close();
  }
}
