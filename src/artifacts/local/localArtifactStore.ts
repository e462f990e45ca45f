/**
 * The artifact store: the index in the control plane's database (migration 010), the bytes in blobs (../blobs.ts):
 * files under `<data-dir>/artifacts` (blobFiles.ts, the default, described below), or the block storage's bucket
 * when it is remote (../bucket/bucketBlobs.ts), where the rules for blobs other nodes share apply (sharedBlobs.ts).
 *
 * A write streams the body into a new blob (hashed and checked on the way, fsynced), then commits the index row in
 * one transaction, so an object is visible only once complete and durable; the version it replaced is queued as
 * garbage in that same transaction and deleted after the commit. After a kill -9 at any point the index is
 * consistent (SQLite), and opening the store finishes what was in flight: blobs of uncommitted writes are deleted,
 * committed ones moved into place, queued garbage deleted. Multipart uploads survive restarts: their parts are
 * committed one by one and CompleteMultipartUpload only re-points them, it copies nothing.
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { newMultipartUploadId } from '../../lib/ids.ts';
import { ArtifactError, noSuchKey } from '../errors.ts';
import { DEFAULT_ARTIFACT_LIMITS, type ArtifactLimits } from '../limits.ts';
import { ArtifactStoreBase } from '../appCalls.ts';
import { checkBucketName, checkKey, checkMetadata } from '../names.ts';
import type {
  ArtifactBucket,
  ArtifactStore,
  BodyExpectations,
  ByteRange,
  ListOptions,
  MultipartUpload,
  ObjectListing,
  OpenOptions,
  RangeRequest,
  StoredObject,
  UploadedPart,
  WriteObjectOptions,
} from '../artifactStore.ts';
import { BlobFiles } from './blobFiles.ts';
import type { ArtifactBlobs, ReceivedBlob } from '../blobs.ts';
import { DEFAULT_SHARED_GRACE_MS, SharedBlobs, type SharedArtifactBlobs } from './sharedBlobs.ts';
import {
  bucketHasObjects,
  countBuckets,
  deleteBucket,
  deleteObjectRow,
  dropGarbage,
  findObject,
  insertBucket,
  probeArtifactTables,
  queuedGarbage,
  queueGarbage,
  referencedBlobs,
  replaceObject,
  segmentsOf,
  type ArtifactTx,
} from '../../store/artifacts/artifactIndex.ts';
import { findBucket, listBucketRows, ownedBucket, toStoredObject } from './artifactIndex.ts';
import { listPage } from './listing.ts';
import type { ArtifactDb, ArtifactObjectsTable } from '../../store/artifacts/artifactTables.ts';
import { countOpenUploads, deleteUpload, insertUpload, partsOf, replacePart, uploadIdsOfBucket } from '../../store/artifacts/uploadIndex.ts';
import { findUpload, toUpload, toUploadedPart } from './uploadIndex.ts';
import { completionPlan } from './completion.ts';

export interface ArtifactStoreLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LocalArtifactStoreOptions {
  /** The control plane's Kysely instance, migrated to version 10 or later. */
  db: Kysely<any>;
  dataDir: string;
  now: () => number;
  limits?: Partial<ArtifactLimits>;
  log?: ArtifactStoreLog;
  /** Where the bytes go; default: files under `<dataDir>/artifacts` (blobFiles.ts). */
  blobs?: ArtifactBlobs;
  /** Shared blobs only: how long garbage stays (default DEFAULT_SHARED_GRACE_MS; sharedBlobs.ts says why). */
  garbageGraceMs?: number;
}

const silentLog: ArtifactStoreLog = { info() {}, warn() {} };
/** How often a read looks the object up again when its blobs were collected under it (a concurrent overwrite). */
const READ_ATTEMPTS = 3;

export async function openLocalArtifactStore(options: LocalArtifactStoreOptions): Promise<LocalArtifactStore> {
  const db = options.db as unknown as ArtifactDb;
  try {
    await probeArtifactTables(db);
  } catch (thrown) {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    throw new Error(`The artifact tables are unusable (${why}): apply migration 010 (src/store/migrations/010_artifacts.ts).`);
  }
  const store = new LocalArtifactStore(db, options.blobs ?? new BlobFiles(join(options.dataDir, 'artifacts')), options);
  await store.recover();
  return store;
}

export class LocalArtifactStore extends ArtifactStoreBase implements ArtifactStore {
  readonly limits: ArtifactLimits;
  readonly #db: ArtifactDb;
  readonly #blobs: ArtifactBlobs;
  /** Set when the blobs are shared by other nodes (a bucket): pending rows, a grace period, sweeps. */
  readonly #shared: SharedBlobs | undefined;
  readonly #now: () => number;
  readonly #log: ArtifactStoreLog;
  #collecting: Promise<void> | undefined;
  #collectAgain = false;
  #closed = false;

  /** Use openLocalArtifactStore. */
  constructor(db: ArtifactDb, blobs: ArtifactBlobs, options: LocalArtifactStoreOptions) {
    super();
    this.#db = db;
    this.#blobs = blobs;
    this.#now = options.now;
    this.#log = options.log ?? silentLog;
    this.#shared = blobs.shared
      ? new SharedBlobs(db, blobs as SharedArtifactBlobs, options.now, options.garbageGraceMs ?? DEFAULT_SHARED_GRACE_MS, this.#log)
      : undefined;
    this.limits = { ...DEFAULT_ARTIFACT_LIMITS, ...options.limits };
  }

  /** Finishes what a crash interrupted (see the module comment). */
  async recover(): Promise<void> {
    if (this.#shared) {
      // Temporary files went when the blobs opened; leftovers in the bucket go with the sweep this starts.
      this.#shared.start(() => this.#collectSoon());
      await this.collectGarbage();
      return;
    }
    if (!(this.#blobs instanceof BlobFiles)) throw new Error('unshared artifact blobs are local files');
    const incoming = this.#blobs.incomingIds();
    const committed = await referencedBlobs(this.#db, incoming);
    for (const id of incoming) {
      if (committed.has(id)) this.#blobs.publish(id);
      else await this.#blobs.discard(id);
    }
    if (incoming.length > 0) this.#log.info({ moved: committed.size, deleted: incoming.length - committed.size }, 'artifact blobs recovered');
    await this.collectGarbage();
  }

  // ——— Buckets ———

  async createBucket(accountId: string, bucket: string, region: string): Promise<ArtifactBucket> {
    checkBucketName(bucket);
    return this.#db.transaction().execute(async (trx) => {
      const existing = await findBucket(trx, bucket);
      if (existing?.accountId === accountId) {
        throw new ArtifactError('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: bucket });
      }
      if (existing) {
        throw new ArtifactError('BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all accounts; choose another name.', {
          BucketName: bucket,
        });
      }
      if ((await countBuckets(trx, accountId)) >= this.limits.maxBucketsPerAccount) {
        throw new ArtifactError('TooManyBuckets', `You have attempted to create more buckets than allowed (${this.limits.maxBucketsPerAccount} per account).`);
      }
      const created = { name: bucket, region, createdAt: this.#now() };
      await insertBucket(trx, { name: bucket, account_id: accountId, region, created_at: created.createdAt });
      return created;
    });
  }

  getBucket(accountId: string, bucket: string): Promise<ArtifactBucket> {
    return ownedBucket(this.#db, accountId, bucket);
  }

  listBuckets(accountId: string): Promise<ArtifactBucket[]> {
    return listBucketRows(this.#db, accountId);
  }

  /** Only an empty bucket can be deleted; its open multipart uploads go with it. */
  async deleteBucket(accountId: string, bucket: string): Promise<void> {
    await this.#commit(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      if (await bucketHasObjects(trx, bucket)) {
        throw new ArtifactError('BucketNotEmpty', 'The bucket you tried to delete is not empty.', { BucketName: bucket });
      }
      const garbage: string[] = [];
      for (const uploadId of await uploadIdsOfBucket(trx, bucket)) garbage.push(...(await deleteUpload(trx, uploadId)));
      await deleteBucket(trx, bucket);
      return garbage;
    });
  }

  // ——— Objects ———

  async writeObject(accountId: string, bucket: string, key: string, body: AsyncIterable<Uint8Array>, options: WriteObjectOptions): Promise<StoredObject> {
    checkKey(key, this.limits);
    const metadata = options.metadata ?? {};
    checkMetadata(metadata, this.limits);
    // Refuse before reading a byte of the body when the answer is already known.
    await ownedBucket(this.#db, accountId, bucket);
    this.#checkDeclaredSize(options.size);
    const blob = await this.#receive(body, { ...options, maxBytes: this.limits.maxObjectBytes });
    const row: ArtifactObjectsTable = {
      bucket,
      key,
      size: blob.size,
      etag: `"${blob.md5.toString('hex')}"`,
      content_type: options.contentType ?? null,
      metadata: JSON.stringify(metadata),
      blob_id: blob.id,
      segments: null,
      part_count: null,
      last_modified: this.#now(),
    };
    await this.#commitBlob(blob.id, async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      if (options.ifNoneMatch && (await findObject(trx, bucket, key))) {
        throw new ArtifactError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold (If-None-Match: the key exists).', { Condition: 'If-None-Match' });
      }
      return replaceObject(trx, row);
    });
    return toStoredObject(row);
  }

  async describeObject(accountId: string, bucket: string, key: string): Promise<StoredObject> {
    return toStoredObject(await this.#objectRow(accountId, bucket, key));
  }

  async openObject(accountId: string, bucket: string, key: string, options: OpenOptions = {}): Promise<{ object: StoredObject; body: Readable; range?: ByteRange }> {
    for (let attempt = 1; ; attempt++) {
      const row = await this.#objectRow(accountId, bucket, key);
      const object = toStoredObject(row);
      options.precondition?.(object);
      const range = options.range === undefined ? undefined : resolveRange(options.range, object.size);
      try {
        const body = await this.#blobs.openRead(segmentsOf(row), range, () => new ReplacedWhileOpening());
        return range ? { object, body, range } : { object, body };
      } catch (thrown) {
        if (!(thrown instanceof ReplacedWhileOpening) || attempt === READ_ATTEMPTS) throw thrown;
      }
    }
  }

  async removeObject(accountId: string, bucket: string, key: string): Promise<void> {
    checkKey(key, this.limits);
    await this.#commit(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      return deleteObjectRow(trx, bucket, key);
    });
  }

  async removeObjects(accountId: string, bucket: string, keys: readonly string[]): Promise<{ key: string; error?: ArtifactError }[]> {
    const results = keys.map((key) => {
      try {
        checkKey(key, this.limits);
        return { key };
      } catch (thrown) {
        if (thrown instanceof ArtifactError) return { key, error: thrown };
        throw thrown;
      }
    });
    // One transaction (one fsync) for the lot: DeleteObjects takes 1,000 keys at a time.
    await this.#commit(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      const garbage: string[] = [];
      for (const result of results) if (!result.error) garbage.push(...(await deleteObjectRow(trx, bucket, result.key)));
      return garbage;
    });
    return results;
  }

  async listPage(accountId: string, bucket: string, options: ListOptions): Promise<ObjectListing> {
    await ownedBucket(this.#db, accountId, bucket);
    const maxKeys = Math.min(options.maxKeys ?? this.limits.maxListKeys, this.limits.maxListKeys);
    return listPage(this.#db, bucket, options, maxKeys);
  }

  // ——— Multipart uploads ———

  async createMultipartUpload(accountId: string, bucket: string, key: string, options: { contentType?: string; metadata?: Record<string, string> }): Promise<MultipartUpload> {
    checkKey(key, this.limits);
    const metadata = options.metadata ?? {};
    checkMetadata(metadata, this.limits);
    return this.#db.transaction().execute(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      if ((await countOpenUploads(trx, accountId)) >= this.limits.maxOpenUploadsPerAccount) {
        throw new ArtifactError(
          'TooManyUploads',
          `This account already has ${this.limits.maxOpenUploadsPerAccount} open multipart uploads: complete or abort some first.`,
        );
      }
      const row = {
        upload_id: newMultipartUploadId(),
        account_id: accountId,
        bucket,
        key,
        content_type: options.contentType ?? null,
        metadata: JSON.stringify(metadata),
        created_at: this.#now(),
      };
      await insertUpload(trx, row);
      return toUpload(row);
    });
  }

  async uploadPart(
    accountId: string,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    expect: BodyExpectations,
  ): Promise<UploadedPart> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > this.limits.maxParts) {
      throw new ArtifactError('InvalidArgument', `Part number must be an integer between 1 and ${this.limits.maxParts}, inclusive.`, {
        ArgumentName: 'partNumber',
        ArgumentValue: String(partNumber),
      });
    }
    await ownedBucket(this.#db, accountId, bucket);
    await findUpload(this.#db, accountId, bucket, key, uploadId);
    this.#checkDeclaredSize(expect.size);
    const blob = await this.#receive(body, { ...expect, maxBytes: this.limits.maxObjectBytes });
    const part = {
      upload_id: uploadId,
      part_number: partNumber,
      blob_id: blob.id,
      size: blob.size,
      etag: `"${blob.md5.toString('hex')}"`,
      last_modified: this.#now(),
    };
    await this.#commitBlob(blob.id, async (trx) => {
      await findUpload(trx, accountId, bucket, key, uploadId);
      return replacePart(trx, part);
    });
    return toUploadedPart(part);
  }

  async completeMultipartUpload(
    accountId: string,
    bucket: string,
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<StoredObject> {
    let stored: StoredObject | undefined;
    await this.#commit(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      const upload = await findUpload(trx, accountId, bucket, key, uploadId);
      const plan = completionPlan(parts, await partsOf(trx, uploadId), this.limits);
      const row: ArtifactObjectsTable = {
        bucket,
        key,
        size: plan.size,
        etag: plan.etag,
        content_type: upload.content_type,
        metadata: upload.metadata,
        blob_id: null,
        segments: JSON.stringify(plan.segments),
        part_count: plan.segments.length,
        last_modified: this.#now(),
      };
      const partBlobs = await deleteUpload(trx, uploadId);
      const kept = new Set(plan.segments.map(([id]) => id));
      const replaced = await replaceObject(trx, row);
      stored = toStoredObject(row);
      return [...partBlobs.filter((id) => !kept.has(id)), ...replaced];
    });
    return stored!;
  }

  async abortMultipartUpload(accountId: string, bucket: string, key: string, uploadId: string): Promise<void> {
    await this.#commit(async (trx) => {
      await ownedBucket(trx, accountId, bucket);
      await findUpload(trx, accountId, bucket, key, uploadId);
      return deleteUpload(trx, uploadId);
    });
  }

  async listParts(accountId: string, bucket: string, key: string, uploadId: string): Promise<UploadedPart[]> {
    await ownedBucket(this.#db, accountId, bucket);
    await findUpload(this.#db, accountId, bucket, key, uploadId);
    return (await partsOf(this.#db, uploadId)).map(toUploadedPart);
  }

  // ——— Garbage ———

  /** Deletes the blobs queued as garbage (except those being read, left for a later pass). */
  async collectGarbage(): Promise<void> {
    if (this.#collecting) {
      this.#collectAgain = true;
      return this.#collecting;
    }
    this.#collecting = (async () => {
      do {
        this.#collectAgain = false;
        if (this.#shared) {
          const { more } = await this.#shared.collect();
          if (more) setTimeout(() => !this.#closed && this.#collectSoon(), 1000).unref();
          continue;
        }
        const queued = await queuedGarbage(this.#db);
        if (queued.length === 0) break;
        // Synchronous inside: no read can register between the check and the unlink (see BlobFiles.openRead).
        const { removed, busy } = await this.#blobs.removeUnlessReading(queued);
        await dropGarbage(this.#db, removed);
        if (busy.length > 0) setTimeout(() => !this.#closed && this.#collectSoon(), 1000).unref();
      } while (this.#collectAgain && !this.#closed);
    })().finally(() => {
      this.#collecting = undefined;
    });
    return this.#collecting;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#shared?.stop();
    await this.#collecting?.catch(() => {});
    await this.#blobs.close();
  }

  // ——— Internals ———

  async #objectRow(accountId: string, bucket: string, key: string): Promise<ArtifactObjectsTable> {
    await ownedBucket(this.#db, accountId, bucket);
    const row = await findObject(this.#db, bucket, key);
    if (!row) throw noSuchKey(bucket, key);
    return row;
  }

  #checkDeclaredSize(size: number | undefined): void {
    if (size !== undefined && size > this.limits.maxObjectBytes) {
      throw new ArtifactError('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${this.limits.maxObjectBytes} bytes.`, {
        ProposedSize: String(size),
        MaxSizeAllowed: String(this.limits.maxObjectBytes),
      });
    }
  }

  /** Commits a change that drops blob references; the dropped blobs are deleted once it has committed. */
  async #commit(work: (trx: ArtifactTx) => Promise<string[]>): Promise<void> {
    const dropped = await this.#db.transaction().execute(async (trx) => {
      const garbage = await work(trx);
      await queueGarbage(trx, garbage, this.#now());
      return garbage.length;
    });
    if (dropped > 0) this.#collectSoon();
  }

  /** A body as a new blob: pending first when the blobs are shared (sharedBlobs.ts). */
  #receive(body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob> {
    return this.#shared ? this.#shared.receive(body, expect) : this.#blobs.receive(this.#blobs.newId(), body, expect);
  }

  /** #commit for a change that refers to a just-received blob: on failure the blob goes, on success it moves into place. */
  async #commitBlob(blobId: string, work: (trx: ArtifactTx) => Promise<string[]>): Promise<void> {
    try {
      await this.#commit(async (trx) => {
        await this.#shared?.takeInCommit(trx, blobId);
        return work(trx);
      });
    } catch (thrown) {
      await (this.#shared ?? this.#blobs).discard(blobId).catch((error: unknown) => this.#log.warn({ err: error, blobId }, 'could not delete an uncommitted artifact blob; the sweep will'));
      throw thrown;
    }
    try {
      this.#blobs.publish(blobId);
    } catch (thrown) {
      // Committed: the object is readable where it is, and the next start moves it. Never fail the request now.
      this.#log.warn({ err: thrown, blobId }, 'could not move a committed artifact blob into place');
    }
  }

  #collectSoon(): void {
    this.collectGarbage().catch((thrown: unknown) => this.#log.warn({ err: thrown }, 'artifact garbage collection failed; retried on the next change or start'));
  }
}

class ReplacedWhileOpening extends Error {}

/** A requested range against the object's size; InvalidRange when no byte of it exists (RFC 9110 §14.1.2). */
export function resolveRange(request: RangeRequest, size: number): ByteRange {
  const unsatisfiable = () =>
    new ArtifactError('InvalidRange', 'The requested range is not satisfiable.', { ActualObjectSize: String(size) });
  if ('suffix' in request) {
    if (request.suffix <= 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - request.suffix), end: size - 1 };
  }
  if (request.start >= size) throw unsatisfiable();
  return { start: request.start, end: Math.min(request.end ?? size - 1, size - 1) };
}
