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

  /** Whether current() can answer: an item of the page in hand, or the end. */
  get ready(): boolean {
    return this.#done || (this.#page !== undefined && this.#at < this.#length(this.#page));
  }

  /** Reads pages until current() can answer. */
  async fill(): Promise<void> {
    while (!this.ready) {
      const next = await this.#pages.next();
      if (next.done) this.#done = true;
      else {
        this.#page = next.value;
        this.#at = 0;
      }
    }
  }

  /** The current item (undefined at the end); only once ready. */
  current(): Item | undefined {
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
    // The parent's structure and checksum are checked as its chunks are read (chunks() throws at the first fault,
    // the checksum at its end); a damaged parent then leaves no manifest behind, only the aborted temporary file.
    // Pages are awaited only when one runs out: an await per entry made an incremental's merge of a parent of a few
    // thousand blocks tens of ms (most of finishImage).
    for (;;) {
      if (!recorded.ready) await recorded.fill();
      if (inherited && !inherited.ready) await inherited.fill();
      const mine = recorded.current();
      const theirs = inherited?.current();
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
