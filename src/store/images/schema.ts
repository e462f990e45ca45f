/**
 * Row shapes of the image store's tables (migration 002), as Kysely sees them. Times are epoch milliseconds.
 * Block ids are SQLite rowids handed out by AUTOINCREMENT: never reused, so a stale reference can only ever find
 * nothing, never someone else's block.
 */
import type { Generated } from 'kysely';

/** One row (id = 1): the garbage collector's generation and its cross-process lease. */
export interface ImageStoreStateTable {
  id: number;
  /**
   * A logical clock, advanced when a collection or a run begins; every write that makes or hands out a reference
   * to a block stamps the block with the current value.
   */
  gc_generation: number;
  gc_owner: string | null;
  gc_lease_until: number | null;
}

/** Sealer key references (see src/images/blockSealer.ts), numbered so block rows carry a small integer. */
export interface ImageKeysTable {
  key_id: Generated<number>;
  key_ref: string;
}

export type PackState = 'open' | 'sealed';

export interface ImagePacksTable {
  pack_id: Generated<number>;
  state: PackState;
  /** `host:pid:token` of the process appending to an open pack. */
  owner: string | null;
  /** End of the last indexed record: bytes past it are a crashed writer's leftovers. */
  end_offset: number;
  created_at: number;
  sealed_at: number | null;
}

export interface ImageBlocksTable {
  block_id: Generated<number>;
  /** The sealer's id for the block: an HMAC of its plaintext SHA-256 under the account's or KMS key's id key (legacy plain blocks: the SHA-256). */
  storage_id: Uint8Array;
  key_id: number;
  pack_id: number;
  /** Offset of the record header in the pack. */
  pack_offset: number;
  /** Bytes after the record header (compressed and/or sealed). */
  stored_len: number;
  /** Plaintext length (512 KiB except perhaps a disk's last block). */
  raw_len: number;
  flags: number;
  /** GC generation of the last write that made or reused a reference to this block. */
  gen: number;
  created_at: number;
}

export type ImageRunMode = 'full' | 'incremental';
export type ImageRunState = 'writing' | 'finished' | 'abandoned';

export interface ImageRunsTable {
  run_seq: Generated<number>;
  run_id: string;
  account_id: string;
  region: string;
  replication_job_id: string;
  parent_ami_id: string | null;
  mode: ImageRunMode;
  key_id: number;
  compression: string;
  state: ImageRunState;
  ami_id: string;
  /** JSON: [{ index, sizeBytes, snapshotId }] */
  disks: string;
  /**
   * The highest block id when the run began: every block this run writes gets a higher one, and while the run is
   * unfinished the collector keeps every block above it, recorded yet or not.
   */
  block_watermark: number;
  /**
   * The generation the run took when it began (beginImage advances it): every block the run reuses is stamped at
   * least this, and while the run is unfinished the collector keeps every block stamped this or later (dedup
   * answers not recorded yet).
   */
  begin_generation: number;
  /** Blocks (and their stored bytes) this run added to the store. */
  new_blocks: number;
  new_bytes: number;
  created_at: number;
  updated_at: number;
}

/** The committed blocks of an unfinished run: block_id 0 means "this block is zero". */
export interface ImageRunBlocksTable {
  run_seq: number;
  disk_index: number;
  block_index: number;
  block_id: number;
}

export type ImageState = 'available' | 'deleted';

export interface ImagesTable {
  ami_id: string;
  account_id: string;
  region: string;
  replication_job_id: string;
  run_id: string;
  parent_ami_id: string | null;
  key_id: number;
  encrypted: number;
  state: ImageState;
  created_at: number;
  deleted_at: number | null;
  logical_bytes: number;
  data_blocks: number;
  distinct_blocks: number;
  new_blocks: number;
  new_bytes: number;
}

export interface ImageSnapshotsTable {
  snapshot_id: string;
  ami_id: string;
  disk_index: number;
  size_bytes: number;
  block_count: number;
  data_blocks: number;
  manifest_sha256: string;
}

export interface ImageTables {
  image_store_state: ImageStoreStateTable;
  image_keys: ImageKeysTable;
  image_packs: ImagePacksTable;
  image_blocks: ImageBlocksTable;
  image_runs: ImageRunsTable;
  image_run_blocks: ImageRunBlocksTable;
  images: ImagesTable;
  image_snapshots: ImageSnapshotsTable;
}
