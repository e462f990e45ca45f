/**
 * Uploads a local pack to remote block storage while it is still being written, so the upload overlaps the transfer
 * instead of following it. The block writer reports each pack's synced end after every flush (bytes that are durable
 * locally and never rewritten); a background task reads them from the local file and appends them to one PackUpload,
 * which uploads full parts while the next fills (s3BlockStorage.ts). At seal the rest is appended and the upload
 * completed: the object becomes visible only then, so a crash at any moment leaves no half pack in the bucket.
 * A failed stream is not lost silently: finish() throws, and the caller (BlockPlacement.publishPack) starts over.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { BlockStorage, PackUpload } from './blockStorage.ts';

/** How much of a local pack one append carries. */
export const STREAM_CHUNK_BYTES = 8 * 1024 * 1024;

export class PackStream {
  readonly #storage: BlockStorage;
  readonly #name: string;
  readonly #path: string;
  #file: FileHandle | undefined;
  #upload: PackUpload | undefined;
  /** Bytes of the local file handed to the upload so far. */
  #sent = 0;
  /** Bytes known to be synced locally (the most the stream may read). */
  #target = 0;
  #running: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;
  #chunk: Buffer | undefined;

  constructor(storage: BlockStorage, name: string, path: string) {
    this.#storage = storage;
    this.#name = name;
    this.#path = path;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** The local file is synced up to `end`: upload up to there in the background. */
  advance(end: number): void {
    if (end > this.#target) this.#target = end;
    this.#kick();
  }

  #kick(): void {
    if (this.#running !== undefined || this.#failure !== undefined || this.#sent >= this.#target) return;
    this.#running = this.#pump().then(
      () => {
        this.#running = undefined;
        this.#kick(); // the target may have moved after the pump's last look
      },
      (error: unknown) => {
        this.#failure ??= { error };
        this.#running = undefined;
      },
    );
  }

  /** Uploads the rest of the (now complete) local file of `size` bytes and seals the object. */
  async finish(size: number): Promise<void> {
    this.advance(size);
    try {
      while (this.#running !== undefined) await this.#running;
      if (this.#failure !== undefined) throw this.#failure.error;
      if (this.#upload === undefined || this.#sent !== size) throw new Error(`pack ${this.#name}: streamed ${this.#sent} of ${size} bytes`);
      await this.#upload.seal();
    } catch (thrown) {
      await this.abort();
      throw thrown;
    } finally {
      await this.#closeFile();
    }
  }

  /** Drops whatever was uploaded (nothing becomes visible). */
  async abort(): Promise<void> {
    this.#failure ??= { error: new Error(`upload of pack ${this.#name} aborted`) };
    while (this.#running !== undefined) await this.#running;
    await this.#upload?.abort().catch(() => {});
    await this.#closeFile();
  }

  async #pump(): Promise<void> {
    this.#file ??= await open(this.#path, 'r');
    // One read buffer for the whole pack: createPack and append are done with their bytes when they return.
    this.#chunk ??= Buffer.allocUnsafe(STREAM_CHUNK_BYTES);
    while (this.#sent < this.#target && this.#failure === undefined) {
      const chunk = this.#chunk.subarray(0, Math.min(STREAM_CHUNK_BYTES, this.#target - this.#sent));
      const { bytesRead } = await this.#file.read(chunk, 0, chunk.length, this.#sent);
      if (bytesRead !== chunk.length) throw new Error(`pack ${this.#name}: ${this.#path} is shorter than its synced end ${this.#target}`);
      if (this.#upload === undefined) this.#upload = await this.#storage.createPack(this.#name, chunk);
      else await this.#upload.append([chunk]);
      this.#sent += chunk.length;
    }
  }

  async #closeFile(): Promise<void> {
    this.#chunk = undefined;
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
  }
}
