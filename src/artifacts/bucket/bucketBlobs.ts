/**
 * Artifact blobs in the bucket the image store keeps its packs in, when that storage is remote (S3), so that every
 * node of a cluster reads every object (docs/cluster.md). A blob is the object `artifacts/blobs/<ab>/<id>` under the
 * storage's prefix (ab: the id's first two hex digits), beside the image store's `packs/` and `manifests/`, which
 * never list or delete anything under `artifacts/`.
 *
 * A body is received into `<data-dir>/artifacts/incoming/<id>` (hashed and checked as local blobs are; not fsynced:
 * the bucket makes it durable), then streamed to the bucket through the storage's pack upload (a multipart upload
 * in parts as it goes, the object visible only once complete), then the temporary file is removed. Every file in
 * incoming/ is a temporary one, so opening deletes them all. Reads are ranged GETs of READ_CHUNK bytes, one ahead.
 * What keeps the index and the bucket consistent when nodes crash or collect is local/sharedBlobs.ts's.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newArtifactBlobId } from '../../lib/ids.ts';
import { piecesOf, ReadingBlobs, type ArtifactBlobs, type ReceivedBlob } from '../blobs.ts';
import { receiveFile, unlinkQuietly } from '../receiveFile.ts';
import type { BodyExpectations, ByteRange } from '../artifactStore.ts';
import type { Segment } from '../../store/artifacts/artifactTables.ts';

/**
 * What bucket blobs use of a block storage: the image store's BlockStorage (src/images/blocks/blockStorage.ts) has
 * these members. Written out here, since artifacts/ may not import images/ (test/unit/layering.test.ts).
 */
export interface BlobBucket {
  readonly kind: string;
  readonly location: string;
  /** A streaming upload, the object visible only once sealed (the name must not exist). */
  createPack(name: string, header: Buffer): Promise<{ append(parts: readonly Buffer[]): Promise<number>; seal(): Promise<void>; abort(): Promise<void> }>;
  /** `length` bytes at `offset`, fewer only past the end; a missing object throws an error named BlockObjectGoneError. */
  readRange(name: string, offset: number, length: number): Promise<Buffer>;
  delete(name: string): Promise<void>;
  list(prefix: string): AsyncIterable<{ name: string; sizeBytes: number }>;
  unfinishedUploads(prefix: string): AsyncIterable<{ name: string; uploadId: string; startedAt: number }>;
  abortUnfinished(upload: { name: string; uploadId: string; startedAt: number }): Promise<void>;
}

/** Everything bucket blobs keep is under this prefix of the storage. */
export const ARTIFACT_PREFIX = 'artifacts/';
const BLOBS_PREFIX = `${ARTIFACT_PREFIX}blobs/`;
const BLOB_NAME = /^artifacts\/blobs\/[0-9a-f]{2}\/([0-9a-f]{32})$/;
/** Upload appends and ranged reads move this much at a time (memory: two per reader, one per writer). */
export const UPLOAD_CHUNK = 8 * 1024 * 1024;
export const READ_CHUNK = 4 * 1024 * 1024;

export function blobObjectName(id: string): string {
  return `${BLOBS_PREFIX}${id.slice(0, 2)}/${id}`;
}

/** The blob id of an object or upload name under artifacts/blobs/, else undefined (not ours: left alone). */
export function blobIdOfObject(name: string): string | undefined {
  return BLOB_NAME.exec(name)?.[1];
}

export class BucketBlobs implements ArtifactBlobs {
  readonly shared = true;
  readonly location: string;
  readonly #bucket: BlobBucket;
  readonly #incoming: string;
  readonly #reading = new ReadingBlobs();

  /** `root`: this node's `<data-dir>/artifacts`, for the temporary files of bodies being received. */
  constructor(bucket: BlobBucket, root: string) {
    this.#bucket = bucket;
    this.location = `${bucket.location}${BLOBS_PREFIX}`;
    this.#incoming = join(root, 'incoming');
    mkdirSync(root, { recursive: true, mode: 0o700 });
    mkdirSync(this.#incoming, { recursive: true, mode: 0o700 });
    // Bodies a stopped process was receiving or uploading: their blobs were never committed, or are in the bucket.
    for (const name of readdirSync(this.#incoming)) unlinkQuietly(join(this.#incoming, name));
  }

  newId(): string {
    return newArtifactBlobId();
  }

  async receive(id: string, body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob> {
    const path = join(this.#incoming, id);
    try {
      const received = await receiveFile(path, body, expect, false);
      await this.#upload(id, path, received.size);
      return { id, ...received };
    } finally {
      unlinkQuietly(path);
    }
  }

  /** Streams the checked file to the bucket; the object appears once all of it is there, or never. */
  async #upload(id: string, path: string, size: number): Promise<void> {
    const file = await open(path, 'r');
    let upload: Awaited<ReturnType<BlobBucket['createPack']>> | undefined;
    try {
      // One buffer for the whole upload: createPack and append copy what they are given before they return.
      const chunk = Buffer.allocUnsafe(Math.min(UPLOAD_CHUNK, Math.max(size, 1)));
      let sent = 0;
      do {
        const length = Math.min(chunk.length, size - sent);
        const { bytesRead } = await file.read(chunk, 0, length, sent);
        if (bytesRead !== length) throw new Error(`artifact blob ${id}: ${path} is shorter than the ${size} bytes received`);
        const piece = chunk.subarray(0, length);
        if (upload === undefined) upload = await this.#bucket.createPack(blobObjectName(id), piece);
        else await upload.append([piece]);
        sent += length;
      } while (sent < size);
      await upload.seal();
    } catch (thrown) {
      await upload?.abort().catch(() => {});
      throw thrown;
    } finally {
      await file.close();
    }
  }

  publish(): void {}

  async discard(id: string): Promise<void> {
    await this.#bucket.delete(blobObjectName(id));
  }

  reading(id: string): boolean {
    return this.#reading.has(id);
  }

  async removeUnlessReading(ids: readonly string[]): Promise<{ removed: string[]; busy: string[] }> {
    const { free, busy } = this.#reading.split(ids);
    for (const id of free) await this.#bucket.delete(blobObjectName(id));
    return { removed: free, busy };
  }

  /**
   * Streams `range` of the object by ranged reads. The first chunk is read before this returns, so a blob collected
   * since its row was read throws `onMissing()` (the caller looks again) rather than failing a response already begun.
   */
  async openRead(segments: readonly Segment[], range: ByteRange | undefined, onMissing: () => Error): Promise<Readable> {
    const release = this.#reading.hold(segments.map(([id]) => id));
    const chunks: { id: string; offset: number; length: number }[] = [];
    for (const piece of piecesOf(segments, range)) {
      for (let offset = piece.from; offset <= piece.to; offset += READ_CHUNK) chunks.push({ id: piece.id, offset, length: Math.min(READ_CHUNK, piece.to - offset + 1) });
    }
    const read = (at: number) => {
      const chunk = chunks[at]!;
      return this.#bucket.readRange(blobObjectName(chunk.id), chunk.offset, chunk.length).then((bytes) => {
        if (bytes.length !== chunk.length) throw new Error(`Artifact blob ${chunk.id} is shorter than its index says.`);
        return bytes;
      });
    };
    let first: Buffer | undefined;
    try {
      if (chunks.length > 0) first = await read(0);
    } catch (thrown) {
      release();
      if ((thrown as Error).name === 'BlockObjectGoneError') throw onMissing();
      throw thrown;
    }
    async function* all(): AsyncGenerator<Buffer> {
      if (first === undefined) return;
      let next = chunks.length > 1 ? read(1) : undefined;
      next?.catch(() => {}); // awaited below; a reader that goes away early must not leave it unhandled
      yield first;
      for (let at = 1; at < chunks.length; at++) {
        const bytes = await next!;
        next = at + 1 < chunks.length ? read(at + 1) : undefined;
        next?.catch(() => {});
        yield bytes;
      }
    }
    const stream = Readable.from(all(), { objectMode: false });
    stream.once('close', release);
    return stream;
  }

  /**
   * Deletes the blobs in the bucket and aborts the unfinished uploads of blobs that `referenced` (read AFTER the
   * listings) does not name. Why that needs no age: a blob's pending row is written before any of its bytes go up,
   * so a blob listed here that no row names in a later snapshot is one whose rows are all gone: a crash's leftover,
   * a receive whose commit failed, or garbage a collector claimed (local/sharedBlobs.ts).
   */
  async sweep(referenced: () => Promise<Set<string>>): Promise<{ deleted: number; aborted: number }> {
    const listed: string[] = [];
    for await (const object of this.#bucket.list(BLOBS_PREFIX)) {
      const id = blobIdOfObject(object.name);
      if (id !== undefined) listed.push(id);
    }
    const uploads: { id: string; upload: { name: string; uploadId: string; startedAt: number } }[] = [];
    for await (const upload of this.#bucket.unfinishedUploads(BLOBS_PREFIX)) {
      const id = blobIdOfObject(upload.name);
      if (id !== undefined) uploads.push({ id, upload });
    }
    const known = await referenced();
    let deleted = 0;
    let aborted = 0;
    for (const id of listed) {
      if (known.has(id) || this.#reading.has(id)) continue;
      await this.#bucket.delete(blobObjectName(id));
      deleted++;
    }
    for (const { id, upload } of uploads) {
      if (known.has(id)) continue;
      await this.#bucket.abortUnfinished(upload);
      aborted++;
    }
    return { deleted, aborted };
  }

  async close(): Promise<void> {}
}
