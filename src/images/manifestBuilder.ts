/**
 * Builds a new snapshot's manifest at finish: the run's committed blocks laid over the parent snapshot's
 * (incremental mode) or over zeros (full mode), streamed a range at a time into a ManifestWriter.
 */
import { BitSet } from './bitSet.ts';
import type { ImageDb } from './db.ts';
import { MANIFEST_CHUNK, ManifestReader, ManifestWriter, type ManifestSummary } from './manifest.ts';
import { runBlocksInRange } from './runBlocks.ts';

export interface ManifestSource {
  db: ImageDb;
  runSeq: number;
  diskIndex: number;
  sizeBytes: number;
  blockCount: number;
  /** The parent's snapshot of the same disk, when the run inherits unrecorded blocks. */
  parent?: { path: string; sha256: string };
}

export async function buildManifest(source: ManifestSource, path: string, distinct: BitSet): Promise<ManifestSummary> {
  const parent = source.parent ? await ManifestReader.open(source.parent.path) : undefined;
  const writer = new ManifestWriter(path, source.sizeBytes, source.blockCount);
  try {
    let parentChunks: AsyncIterator<{ start: number; ids: Float64Array }> | undefined;
    if (parent) {
      await parent.verify(source.parent!.sha256);
      parentChunks = parent.chunks(source.parent!.sha256, MANIFEST_CHUNK)[Symbol.asyncIterator]();
    }
    for (let start = 0; start < source.blockCount; start += MANIFEST_CHUNK) {
      const count = Math.min(MANIFEST_CHUNK, source.blockCount - start);
      const ids = new Float64Array(count);
      if (parentChunks) {
        const next = await parentChunks.next();
        if (next.done) parentChunks = undefined;
        else ids.set(next.value.ids.subarray(0, Math.min(count, next.value.ids.length)));
      }
      for (const row of await runBlocksInRange(source.db, source.runSeq, source.diskIndex, start, start + count)) {
        ids[Number(row.block_index) - start] = Number(row.block_id);
      }
      for (const id of ids) {
        writer.push(id);
        if (id !== 0) distinct.add(id);
      }
    }
    await parentChunks?.return?.();
    return writer.finish();
  } catch (thrown) {
    writer.abort();
    throw thrown;
  } finally {
    await parent?.close();
  }
}
