/**
 * What a run's path needs from wherever images are kept: the connector-facing data plane (core/runImages.ts)
 * writes a run's image through it, retention deletes through it, and readers take blocks back out. The local
 * image store (imageStore.ts) is today's one implementation; how it keeps block bytes (local pack files or an
 * S3-compatible bucket) is its BlockStorage's business (blocks/blockStorage.ts), invisible from here.
 *
 * Writing: beginImage → (missingBlocks → putBlocks → recordBlocks)* → finishImage, or abandonImage; on resume,
 * committedBlocks says what a run already recorded.
 */
import type { BlockSealer } from './blockSealer.ts';
import type { DiffSpan } from './parentDiff.ts';
import type {
  BeginImageOptions,
  CommittedBlocks,
  FinishedImage,
  ImageDeleter,
  ImageDetails,
  ImageRunInfo,
  ImageSummary,
  PutBlockResult,
  PutBlocksOptions,
  RecordedBlock,
  Tenant,
} from './types.ts';

export interface ImageTarget extends ImageDeleter {
  /** Starts a run's image, or picks up the one begun earlier under the same run id. */
  beginImage(runId: string, options: BeginImageOptions): Promise<ImageRunInfo>;
  /** Picks up a run begun elsewhere (another node sharing the store, or this one before a restart); false: not writing. */
  resumeImage(runId: string, sealerOf: () => Promise<BlockSealer>): Promise<boolean>;
  /** For each plaintext SHA-256: true when the target lacks the block (send it), false when it has it. */
  missingBlocks(runId: string, sha256s: readonly Buffer[]): Promise<boolean[]>;
  /** Hash diff: which indexes of a span of an incremental run's disk differ from its parent's (parentDiff.ts). */
  diffBlocks(runId: string, diskIndex: number, span: DiffSpan): Promise<number[]>;
  /** Stores blocks; durable and indexed at the next recordBlocks or finishImage. */
  putBlocks(runId: string, blocks: readonly { sha256: Buffer; data: Buffer }[], options?: PutBlocksOptions): Promise<PutBlockResult[]>;
  /** Makes every block put so far durable and indexed (recordBlocks and finishImage do it too). */
  flush(): Promise<void>;
  /** Commits which block each listed block index of a disk holds (sha256 null = zero). */
  recordBlocks(runId: string, diskIndex: number, entries: readonly RecordedBlock[]): Promise<void>;
  /** The block indexes of a disk the run has committed (to skip on resume). */
  committedBlocks(runId: string, diskIndex: number): Promise<CommittedBlocks>;
  /** Makes the image visible, its manifests durable first. Idempotent. */
  finishImage(runId: string): Promise<FinishedImage>;
  /** Gives up a run's image: its committed blocks become garbage. */
  abandonImage(runId: string): Promise<void>;
  /** One available image (rows only): what a run needs to build on a parent. */
  findImage(amiId: string): Promise<ImageSummary | undefined>;
  /** The available images, of one tenant or all. */
  listImages(tenant?: Tenant): Promise<ImageSummary[]>;
  /** One available image with what it costs in the store (admin views, not hot paths). */
  getImage(amiId: string): Promise<ImageDetails | undefined>;
  /** One block of a disk, verified; zeros for a zero block. */
  readBlock(amiId: string, diskIndex: number, blockIndex: number): Promise<Buffer>;
}
