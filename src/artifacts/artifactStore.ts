/**
 * Artifact buckets: the objects SMS reads (user data, configure and validation scripts) and writes (templates),
 * in per-account buckets with globally unique names, as S3 keeps them. Two audiences use one interface:
 *
 * - the App operations, through the small calls at the top (small bodies as Buffers, "not there" as undefined);
 * - the S3 REST endpoint (src/server/s3Api.ts), through the calls below them, which stream bodies, throw
 *   ArtifactError with S3's error codes, and map one to one onto S3 requests, so a real S3-compatible store can
 *   implement this interface later by forwarding them.
 *
 * The local implementation (src/artifacts/local) keeps an index in the control plane's database and the bytes in
 * files under `<data-dir>/artifacts`.
 */
import type { Readable } from 'node:stream';
import type { ArtifactLimits } from './limits.ts';
import type { ArtifactError } from './errors.ts';

export interface ArtifactObject {
  bucket: string;
  key: string;
  size: number;
  /** Quoted, as S3 sends it: `"<md5 hex>"`, or `"<md5 of the parts' md5s>-<parts>"` for a multipart upload. */
  etag: string;
  /** Epoch milliseconds. */
  lastModified: number;
  contentType?: string;
}

/** An object as the REST endpoint describes it. */
export interface StoredObject extends ArtifactObject {
  /** `x-amz-meta-*` values by lower-case name (without the prefix). */
  metadata: Record<string, string>;
  /** Set for an object made by a multipart upload. */
  partCount?: number;
}

export interface ArtifactBucket {
  name: string;
  region: string;
  createdAt: number;
}

/** What a writer declares about a body before sending it; each is checked against the bytes received. */
export interface BodyExpectations {
  /** The exact length (Content-Length). Unset: whatever arrives, up to the object size limit. */
  size?: number;
  /** Hex SHA-256 of the body (a signed `x-amz-content-sha256`). */
  sha256?: string;
  /** MD5 of the body (`Content-MD5`, decoded). */
  md5?: Buffer;
}

export interface WriteObjectOptions extends BodyExpectations {
  contentType?: string;
  metadata?: Record<string, string>;
  /** `If-None-Match: *`: fail with PreconditionFailed when the key exists at commit time. */
  ifNoneMatch?: boolean;
}

/** Inclusive byte range, already checked against the object's size. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A requested range (an HTTP `Range: bytes=…`), resolved against the version actually opened: from `start` to `end`
 * (or the end of the object), or the last `suffix` bytes.
 */
export type RangeRequest = { start: number; end?: number } | { suffix: number };

export interface OpenOptions {
  range?: RangeRequest;
  /** Checks the version being opened before any byte is read (HTTP preconditions); throws to refuse it. */
  precondition?: (object: StoredObject) => void;
}

export interface ObjectListing {
  objects: ArtifactObject[];
  /** With a delimiter: the distinct key prefixes up to and including it, each counted once. */
  commonPrefixes: string[];
  truncated: boolean;
  /** Where the next page starts (an opaque marker), when truncated. */
  nextMarker?: string;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  /** Only keys after this one (S3's start-after / marker). */
  startAfter?: string;
  /** A nextMarker from an earlier page (ListObjectsV2's continuation token); wins over startAfter. */
  marker?: string;
  maxKeys?: number;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: number;
}

export interface MultipartUpload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: number;
}

/** What every artifact store is: the App layer's calls and the S3 endpoint's. */
export interface ArtifactStore extends ArtifactAppCalls, ArtifactBackend {}

/** The App layer's calls: small bodies in memory, "absent" as undefined. Written once, in ArtifactStoreBase (appCalls.ts). */
export interface ArtifactAppCalls {
  /** Creates the bucket for the account if it does not exist; throws if another account owns the name. */
  ensureBucket(accountId: string, bucket: string, region: string): Promise<void>;
  putObject(
    accountId: string,
    bucket: string,
    key: string,
    body: Buffer | NodeJS.ReadableStream,
    options?: { contentType?: string },
  ): Promise<ArtifactObject>;
  /**
   * undefined when the bucket or key does not exist or belongs to another account. Objects larger than
   * `maxBytes` (default ARTIFACT_READ_LIMITS.default, 1 MiB) are refused with EntityTooLarge rather than read
   * into memory.
   */
  getObject(
    accountId: string,
    bucket: string,
    key: string,
    options?: { maxBytes?: number },
  ): Promise<{ object: ArtifactObject; body: Buffer } | undefined>;
  headObject(accountId: string, bucket: string, key: string): Promise<ArtifactObject | undefined>;
  deleteObject(accountId: string, bucket: string, key: string): Promise<void>;
  listObjects(
    accountId: string,
    bucket: string,
    options: { prefix?: string; startAfter?: string; maxKeys?: number },
  ): Promise<{ objects: ArtifactObject[]; truncated: boolean }>;
}

/** The S3 endpoint's calls, streaming, which each backend implements: each throws ArtifactError (NoSuchBucket, AccessDenied, …). */
export interface ArtifactBackend {
  /** The bounds this store enforces (src/artifacts/limits.ts). */
  readonly limits: ArtifactLimits;
  createBucket(accountId: string, bucket: string, region: string): Promise<ArtifactBucket>;
  /** The bucket, when the account owns it. */
  getBucket(accountId: string, bucket: string): Promise<ArtifactBucket>;
  deleteBucket(accountId: string, bucket: string): Promise<void>;
  listBuckets(accountId: string): Promise<ArtifactBucket[]>;
  /** Streams `body` to durable storage; the object becomes visible only once all of it is stored and checked. */
  writeObject(accountId: string, bucket: string, key: string, body: AsyncIterable<Uint8Array>, options: WriteObjectOptions): Promise<StoredObject>;
  describeObject(accountId: string, bucket: string, key: string): Promise<StoredObject>;
  /**
   * The object's bytes (or a range of them: InvalidRange when it cannot be satisfied) as a stream that keeps reading
   * the version it was opened on, even if the key is overwritten meanwhile.
   */
  openObject(accountId: string, bucket: string, key: string, options?: OpenOptions): Promise<{ object: StoredObject; body: Readable; range?: ByteRange }>;
  /** Removes the key if it exists (S3 answers success either way); the bucket must exist and be the account's. */
  removeObject(accountId: string, bucket: string, key: string): Promise<void>;
  /** Removes up to 1,000 keys in one step (DeleteObjects); a key that cannot exist is reported, not fatal. */
  removeObjects(accountId: string, bucket: string, keys: readonly string[]): Promise<{ key: string; error?: ArtifactError }[]>;
  listPage(accountId: string, bucket: string, options: ListOptions): Promise<ObjectListing>;

  createMultipartUpload(accountId: string, bucket: string, key: string, options: { contentType?: string; metadata?: Record<string, string> }): Promise<MultipartUpload>;
  uploadPart(
    accountId: string,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    expect: BodyExpectations,
  ): Promise<UploadedPart>;
  completeMultipartUpload(
    accountId: string,
    bucket: string,
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<StoredObject>;
  abortMultipartUpload(accountId: string, bucket: string, key: string, uploadId: string): Promise<void>;
  listParts(accountId: string, bucket: string, key: string, uploadId: string): Promise<UploadedPart[]>;

  close(): Promise<void>;
}
