/**
 * The App layer's calls (small bodies in memory, "absent" as undefined), written once on top of the streaming calls
 * every backend implements, so the local store and a later S3-backed one behave the same to the App operations.
 */
import { ArtifactError } from './errors.ts';
import { ARTIFACT_READ_LIMITS, type ArtifactLimits } from './limits.ts';
import type { Readable } from 'node:stream';
import type {
  ArtifactBucket,
  ArtifactObject,
  ArtifactStore,
  BodyExpectations,
  ByteRange,
  ListOptions,
  MultipartUpload,
  ObjectListing,
  OpenOptions,
  StoredObject,
  UploadedPart,
  WriteObjectOptions,
} from './artifactStore.ts';

export abstract class ArtifactStoreBase implements ArtifactStore {
  abstract readonly limits: ArtifactLimits;
  abstract createBucket(accountId: string, bucket: string, region: string): Promise<ArtifactBucket>;
  abstract getBucket(accountId: string, bucket: string): Promise<ArtifactBucket>;
  abstract deleteBucket(accountId: string, bucket: string): Promise<void>;
  abstract listBuckets(accountId: string): Promise<ArtifactBucket[]>;
  abstract writeObject(accountId: string, bucket: string, key: string, body: AsyncIterable<Uint8Array>, options: WriteObjectOptions): Promise<StoredObject>;
  abstract describeObject(accountId: string, bucket: string, key: string): Promise<StoredObject>;
  abstract openObject(accountId: string, bucket: string, key: string, options?: OpenOptions): Promise<{ object: StoredObject; body: Readable; range?: ByteRange }>;
  abstract removeObject(accountId: string, bucket: string, key: string): Promise<void>;
  abstract removeObjects(accountId: string, bucket: string, keys: readonly string[]): Promise<{ key: string; error?: ArtifactError }[]>;
  abstract listPage(accountId: string, bucket: string, options: ListOptions): Promise<ObjectListing>;
  abstract createMultipartUpload(accountId: string, bucket: string, key: string, options: { contentType?: string; metadata?: Record<string, string> }): Promise<MultipartUpload>;
  abstract uploadPart(
    accountId: string,
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
    expect: BodyExpectations,
  ): Promise<UploadedPart>;
  abstract completeMultipartUpload(accountId: string, bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<StoredObject>;
  abstract abortMultipartUpload(accountId: string, bucket: string, key: string, uploadId: string): Promise<void>;
  abstract listParts(accountId: string, bucket: string, key: string, uploadId: string): Promise<UploadedPart[]>;
  abstract close(): Promise<void>;

  async ensureBucket(accountId: string, bucket: string, region: string): Promise<void> {
    try {
      await this.createBucket(accountId, bucket, region);
    } catch (thrown) {
      if (!(thrown instanceof ArtifactError && thrown.code === 'BucketAlreadyOwnedByYou')) throw thrown;
    }
  }

  async putObject(accountId: string, bucket: string, key: string, body: Buffer | NodeJS.ReadableStream, options: { contentType?: string } = {}): Promise<ArtifactObject> {
    const source = Buffer.isBuffer(body) ? bufferSource(body) : (body as AsyncIterable<Uint8Array>);
    const stored = await this.writeObject(accountId, bucket, key, source, {
      ...(Buffer.isBuffer(body) ? { size: body.length } : {}),
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
    });
    return plainObject(stored);
  }

  async getObject(accountId: string, bucket: string, key: string, options: { maxBytes?: number } = {}): Promise<{ object: ArtifactObject; body: Buffer } | undefined> {
    const maxBytes = options.maxBytes ?? ARTIFACT_READ_LIMITS.default;
    const tooLarge = (size: number) =>
      new ArtifactError('EntityTooLarge', `s3://${bucket}/${key} is ${size} bytes; artifacts Ferry reads into memory are limited to ${maxBytes} bytes.`, {
        MaxSizeAllowed: String(maxBytes),
      });
    return absentAsUndefined(async () => {
      const { object, body } = await this.openObject(accountId, bucket, key, {
        precondition: (found) => {
          if (found.size > maxBytes) throw tooLarge(found.size);
        },
      });
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return { object: plainObject(object), body: Buffer.concat(chunks) };
    });
  }

  async headObject(accountId: string, bucket: string, key: string): Promise<ArtifactObject | undefined> {
    return absentAsUndefined(async () => plainObject(await this.describeObject(accountId, bucket, key)));
  }

  async deleteObject(accountId: string, bucket: string, key: string): Promise<void> {
    await this.removeObject(accountId, bucket, key);
  }

  async listObjects(
    accountId: string,
    bucket: string,
    options: { prefix?: string; startAfter?: string; maxKeys?: number },
  ): Promise<{ objects: ArtifactObject[]; truncated: boolean }> {
    const page = await this.listPage(accountId, bucket, options);
    return { objects: page.objects, truncated: page.truncated };
  }
}

function plainObject(stored: StoredObject): ArtifactObject {
  const object: ArtifactObject = { bucket: stored.bucket, key: stored.key, size: stored.size, etag: stored.etag, lastModified: stored.lastModified };
  if (stored.contentType !== undefined) object.contentType = stored.contentType;
  return object;
}

async function* bufferSource(body: Buffer): AsyncGenerator<Uint8Array> {
  yield body;
}

/** The App calls' contract: a missing bucket or key, or another account's bucket, reads as "not there". */
async function absentAsUndefined<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (thrown) {
    if (thrown instanceof ArtifactError && (thrown.code === 'NoSuchBucket' || thrown.code === 'NoSuchKey' || thrown.code === 'AccessDenied')) return undefined;
    throw thrown;
  }
}
