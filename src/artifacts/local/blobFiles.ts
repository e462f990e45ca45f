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
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newArtifactBlobId } from '../../lib/ids.ts';
import { ArtifactError } from '../errors.ts';
import type { BodyExpectations, ByteRange } from '../artifactStore.ts';
import type { Segment } from '../../store/artifacts/artifactTables.ts';

const BLOB_ID = /^[0-9a-f]{32}$/;
/** Received bytes are written in batches of about this size (one writev each). */
const WRITE_BATCH = 1024 * 1024;
const READ_CHUNK = 256 * 1024;

export interface ReceivedBlob {
  id: string;
  size: number;
  md5: Buffer;
}

export class BlobFiles {
  readonly root: string;
  readonly #incoming: string;
  readonly #blobs: string;
  /** Blob ids with an open reader in this process: garbage collection leaves them for a later pass. */
  readonly #reading = new Map<string, number>();

  constructor(root: string) {
    this.root = root;
    this.#incoming = join(root, 'incoming');
    this.#blobs = join(root, 'blobs');
    mkdirSync(this.#incoming, { recursive: true, mode: 0o700 });
    mkdirSync(this.#blobs, { recursive: true, mode: 0o700 });
  }

  /**
   * Writes `body` to a new blob in incoming/, durably, checking it against what the client declared. Throws
   * (leaving nothing behind) when it is longer than `maxBytes`, shorter or longer than the declared size, or its
   * digests differ.
   */
  async receive(body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob> {
    const id = newArtifactBlobId();
    const path = join(this.#incoming, id);
    const handle = await open(path, 'wx', 0o600);
    const md5 = createHash('md5');
    const sha256 = expect.sha256 === undefined ? undefined : createHash('sha256');
    let size = 0;
    try {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      for await (const piece of body as AsyncIterable<Uint8Array | string>) {
        // A stream with an encoding set yields strings: store their UTF-8 bytes.
        const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
        size += chunk.length;
        if (size > expect.maxBytes) {
          throw new ArtifactError('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size of ${expect.maxBytes} bytes.`, {
            MaxSizeAllowed: String(expect.maxBytes),
          });
        }
        md5.update(chunk);
        sha256?.update(chunk);
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH) {
          await writeAll(handle, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      await writeAll(handle, batch);
      if (expect.size !== undefined && size !== expect.size) {
        throw new ArtifactError('IncompleteBody', `You did not provide the number of bytes specified by the Content-Length header (${size} of ${expect.size}).`);
      }
      const md5Digest = md5.digest();
      if (sha256 && sha256.digest('hex') !== expect.sha256) {
        throw new ArtifactError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", {
          ClientComputedContentSHA256: expect.sha256!,
        });
      }
      if (expect.md5 && !md5Digest.equals(expect.md5)) {
        throw new ArtifactError('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
          ExpectedDigest: expect.md5.toString('base64'),
        });
      }
      await handle.sync();
      await handle.close();
      await syncDirectory(this.#incoming);
      return { id, size, md5: md5Digest };
    } catch (thrown) {
      await handle.close().catch(() => {});
      unlinkQuietly(path);
      throw thrown;
    }
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
  removeUnlessReading(ids: readonly string[]): { removed: string[]; busy: string[] } {
    const removed: string[] = [];
    const busy: string[] = [];
    for (const id of ids) {
      if (this.#reading.has(id)) {
        busy.push(id);
        continue;
      }
      unlinkQuietly(this.#blobPath(id));
      unlinkQuietly(join(this.#incoming, id));
      removed.push(id);
    }
    return { removed, busy };
  }

  /** Deletes a received blob whose commit did not happen. */
  discard(id: string): void {
    unlinkQuietly(join(this.#incoming, id));
  }

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
  openRead(segments: readonly Segment[], range: ByteRange | undefined, onMissing: () => Error): Promise<Readable> {
    const ids = segments.map(([id]) => id);
    for (const id of ids) this.#reading.set(id, (this.#reading.get(id) ?? 0) + 1);
    const release = () => {
      for (const id of ids) {
        const left = (this.#reading.get(id) ?? 1) - 1;
        if (left <= 0) this.#reading.delete(id);
        else this.#reading.set(id, left);
      }
    };
    const total = segments.reduce((sum, [, bytes]) => sum + bytes, 0);
    const wanted = range ?? { start: 0, end: total - 1 };
    const pieces: { id: string; from: number; to: number }[] = [];
    let offset = 0;
    for (const [id, bytes] of segments) {
      const from = Math.max(wanted.start, offset);
      const to = Math.min(wanted.end, offset + bytes - 1);
      if (from <= to) pieces.push({ id, from: from - offset, to: to - offset });
      offset += bytes;
    }
    return this.#exists(pieces[0]?.id).then(
      (exists) => {
        if (!exists) throw onMissing();
        const stream = Readable.from(this.#read(pieces), { objectMode: false });
        stream.once('close', release);
        return stream;
      },
      (thrown) => {
        release();
        throw thrown;
      },
    );
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

async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    pending = dropBytes(pending, bytesWritten);
  }
}

function dropBytes(chunks: Uint8Array[], count: number): Uint8Array[] {
  let left = count;
  let i = 0;
  while (i < chunks.length && left >= chunks[i]!.length) left -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (thrown) {
    if ((thrown as NodeJS.ErrnoException).code !== 'ENOENT') throw thrown;
  }
}
