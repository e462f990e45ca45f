/**
 * Where an image store keeps its block bytes: pack objects (records of sealed blocks, see ../packFile.ts) and
 * manifests (../manifest.ts), each named by a relative object name (`packs/0000/00000001.pack`,
 * `manifests/snap-….manifest`). The SQL index says which block lives at which offset of which pack; a storage only
 * keeps bytes. Implementations: local files under the data dir (localBlockStorage.ts, the default) and any
 * S3-compatible bucket (s3BlockStorage.ts).
 *
 * The contract both keep (test/images/blockStorage.test.ts runs it against each):
 * - a pack is written through a PackUpload in append order and becomes readable and listed only once sealed
 *   (local files are written in place, but recovery and GC only ever trust the index's end offset, so an open
 *   local pack's bytes are never read before they are indexed);
 * - a manifest is put whole: it exists completely or not at all;
 * - ranged reads return exactly the bytes asked for, fewer only past the object's end; a missing object raises
 *   BlockObjectGoneError (compaction may delete a pack under a reader, who then looks the block up again);
 * - delete is idempotent; list gives every complete object under a prefix with its size;
 * - unfinishedUploads lists what a writer killed mid-pack left behind (S3 only), and abortUnfinished removes it.
 */


export class BlockObjectGoneError extends Error {
  readonly objectName: string;
  constructor(objectName: string) {
    super(`block object ${objectName} is gone`);
    this.name = 'BlockObjectGoneError';
    this.objectName = objectName;
  }
}

export interface StoredObject {
  name: string;
  sizeBytes: number;
}

/** An upload begun and never completed nor aborted (an S3 multipart upload a killed writer left behind). */
export interface UnfinishedUpload {
  name: string;
  uploadId: string;
  /** When the object store says it began (ms since the epoch, the store's clock). */
  startedAt: number;
}

/** A pack being written: appends in order, visible once sealed, nothing left behind once aborted. */
export interface PackUpload {
  readonly name: string;
  /** Bytes appended so far (the next record's offset). */
  readonly size: number;
  /** Appends one record's parts; returns its offset. Appends are applied in call order. The parts are copied or
   * written before it returns, so the caller may reuse their buffers (createPack's header likewise). */
  append(parts: readonly Buffer[]): Promise<number>;
  /** Makes the pack complete, durable and visible. */
  seal(): Promise<void>;
  /** Drops the pack and whatever of it was already uploaded. */
  abort(): Promise<void>;
}

export interface BlockStorage {
  /** `local` or `s3`, for logs and metrics. */
  readonly kind: string;
  /** Where the objects live, for humans (a directory or an s3:// URL). */
  readonly location: string;
  /** Starts a pack (the name must not exist) whose first bytes are `header`. */
  createPack(name: string, header: Buffer): Promise<PackUpload>;
  /** Stores a whole object (a manifest): visible complete or not at all. Replaces an existing one. */
  putObject(name: string, bytes: Buffer): Promise<void>;
  /** `length` bytes at `offset`; fewer only when the object is shorter. */
  readRange(name: string, offset: number, length: number): Promise<Buffer>;
  /** The whole object. */
  readObject(name: string): Promise<Buffer>;
  /** The object's size, or undefined when it does not exist. */
  sizeOf(name: string): Promise<number | undefined>;
  /** Removes an object; removing a missing one is not an error. */
  delete(name: string): Promise<void>;
  /** Every complete object whose name starts with `prefix`, in name order. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Uploads under `prefix` begun and never completed nor aborted (none for local files: an open pack is its file). */
  unfinishedUploads(prefix: string): AsyncIterable<UnfinishedUpload>;
  /** Drops an unfinished upload and its parts; one already gone is not an error. */
  abortUnfinished(upload: UnfinishedUpload): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** The object name of a pack: 4096 packs per shard, as local pack files have always been laid out. */
export function packObjectName(packId: number): string {
  const shard = Math.floor(packId / 4096).toString(16).padStart(4, '0');
  return `packs/${shard}/${packId.toString(16).padStart(8, '0')}.pack`;
}

export function manifestObjectName(snapshotId: string): string {
  return `manifests/${snapshotId}.manifest`;
}

/** Object names are relative, slash-separated, without `.` or `..` segments: both backends map them the same way. */
export function checkObjectName(name: string): void {
  if (name === '' || name.startsWith('/') || name.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`invalid block object name ${JSON.stringify(name)}`);
  }
}

/** Every object of a listing, in order (for callers that need them all at once: GC, tests). */
export async function collect(objects: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const all: StoredObject[] = [];
  for await (const object of objects) all.push(object);
  return all;
}
