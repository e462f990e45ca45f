/**
 * Where artifact object bytes live: blobs, immutable and named by generated ids, never by object keys. The index
 * (the control plane's database) says which blobs make up which object; an ArtifactBlobs only keeps bytes.
 * Implementations: files under the node's data dir (local/blobFiles.ts, the default: only this node sees them) and
 * the image store's bucket when its block storage is remote (bucket/bucketBlobs.ts: every node of a cluster sees
 * them). The store's write, read and collection rules for each are in local/localArtifactStore.ts.
 */
import type { Readable } from 'node:stream';
import type { BodyExpectations, ByteRange } from './artifactStore.ts';
import type { Segment } from '../store/artifacts/artifactTables.ts';

export interface ReceivedBlob {
  id: string;
  size: number;
  md5: Buffer;
}

export interface ArtifactBlobs {
  /**
   * True when other nodes read (and collect) these blobs too: the store then records a blob as pending before its
   * bytes exist and deletes garbage only after a grace period (local/sharedBlobs.ts).
   */
  readonly shared: boolean;
  /** Where the bytes are, for humans (a directory or an s3:// URL). */
  readonly location: string;
  newId(): string;
  /**
   * Stores `body` as blob `id`, checking it against what the client declared; throws (leaving nothing readable
   * behind) when it is longer than `maxBytes`, shorter or longer than declared, or its digests differ.
   */
  receive(id: string, body: AsyncIterable<Uint8Array>, expect: BodyExpectations & { maxBytes: number }): Promise<ReceivedBlob>;
  /** The blob's row has committed (local files move it into place; a bucket has nothing to do). Never throws for a blob already gone. */
  publish(id: string): void;
  /** Deletes a received blob whose commit did not happen. */
  discard(id: string): Promise<void>;
  /** Streams `range` (default: all) of the object made of `segments`; throws `onMissing()` when its first blob is gone. */
  openRead(segments: readonly Segment[], range: ByteRange | undefined, onMissing: () => Error): Promise<Readable>;
  /** Whether this process is reading the blob now (collection leaves it for a later pass). */
  reading(id: string): boolean;
  /**
   * Deletes the blobs except those being read in this process. The local implementation does its check and deletes
   * synchronously, before its promise is returned, so no read can register in between.
   */
  removeUnlessReading(ids: readonly string[]): Promise<{ removed: string[]; busy: string[] }>;
  close(): Promise<void>;
}

/** The parts of blobs that make up `range` of an object stored as `segments`, in order. */
export function piecesOf(segments: readonly Segment[], range: ByteRange | undefined): { id: string; from: number; to: number }[] {
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
  return pieces;
}

/** Counts the blobs being read in this process (both implementations keep one). */
export class ReadingBlobs {
  readonly #count = new Map<string, number>();

  has(id: string): boolean {
    return this.#count.has(id);
  }

  /** `ids` split into those no reader holds (`free`) and those being read (`busy`: for a later pass). */
  split(ids: readonly string[]): { free: string[]; busy: string[] } {
    return { free: ids.filter((id) => !this.#count.has(id)), busy: ids.filter((id) => this.#count.has(id)) };
  }

  /** Registers the blobs; the returned function releases them (once). */
  hold(ids: readonly string[]): () => void {
    for (const id of ids) this.#count.set(id, (this.#count.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of ids) {
        const left = (this.#count.get(id) ?? 1) - 1;
        if (left <= 0) this.#count.delete(id);
        else this.#count.set(id, left);
      }
    };
  }
}
