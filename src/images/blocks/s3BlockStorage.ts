/**
 * Block objects in an S3-compatible bucket (AWS S3, Ceph RGW, MinIO…) under a key prefix. A pack is buffered in
 * memory and uploaded in parts of `partSizeBytes` (16 MiB by default) through a multipart upload once it outgrows
 * one part; a pack that never does is one PutObject at seal. Either way the object appears only when the pack is
 * sealed (CompleteMultipartUpload or the PutObject), so a reader or a listing never sees half a pack. Reads are
 * ranged GETs; listings are ListObjectsV2 pages.
 *
 * S3 has no append, which is why packs are staged: at most one part (plus the part being uploaded) per open pack
 * is held in memory.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BlockObjectGoneError, checkObjectName, type BlockStorage, type PackUpload, type StoredObject } from './blockStorage.ts';

/** S3's smallest part (but the last): parts below it are refused at CompleteMultipartUpload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const DEFAULT_PART_BYTES = 16 * 1024 * 1024;

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
  /** Credentials come from the usual AWS chain (environment, profile…) unless given here. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export class S3BlockStorage implements BlockStorage {
  readonly kind = 's3';
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;

  constructor(options: S3BlockStorageOptions) {
    const partSize = options.partSizeBytes ?? DEFAULT_PART_BYTES;
    if (partSize < MIN_PART_BYTES) throw new Error(`S3 parts are at least ${MIN_PART_BYTES} bytes, not ${partSize}`);
    this.#partSize = partSize;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix === '' ? '' : `${options.prefix.replace(/^\/+|\/+$/g, '')}/`;
    this.location = `s3://${options.bucket}/${this.#prefix}`;
    this.#client = new S3Client({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async createPack(name: string, header: Buffer): Promise<PackUpload> {
    const key = this.#key(name);
    if ((await this.sizeOf(name)) !== undefined) throw new Error(`pack ${name} already exists`);
    return new S3PackUpload(this.#client, this.#bucket, key, name, header, this.#partSize);
  }

  async putObject(name: string, bytes: Buffer): Promise<void> {
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(name), Body: bytes, ContentLength: bytes.length }));
  }

  async readRange(name: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    const size = await this.sizeOf(name);
    if (size === undefined) throw new BlockObjectGoneError(name);
    if (offset >= size) return Buffer.alloc(0);
    return this.#get(name, `bytes=${offset}-${Math.min(size, offset + length) - 1}`);
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

  async close(): Promise<void> {
    this.#client.destroy();
  }

  #key(name: string): string {
    checkObjectName(name);
    return this.#prefix + name;
  }

  async #get(name: string, range: string | undefined): Promise<Buffer> {
    try {
      const answer = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name), Range: range }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    } catch (thrown) {
      if (isNotFound(thrown)) throw new BlockObjectGoneError(name);
      throw thrown;
    }
  }
}

/** A pack staged in memory part by part; see the module comment. */
class S3PackUpload implements PackUpload {
  readonly name: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #key: string;
  readonly #partSize: number;
  /** Bytes not uploaded yet (less than one part, but for the moment before a part is cut off). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #size: number;
  #uploadId: string | undefined;
  readonly #parts: { PartNumber: number; ETag: string }[] = [];
  /** Part uploads, chained so they run one at a time and in order. */
  #uploading: Promise<void> = Promise.resolve();
  #done = false;
  #nextPart = 1;

  constructor(client: S3Client, bucket: string, key: string, name: string, header: Buffer, partSize: number) {
    this.name = name;
    this.#client = client;
    this.#bucket = bucket;
    this.#key = key;
    this.#partSize = partSize;
    this.#pending.push(Buffer.from(header));
    this.#pendingBytes = header.length;
    this.#size = header.length;
  }

  get size(): number {
    return this.#size;
  }

  async append(parts: readonly Buffer[]): Promise<number> {
    if (this.#done) throw new Error(`pack ${this.name} is closed`);
    const offset = this.#size;
    // Copied: the caller may reuse its buffers as soon as this returns.
    for (const part of parts) {
      this.#pending.push(Buffer.from(part));
      this.#pendingBytes += part.length;
      this.#size += part.length;
    }
    while (this.#pendingBytes >= this.#partSize) {
      const whole = Buffer.concat(this.#pending);
      const part = whole.subarray(0, this.#partSize);
      const rest = whole.subarray(this.#partSize);
      this.#pending = rest.length > 0 ? [rest] : [];
      this.#pendingBytes = rest.length;
      this.#queuePart(part);
    }
    await this.#uploading;
    return offset;
  }

  async seal(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const last = Buffer.concat(this.#pending);
    this.#pending = [];
    await this.#uploading;
    if (this.#uploadId === undefined) {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key, Body: last, ContentLength: last.length }));
      return;
    }
    if (last.length > 0) this.#queuePart(last);
    await this.#uploading;
    await this.#client.send(
      new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: this.#uploadId, MultipartUpload: { Parts: this.#parts } }),
    );
  }

  async abort(): Promise<void> {
    this.#done = true;
    this.#pending = [];
    await this.#uploading.catch(() => {});
    if (this.#uploadId !== undefined) {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: this.#uploadId }));
    }
  }

  #queuePart(body: Buffer): void {
    const partNumber = this.#nextPart++;
    this.#uploading = this.#uploading.then(async () => {
      if (this.#uploadId === undefined) {
        const created = await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key }));
        this.#uploadId = created.UploadId!;
      }
      const answer = await this.#client.send(
        new UploadPartCommand({ Bucket: this.#bucket, Key: this.#key, UploadId: this.#uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
      );
      this.#parts.push({ PartNumber: partNumber, ETag: answer.ETag! });
    });
  }
}

function isNotFound(thrown: unknown): boolean {
  const error = thrown as { name?: string; $metadata?: { httpStatusCode?: number } };
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata?.httpStatusCode === 404;
}
