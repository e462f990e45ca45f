/**
 * The blocks of the image a run builds on (its parent), by storage id: a run that copies a disk again (a hash diff)
 * asks about thousands of blocks its parent already holds. The collector marks every block of a writing run's
 * parent image, deleted or not, until the run ends (garbageCollector.ts, referencedSnapshots), and a run can only
 * begin on an available parent, so these blocks need no stamp to stay: missingBlocks answers them from here without
 * the index UPDATE, and recordBlocks uses their ids as it uses its other known blocks (knownBlocks.ts).
 */
import type { ImageDb } from './db.ts';
import { forEachManifestId } from './imageUsage.ts';
import { locateBlocks, snapshotsOf } from '../store/images/index.ts';

/** Above this many distinct blocks (32 GiB of data, about 8 MB of map) the run asks the index as before. */
const MAX_PARENT_BLOCKS = 65_536;
/**
 * Blocks a run asks the index about before its parent's are loaded: a run that asks about few (a dirty-bitmap
 * incremental's changed blocks) never pays for reading the parent's manifests; one that copies the disk again does
 * after its first 256 MiB, in the background, and asks the index until the map is there.
 */
const LOAD_AFTER_ASKED = 512;

/** One writing run's view of its parent's blocks. */
export class ParentBlocks {
  readonly #load: () => Promise<Map<string, number> | undefined>;
  #asked = 0;
  #started = false;
  #blocks: Map<string, number> | undefined;

  constructor(load: () => Promise<Map<string, number> | undefined>) {
    this.#load = load;
  }

  /** The parent's block id for this hex storage id, when the map is loaded and holds it. */
  get(hex: string): number | undefined {
    return this.#blocks?.get(hex);
  }

  /** Counts blocks asked of the index; past the threshold the parent's blocks are loaded (a failure: never). */
  asked(count: number): void {
    this.#asked += count;
    if (this.#started || this.#asked < LOAD_AFTER_ASKED) return;
    this.#started = true;
    void this.#load().then(
      (blocks) => (this.#blocks = blocks),
      () => undefined,
    );
  }
}

/** Hex storage id → block id, for the parent's blocks sealed under `keyId`; undefined when too large. */
export async function loadParentBlocks(
  db: ImageDb,
  manifestPath: (snapshotId: string) => Promise<string>,
  parentAmiId: string,
  keyId: number,
): Promise<Map<string, number> | undefined> {
  const ids = new Set<number>();
  for (const snapshot of (await snapshotsOf(db, [parentAmiId])).get(parentAmiId) ?? []) {
    await forEachManifestId(await manifestPath(snapshot.snapshotId), snapshot.manifestSha256, (id) => {
      if (id > 0) ids.add(id);
    });
    if (ids.size > MAX_PARENT_BLOCKS) return undefined;
  }
  const blocks = new Map<string, number>();
  for (const [blockId, block] of await locateBlocks(db, [...ids])) if (block.keyId === keyId) blocks.set(block.storageId.toString('hex'), blockId);
  return blocks;
}
