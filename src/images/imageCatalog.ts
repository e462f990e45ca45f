/** Finished images as the public summaries: the index's records (src/store/images) with the key ring's name for their key. */
import type { IndexedImage, IndexedSnapshot } from '../store/images/index.ts';
import type { ImageSummary } from './types.ts';

export function toSummary(image: IndexedImage, snapshots: readonly IndexedSnapshot[], keyRef: string): ImageSummary {
  return {
    amiId: image.amiId,
    tenant: { ...image.tenant },
    replicationJobId: image.replicationJobId,
    runId: image.runId,
    parentAmiId: image.parentAmiId,
    createdAt: image.createdAt,
    encrypted: image.encrypted,
    keyRef,
    disks: snapshots.map((s) => ({ index: s.diskIndex, snapshotId: s.snapshotId, sizeBytes: s.sizeBytes, blockCount: s.blockCount, dataBlocks: s.dataBlocks })),
    logicalBytes: image.logicalBytes,
    dataBlocks: image.dataBlocks,
    distinctBlocks: image.distinctBlocks,
    newBlocks: image.newBlocks,
    newBytes: image.newBytes,
  };
}
