/** The image store's public shapes. Times are epoch milliseconds; sizes are bytes. */
import type { Tenant } from '../domain/tenant.ts';
import type { BlockSealer } from './blockSealer.ts';
import type { BlockRangeSet } from '../lib/blockRangeSet.ts';

export type { Tenant };

export interface DiskSpec {
  /** The disk's position in the VM (0 = boot disk). */
  index: number;
  sizeBytes: number;
}

export type ImageMode = 'full' | 'incremental';
export type Compression = 'zstd' | 'none';

export interface BeginImageOptions {
  tenant: Tenant;
  replicationJobId: string;
  /** The image this run builds on. Required for `incremental`; for `full` it is only recorded as lineage. */
  parentAmiId?: string;
  /**
   * `full`: a block index never recorded is zero. `incremental` (dirty-bitmap runs): it holds the parent's block.
   * Default: `full`.
   */
  mode?: ImageMode;
  sealer: BlockSealer;
  disks: DiskSpec[];
  /** Default: the store's (zstd). */
  compression?: Compression;
}

export interface RunDisk extends DiskSpec {
  blockCount: number;
  snapshotId: string;
}

export interface ImageRunInfo {
  runId: string;
  amiId: string;
  state: 'writing' | 'finished';
  /** True when this call picked up a run begun earlier (after a crash or restart). */
  resumed: boolean;
  mode: ImageMode;
  parentAmiId: string | null;
  keyRef: string;
  disks: RunDisk[];
}

/** One block index of a snapshot; `sha256: null` means the block is zero. */
export interface RecordedBlock {
  blockIndex: number;
  sha256: Buffer | null;
}

/** Which block indexes of a disk a run has committed, as sorted ranges (see src/lib/blockRangeSet.ts). */
export type CommittedBlocks = BlockRangeSet;

export interface PutBlocksOptions {
  /** The digests were computed in this process from these exact bytes, and no block is all zeros: skip the checks. */
  trustedDigests?: boolean;
}

export interface PutBlockResult {
  /** False when the store already had the block (nothing was written). */
  stored: boolean;
  /** Bytes it takes in its pack (header + compressed/sealed payload); 0 when not stored. */
  storedBytes: number;
}

export interface FinishedImage {
  amiId: string;
  /** In disk order (as given to beginImage). */
  snapshotIds: string[];
}

export interface ImageDisk {
  index: number;
  snapshotId: string;
  sizeBytes: number;
  blockCount: number;
  /** Blocks that are not zero. */
  dataBlocks: number;
}

export interface ImageSummary {
  amiId: string;
  tenant: Tenant;
  replicationJobId: string;
  runId: string;
  parentAmiId: string | null;
  createdAt: number;
  encrypted: boolean;
  keyRef: string;
  disks: ImageDisk[];
  /** Sum of the disk sizes. */
  logicalBytes: number;
  dataBlocks: number;
  /** Different blocks referenced (a block repeated within the image counts once). */
  distinctBlocks: number;
  /** What this image added to the store when it was made: blocks and their stored bytes. */
  newBlocks: number;
  newBytes: number;
}

export interface ImageDetails extends ImageSummary {
  usage: {
    /** Stored bytes of the image's distinct blocks (after compression and sealing). */
    storedBytes: number;
    /** Distinct blocks also referenced by another available image. */
    sharedBlocks: number;
    /** Blocks only this image references, and their stored bytes: what deleting it would free. */
    exclusiveBlocks: number;
    exclusiveBytes: number;
  };
}

export type ExportFormat = 'raw' | 'qcow2' | 'vmdk';

export interface ExportProgress {
  phase: 'copy' | 'convert';
  bytesDone: number;
  bytesTotal: number;
}

export interface ExportOptions {
  onProgress?: (progress: ExportProgress) => void;
  signal?: AbortSignal;
}

export interface ExportResult {
  format: ExportFormat;
  sizeBytes: number;
  /** Data (non-zero) bytes read from the store. */
  dataBytes: number;
}

export interface GcOptions {
  /** Rewrite packs whose live bytes fell below `compactBelow` of their size. Default true. */
  compact?: boolean;
  /** Default 0.5. */
  compactBelow?: number;
}

export interface GcReport {
  generation: number;
  markedBlocks: number;
  sweptBlocks: number;
  /** Stored bytes of the swept blocks. */
  sweptBytes: number;
  imagesPurged: number;
  manifestsRemoved: number;
  packsDeleted: number;
  packsCompacted: number;
  /** Bytes of pack files given back to the file system (deleted minus rewritten). */
  bytesFreed: number;
  durationMs: number;
}

export interface StoreStats {
  blocks: number;
  /** Bytes the indexed blocks take in packs (headers included). */
  storedBytes: number;
  /** Plaintext bytes of the indexed blocks. */
  rawBytes: number;
  packs: number;
  /** Bytes of pack files on disk (live, dead and headers). */
  packBytes: number;
}

export interface ImageStoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Retention's hook into the image store: the scheduler drains the deletion queue through it (core/imageRetention.ts). */
export interface ImageDeleter {
  deleteImage(tenant: Tenant, replicationJobId: string, amiId: string): Promise<void>;
}
