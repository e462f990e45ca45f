/**
 * The App layer's calls (small bodies in memory, "absent" as undefined), written once on top of the streaming calls
 * every backend implements, so the local store and a later S3-backed one behave the same to the App operations.
 */
import { ArtifactError } from './errors.ts';
import { ARTIFACT_READ_LIMITS } from './limits.ts';
import type { ArtifactAppCalls, ArtifactBackend, ArtifactObject, StoredObject } from './artifactStore.ts';

type Backend = ArtifactStoreBase & ArtifactBackend;

/**
 * The App calls over a backend's own streaming calls. A backend extends this and `implements ArtifactStore`, which
 * makes the compiler hold it to every streaming call; `this: Backend` lets the calls here use them without declaring
 * them a second time.
 */
export abstract class ArtifactStoreBase implements ArtifactAppCalls {
  async ensureBucket(this: Backend, accountId: string, bucket: string, region: string): Promise<void> {
    try {
      await this.createBucket(accountId, bucket, region);
    } catch (thrown) {
      if (!(thrown instanceof ArtifactError && thrown.code === 'BucketAlreadyOwnedByYou')) throw thrown;
    }
  }

  async putObject(this: Backend, accountId: string, bucket: string, key: string, body: Buffer | NodeJS.ReadableStream, options: { contentType?: string } = {}): Promise<ArtifactObject> {
    const source = Buffer.isBuffer(body) ? bufferSource(body) : (body as AsyncIterable<Uint8Array>);
    const stored = await this.writeObject(accountId, bucket, key, source, {
      ...(Buffer.isBuffer(body) ? { size: body.length } : {}),
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
    });
    return plainObject(stored);
  }

  async getObject(this: Backend, accountId: string, bucket: string, key: string, options: { maxBytes?: number } = {}): Promise<{ object: ArtifactObject; body: Buffer } | undefined> {
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

  async headObject(this: Backend, accountId: string, bucket: string, key: string): Promise<ArtifactObject | undefined> {
    return absentAsUndefined(async () => plainObject(await this.describeObject(accountId, bucket, key)));
  }

  async deleteObject(this: Backend, accountId: string, bucket: string, key: string): Promise<void> {
    await this.removeObject(accountId, bucket, key);
  }

  async listObjects(
    this: Backend,
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
