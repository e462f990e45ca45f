/**
 * An in-memory stand-in for the artifact store (src/apps/ports.ts ArtifactStore), which another part of Ferry
 * implements behind its S3 endpoint: per-account buckets of objects, enough for the App operations' reads (user data,
 * scripts) and writes (templates, change sets).
 */
import { createHash } from 'node:crypto';
import type { ArtifactObject, ArtifactStore } from '../../src/apps/ports.ts';

export class MemoryArtifacts implements ArtifactStore {
  readonly buckets = new Set<string>();
  readonly objects = new Map<string, { object: ArtifactObject; body: Buffer }>();

  #id = (accountId: string, bucket: string, key = '') => `${accountId}/${bucket}/${key}`;

  async ensureBucket(accountId: string, bucket: string): Promise<void> {
    this.buckets.add(this.#id(accountId, bucket));
  }

  /** Test setup: an object as a user would upload it. */
  put(accountId: string, bucket: string, key: string, body: string | Buffer): void {
    this.buckets.add(this.#id(accountId, bucket));
    const bytes = Buffer.from(body);
    this.objects.set(this.#id(accountId, bucket, key), {
      object: { bucket, key, size: bytes.length, etag: createHash('md5').update(bytes).digest('hex'), lastModified: Date.now() },
      body: bytes,
    });
  }

  async putObject(accountId: string, bucket: string, key: string, body: Buffer | NodeJS.ReadableStream, options: { contentType?: string } = {}): Promise<ArtifactObject> {
    if (!this.buckets.has(this.#id(accountId, bucket))) throw new Error(`NoSuchBucket ${bucket}`);
    if (!Buffer.isBuffer(body)) throw new Error('this stand-in takes buffers only');
    this.put(accountId, bucket, key, body);
    const stored = this.objects.get(this.#id(accountId, bucket, key))!;
    stored.object.contentType = options.contentType;
    return stored.object;
  }

  async getObject(accountId: string, bucket: string, key: string) {
    return this.objects.get(this.#id(accountId, bucket, key));
  }

  async headObject(accountId: string, bucket: string, key: string) {
    return this.objects.get(this.#id(accountId, bucket, key))?.object;
  }

  async deleteObject(accountId: string, bucket: string, key: string): Promise<void> {
    this.objects.delete(this.#id(accountId, bucket, key));
  }

  async listObjects(accountId: string, bucket: string, options: { prefix?: string; startAfter?: string; maxKeys?: number }) {
    const prefix = this.#id(accountId, bucket, options.prefix ?? '');
    const objects = [...this.objects.entries()]
      .filter(([id]) => id.startsWith(prefix))
      .map(([, o]) => o.object)
      .filter((o) => options.startAfter === undefined || o.key > options.startAfter)
      .sort((a, b) => a.key.localeCompare(b.key));
    const max = options.maxKeys ?? 1000;
    return { objects: objects.slice(0, max), truncated: objects.length > max };
  }
}
