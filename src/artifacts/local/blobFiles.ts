/**
 * The bytes of artifact objects: immutable files named by generated blob ids, never by object keys.
 *
 *   <root>/incoming/<id>       being received, or received and committed but not yet moved
 *   <root>/blobs/<ab>/<id>     committed (ab = the id's first two hex digits)
 *
 * A blob is received into incoming/ (hashed on the way, fsynced with its directory entry), then its row commits,
 * then it moves to blobs/. So after a crash, incoming/ holds only blobs of uncommitted requests — deleted when the
 * store opens — and blobs whose row committed just before the crash — moved on. Nothing under blobs/ is ever
 * unreferenced except through the garbage table, whose rows commit with the change that dropped the reference.
 * Readers look in blobs/ first and then in incoming/, since a committed blob may not have moved yet.
 */
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newArtifactBlobId } from '../../lib/ids.ts';
import { piecesOf, ReadingBlobs, type ArtifactBlobs, type ReceivedBlob } from '../blobs.ts';
import { receiveFile, unlinkQuietly } from '../receiveFile.ts';
import type { BodyExpectations, ByteRange } from '../artifactStore.ts';
import type { Segment } from '../../store/artifacts/artifactTables.ts';

const BLOB_ID = /^[0-9a-f]{32}$/;
const READ_CHUNK = 256 * 1024;

export class BlobFiles implements ArtifactBlobs {
  readonly shared = false;
  readonly root: string;
  readonly #incoming: string;
  readonly #blobs: string;
  /** Blob ids with an open reader in this process: garbage collection leaves them for a later pass. */
  readonly #reading = new ReadingBlobs();

  constructor(root: string) {
    this.root = root;
    this.#incoming = join(root, 'incoming');
    this.#blobs = join(root, 'blobs');
    mkdirSync(this.#incoming, { recursive: true, mode: 0o700 });
    mkdirSync(this.#blobs, { recursive: true, mode: 0o700 });
  }

  get location(): string {
    return this.root;
  }

  newId(): string {
    return newArtifactBlobId();
  }

  /** Writes `body` to a new blob in incoming/, durably (file and directory entry), checking it (receiveFile.ts). */
  async receive(id: string, body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob> {
    const received = await receiveFile(join(this.#incoming, id), body, expect, true);
    await syncDirectory(this.#incoming);
    return { id, ...received };
  }

  /** Moves a committed blob from incoming/ to blobs/; a blob that is already gone (collected) is fine. */
  publish(id: string): void {
    const dir = join(this.#blobs, id.slice(0, 2));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      renameSync(join(this.#incoming, id), join(dir, id));
    } catch (thrown) {
      if ((thrown as NodeJS.ErrnoException).code !== 'ENOENT') throw thrown;
    }
  }

  /** Deletes blobs no row refers to, except those being read (returned, for a later pass). Synchronous on purpose. */
  async removeUnlessReading(ids: readonly string[]): Promise<{ removed: string[]; busy: string[] }> {
    const { free, busy } = this.#reading.split(ids);
    for (const id of free) {
      unlinkQuietly(this.#blobPath(id));
      unlinkQuietly(join(this.#incoming, id));
    }
    return { removed: free, busy };
  }

  /** Deletes a received blob whose commit did not happen. */
  async discard(id: string): Promise<void> {
    unlinkQuietly(join(this.#incoming, id));
  }

  reading(id: string): boolean {
    return this.#reading.has(id);
  }

  async close(): Promise<void> {}

  /** What incoming/ holds when the store opens: blob ids, and names that are not ours (removed at once). */
  incomingIds(): string[] {
    const ids: string[] = [];
    for (const name of readdirSync(this.#incoming)) {
      if (BLOB_ID.test(name)) ids.push(name);
      else unlinkQuietly(join(this.#incoming, name));
    }
    return ids;
  }

  /**
   * Streams `range` (default: everything) of the object made of `segments`. The blobs are registered as being read
   * before the first one is looked for, so a collection that starts later leaves them alone until the stream closes;
   * `onMissing` is thrown when the first blob is already gone (the object was replaced and collected since its row
   * was read, which removes all its blobs in one synchronous pass), so the caller can look again.
   */
  async openRead(segments: readonly Segment[], range: ByteRange | undefined, onMissing: () => Error): Promise<Readable> {
    const release = this.#reading.hold(segments.map(([id]) => id));
    const pieces = piecesOf(segments, range);
    try {
      if (!(await this.#exists(pieces[0]?.id))) throw onMissing();
    } catch (thrown) {
      release();
      throw thrown;
    }
    const stream = Readable.from(this.#read(pieces), { objectMode: false });
    stream.once('close', release);
    return stream;
  }

  async #exists(id: string | undefined): Promise<boolean> {
    if (id === undefined) return true;
    const handle = await this.#openBlob(id);
    await handle?.close();
    return handle !== undefined;
  }

  async *#read(pieces: readonly { id: string; from: number; to: number }[]): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      const handle = await this.#openBlob(piece.id);
      if (!handle) throw new Error(`Artifact blob ${piece.id} is missing from ${this.root}.`);
      try {
        let position = piece.from;
        while (position <= piece.to) {
          const length = Math.min(READ_CHUNK, piece.to - position + 1);
          const buffer = Buffer.allocUnsafe(length);
          const { bytesRead } = await handle.read(buffer, 0, length, position);
          if (bytesRead === 0) throw new Error(`Artifact blob ${piece.id} is shorter than its index says.`);
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
        }
      } finally {
        await handle.close();
      }
    }
  }

  /** A committed blob, wherever it is now (it moves from incoming/ to blobs/ exactly once). */
  async #openBlob(id: string): Promise<FileHandle | undefined> {
    for (const path of [this.#blobPath(id), join(this.#incoming, id), this.#blobPath(id)]) {
      try {
        return await open(path, 'r');
      } catch (thrown) {
        if ((thrown as NodeJS.ErrnoException).code !== 'ENOENT') throw thrown;
      }
    }
    return undefined;
  }

  #blobPath(id: string): string {
    return join(this.#blobs, id.slice(0, 2), id);
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
