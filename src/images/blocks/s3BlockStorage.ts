/**
 * Block objects in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO…) under a key prefix. A pack is buffered in
 * memory and uploaded in parts of `partSizeBytes` (16 MiB by default) through a multipart upload once it outgrows
 * one part; a pack that never does is one PutObject at seal. Either way the object appears only when the pack is
 * sealed (CompleteMultipartUpload or the PutObject), so a reader or a listing never sees half a pack. Reads are
 * ranged GETs, concurrent reads of one pack merged into fewer, larger ones (rangeCoalescer.ts); listings are
 * ListObjectsV2 pages.
 *
 * S3 has no append, which is why packs are staged: a part is uploaded as soon as it is full, while the next one
 * fills, with at most `partsInFlight` parts of a pack uploading at once. Memory per open pack is therefore bounded
 * by (partsInFlight + 1) × partSizeBytes (48 MiB with the defaults). Parts may finish in any order; the part list
 * is put back in part-number order at CompleteMultipartUpload. A process killed mid-pack leaves an incomplete
 * multipart upload (invisible to readers and listings), which unfinishedUploads lists and leftUploads.ts
 * aborts once it is clearly a leftover. Part buffers are reused across parts and packs (PartBuffers, below).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { crc32 } from 'node:zlib';
import { DEFAULT_COALESCING, RangeCoalescer, type RangeCoalescerOptions } from './rangeCoalescer.ts';
import { BlockObjectGoneError, checkObjectName, type BlockStorage, type PackUpload, type StoredObject, type UnfinishedUpload } from './blockStorage.ts';

/** S3's smallest part (but the last): parts below it are refused at CompleteMultipartUpload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const DEFAULT_PART_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PARTS_IN_FLIGHT = 2;

export interface S3BlockStorageOptions {
  bucket: string;
  /** Key prefix, without leading or trailing slash ('' for the bucket's root). */
  prefix: string;
  /** Endpoint of an S3-compatible service (Ceph RGW, MinIO, moto); default AWS's for the region. */
  endpoint?: string;
  /** Path-style addressing (http://host/bucket/key), which most self-hosted stores want. */
  forcePathStyle?: boolean;
  /** Default: AWS_REGION, else us-east-1 (S3-compatible stores mostly ignore it). */
  region?: string;
  partSizeBytes?: number;
  /** Parts of one pack uploading at once (default DEFAULT_PARTS_IN_FLIGHT); memory per open pack is (this + 1) parts. */
  partsInFlight?: number;
  /** How concurrent ranged reads of one object are merged into fewer GETs (rangeCoalescer.ts); false: one GET each. */
  coalesceReads?: RangeCoalescerOptions | false;
  /** Credentials come from the usual AWS chain (environment, profile…) unless given here. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * How a pack body's integrity reaches the store: 'crc32' (the default) sends a CRC32 the store checks and signs the
   * request without hashing the body; 'sigv4' signs the body's SHA-256, as the SDK does by default. See PayloadCheck.
   */
  payloadCheck?: PayloadCheck;
}

/**
 * Pack bodies are the node's bulk upload, and on a shared host every CPU second spent on them is taken from the
 * object store. SigV4 signs a Buffer body by its SHA-256 (the SDK's default). With 'crc32' the body is signed as
 * UNSIGNED-PAYLOAD and carries an x-amz-checksum-crc32 (zlib's: 12 against SHA-256's 40 ms of CPU per 64 MiB here,
 * where SHA-256 has the CPU's SHA extensions; more without them) that S3 verifies before it stores the part, so a
 * body damaged in transit is still refused; the checksum and the other headers stay signed. Stores that predate
 * flexible checksums ignore the header (blocks are checked against their SHA-256 when read back either way).
 */
export type PayloadCheck = 'crc32' | 'sigv4';

export class S3BlockStorage implements BlockStorage {
  readonly kind = 's3';
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #partsInFlight: number;
  readonly #coalescer: RangeCoalescer | undefined;
  readonly #payloadCheck: PayloadCheck;
  readonly #buffers: PartBuffers;
  /** GETs sent (ranged or whole), for benches and tests. */
  getRequests = 0;

  constructor(options: S3BlockStorageOptions) {
    const partSize = options.partSizeBytes ?? DEFAULT_PART_BYTES;
    if (partSize < MIN_PART_BYTES) throw new Error(`S3 parts are at least ${MIN_PART_BYTES} bytes, not ${partSize}`);
    this.#partSize = partSize;
    this.#partsInFlight = options.partsInFlight ?? DEFAULT_PARTS_IN_FLIGHT;
    if (!Number.isInteger(this.#partsInFlight) || this.#partsInFlight < 1) throw new Error(`parts in flight must be a whole number ≥ 1, not ${this.#partsInFlight}`);
    this.#payloadCheck = options.payloadCheck ?? 'crc32';
    this.#buffers = new PartBuffers(partSize, this.#partsInFlight + 2);
    const coalescing = options.coalesceReads ?? DEFAULT_COALESCING;
    this.#coalescer = coalescing === false ? undefined : new RangeCoalescer((name, offset, length) => this.#readRangeOnce(name, offset, length), coalescing);
    this.#bucket = options.bucket;
    this.#prefix = options.prefix === '' ? '' : `${options.prefix.replace(/^\/+|\/+$/g, '')}/`;
    this.location = `s3://${options.bucket}/${this.#prefix}`;
    this.#client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      // No CRC32 of every part body on top of SigV4's SHA-256 (the SDK's default since 2025): 0.36–0.78 against
      // 0.44–0.99 CPU s per 128 MiB pack here, and S3-compatible stores that predate those checksums keep working.
      // Every block is checked against its SHA-256 when read back anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async createPack(name: string, header: Buffer): Promise<PackUpload> {
    const key = this.#key(name);
    if ((await this.sizeOf(name)) !== undefined) throw new Error(`pack ${name} already exists`);
    return new S3PackUpload(this.#client, this.#bucket, key, name, header, this.#partSize, this.#partsInFlight, this.#payloadCheck, this.#buffers);
  }

  async putObject(name: string, bytes: Buffer): Promise<void> {
    await this.#client.send(putObject(this.#bucket, this.#key(name), bytes, this.#payloadCheck));
  }

  readRange(name: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Promise.resolve(Buffer.alloc(0));
    return this.#coalescer ? this.#coalescer.read(name, offset, length) : this.#readRangeOnce(name, offset, length);
  }

  /** One ranged GET. No HEAD first: S3 answers a range past the end with what there is, and 416 when it starts past it. */
  async #readRangeOnce(name: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.#get(name, `bytes=${offset}-${offset + length - 1}`);
    } catch (thrown) {
      if (isRangeNotSatisfiable(thrown)) return Buffer.alloc(0);
      throw thrown;
    }
  }

  readObject(name: string): Promise<Buffer> {
    return this.#get(name, undefined);
  }

  async sizeOf(name: string): Promise<number | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }));
      return head.ContentLength ?? 0;
    } catch (thrown) {
      if (isNotFound(thrown)) return undefined;
      throw thrown;
    }
  }

  async delete(name: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { name: object.Key.slice(this.#prefix.length), sizeBytes: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async *unfinishedUploads(prefix: string): AsyncIterable<UnfinishedUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.#client.send(
        new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: this.#prefix + prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield { name: upload.Key.slice(this.#prefix.length), uploadId: upload.UploadId, startedAt: upload.Initiated?.getTime() ?? 0 };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async abortUnfinished(upload: UnfinishedUpload): Promise<void> {
    try {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key(upload.name), UploadId: upload.uploadId }));
    } catch (thrown) {
      if (!isNotFound(thrown) && (thrown as { name?: string }).name !== 'NoSuchUpload') throw thrown;
    }
  }

  async close(): Promise<void> {
    this.#buffers.release();
    this.#client.destroy();
  }

  #key(name: string): string {
    checkObjectName(name);
    return this.#prefix + name;
  }

  async #get(name: string, range: string | undefined): Promise<Buffer> {
    this.getRequests++;
    try {
      const answer = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name), Range: range }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (thrown) {
      if (isNotFound(thrown)) throw new BlockObjectGoneError(name);
      throw thrown;
    }
  }
}

/**
 * A pack filled part by part in memory; see the module comment. A full part starts uploading at once while the next
 * one fills, with at most `maxInFlight` parts uploading: an append that would exceed it waits for one to finish.
 * Any part's failure is kept and fails the next append and the seal, which then aborts the multipart upload.
 */
class S3PackUpload implements PackUpload {
  readonly name: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #key: string;
  readonly #partSize: number;
  readonly #maxInFlight: number;
  /** The part being filled (copied into: the caller may reuse its buffers as soon as append returns). */
  #fill: Buffer;
  #fillBytes = 0;
  #size = 0;
  /** The multipart upload, created when the first part is cut (a pack smaller than one part is one PutObject). */
  #created: Promise<string> | undefined;
  #uploadId: string | undefined;
  readonly #parts: { PartNumber: number; ETag: string }[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  #done = false;
  #nextPart = 1;
  readonly #payloadCheck: PayloadCheck;
  readonly #buffers: PartBuffers;

  constructor(
    client: S3Client, bucket: string, key: string, name: string, header: Buffer, partSize: number, maxInFlight: number, payloadCheck: PayloadCheck, buffers: PartBuffers,
  ) {
    this.name = name;
    this.#payloadCheck = payloadCheck;
    this.#buffers = buffers;
    this.#client = client;
    this.#bucket = bucket;
    this.#key = key;
    this.#partSize = partSize;
    this.#maxInFlight = maxInFlight;
    this.#fill = buffers.take();
    this.#copyIn(header);
  }

  get size(): number {
    return this.#size;
  }

  async append(parts: readonly Buffer[]): Promise<number> {
    if (this.#done) throw new Error(`pack ${this.name} is closed`);
    this.#throwIfFailed();
    const offset = this.#size;
    for (const part of parts) this.#copyIn(part);
    while (this.#inFlight.size > this.#maxInFlight) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    return offset;
  }

  async seal(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const last = this.#fill.subarray(0, this.#fillBytes);
    if (this.#created === undefined) {
      try {
        await this.#client.send(putObject(this.#bucket, this.#key, last, this.#payloadCheck));
      } finally {
        this.#buffers.give(this.#fill);
      }
      return;
    }
    if (last.length > 0) this.#startPart(last, this.#fill);
    else this.#buffers.give(this.#fill);
    await this.#settle();
    if (this.#failure !== undefined) {
      await this.#abortUpload().catch(() => {});
      throw this.#failure.error;
    }
    const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
    await this.#client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: this.#uploadId, MultipartUpload: { Parts: parts } }),
    );
  }

  async abort(): Promise<void> {
    if (!this.#done) this.#buffers.give(this.#fill);
    this.#done = true;
    await this.#settle();
    await this.#abortUpload();
  }

  #copyIn(bytes: Buffer): void {
    let from = 0;
    while (from < bytes.length) {
      const taken = bytes.copy(this.#fill, this.#fillBytes, from);
      from += taken;
      this.#fillBytes += taken;
      this.#size += taken;
      if (this.#fillBytes === this.#partSize) {
        this.#startPart(this.#fill, this.#fill);
        this.#fill = this.#buffers.take();
        this.#fillBytes = 0;
      }
    }
  }

  /** Uploads `body` (all or the start of `buffer`, which goes back to the pool once the SDK is done with it). */
  #startPart(body: Buffer, buffer: Buffer): void {
    const partNumber = this.#nextPart++;
    this.#created ??= this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key })).then((created) => {
      this.#uploadId = created.UploadId!;
      return this.#uploadId;
    });
    const uploading = this.#created
      .then((uploadId) => {
        const input = { Bucket: this.#bucket, Key: this.#key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length };
        return this.#client.send(
          this.#payloadCheck === 'crc32' ? unsignedPayload(new UploadPartCommand({ ...input, ChecksumCRC32: crc32Base64(body) })) : new UploadPartCommand(input),
        );
      })
      .then(
        (answer) => {
          this.#parts.push({ PartNumber: partNumber, ETag: answer.ETag! });
        },
        (error: unknown) => {
          this.#failure ??= { error };
        },
      )
      .finally(() => {
        this.#inFlight.delete(uploading);
        // The SDK is done with the body once send settles (retries included): the buffer can take another part.
        this.#buffers.give(buffer);
      });
    this.#inFlight.add(uploading);
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    if (this.#created !== undefined) await this.#created.catch(() => {});
  }

  async #abortUpload(): Promise<void> {
    if (this.#uploadId !== undefined) {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: this.#uploadId }));
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}

/**
 * The part buffers of a storage's pack uploads, kept for the next part and the next pack instead of allocating fresh
 * ones: a fresh 16 MiB buffer is page-faulted in and later unmapped, which cost the uploader more CPU than signing
 * the part (bench/clusterUploadCpu.ts). At most `keep` buffers wait in the pool (partsInFlight + 2: the parts in
 * flight, the one filling and one more), and the pool empties after a quiet minute, so an idle node holds none.
 */
class PartBuffers {
  readonly #size: number;
  readonly #keep: number;
  #free: Buffer[] = [];
  #idle: NodeJS.Timeout | undefined;

  constructor(size: number, keep: number) {
    this.#size = size;
    this.#keep = keep;
  }

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(this.#size);
  }

  give(buffer: Buffer): void {
    if (this.#free.length < this.#keep && !this.#free.includes(buffer)) this.#free.push(buffer);
    this.#idle?.refresh();
    this.#idle ??= setTimeout(() => this.release(), 60_000).unref();
  }

  release(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#free = [];
  }
}

/** A PutObject of a whole body (a pack smaller than one part, or a manifest) with the storage's payload check. */
function putObject(bucket: string, key: string, body: Buffer, payloadCheck: PayloadCheck): PutObjectCommand {
  const input = { Bucket: bucket, Key: key, Body: body, ContentLength: body.length };
  return payloadCheck === 'crc32' ? unsignedPayload(new PutObjectCommand({ ...input, ChecksumCRC32: crc32Base64(body) })) : new PutObjectCommand(input);
}

/** S3's x-amz-checksum-crc32 value: the big-endian CRC32, base64. */
function crc32Base64(body: Buffer): string {
  const value = Buffer.allocUnsafe(4);
  value.writeUInt32BE(crc32(body));
  return value.toString('base64');
}

/** The one middleware-stack call unsignedPayload needs (the SDK's overloads do not type-check on a union of commands). */
interface BuildSteps {
  add(middleware: (next: (args: { request: unknown }) => Promise<unknown>) => (args: { request: unknown }) => Promise<unknown>, options: { step: 'build'; name: string }): void;
}

/** Signs the command without hashing its body: the signer (a later step) takes a payload hash header it finds as given. */
function unsignedPayload<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
  (command.middlewareStack as unknown as BuildSteps).add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'ferryUnsignedPayload' },
  );
  return command;
}

function isRangeNotSatisfiable(thrown: unknown): boolean {
  const error = thrown as { name?: string; $metadata?: { httpStatusCode?: number } };
  return error.name === 'InvalidRange' || error.$metadata?.httpStatusCode === 416;
}

function isNotFound(thrown: unknown): boolean {
  const error = thrown as { name?: string; $metadata?: { httpStatusCode?: number } };
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata?.httpStatusCode === 404;
}
