/**
 * Reads records straight from pack files, with a small cache of open handles. A pack can disappear under a reader
 * (compaction moved its blocks and deleted it); the read then fails with PackGoneError and the caller looks the
 * block up again. A handle opened before the delete keeps reading the old, still valid bytes; handles are counted,
 * so `forget` (after this process deleted a pack) closes one only when no read is using it.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { packPath } from './packFile.ts';
import { readFullyAt } from '../lib/readAt.ts';

const MAX_OPEN = 64;

export class PackGoneError extends Error {
  constructor(packId: number) {
    super(`pack ${packId} is gone`);
    this.name = 'PackGoneError';
  }
}

interface Handle {
  file: Promise<FileHandle>;
  users: number;
  doomed: boolean;
}

export class PackReader {
  readonly #root: string;
  readonly #open = new Map<number, Handle>();
  /** Reads a pack kept in remote block storage (blocks/blockPlacement.ts) when its local file is gone. */
  readonly #remote: ((packId: number, offset: number, length: number) => Promise<Buffer>) | undefined;

  constructor(root: string, remote?: (packId: number, offset: number, length: number) => Promise<Buffer>) {
    this.#root = root;
    this.#remote = remote;
  }

  /** Reads `length` bytes at `offset` of a pack; fewer come back only when the pack is shorter. */
  async read(packId: number, offset: number, length: number, target = Buffer.allocUnsafe(length)): Promise<Buffer> {
    const handle = this.#acquire(packId);
    try {
      let file: FileHandle;
      try {
        file = await handle.file;
      } catch (thrown) {
        if (!(thrown instanceof PackGoneError) || !this.#remote) throw thrown;
        const bytes = await this.#remote(packId, offset, length);
        bytes.copy(target, 0);
        return bytes.length === length ? target : target.subarray(0, bytes.length);
      }
      return await readFullyAt(file, target, length, offset);
    } finally {
      this.#release(handle);
    }
  }

  /** Stops caching a pack's handle (it was deleted): closed once its reads are done. */
  forget(packId: number): void {
    const handle = this.#open.get(packId);
    if (!handle) return;
    this.#open.delete(packId);
    this.#doom(handle);
  }

  async close(): Promise<void> {
    for (const packId of [...this.#open.keys()]) this.forget(packId);
  }

  #acquire(packId: number): Handle {
    let handle = this.#open.get(packId);
    if (handle) {
      this.#open.delete(packId); // refresh recency
    } else {
      const file = open(packPath(this.#root, packId), 'r').catch((thrown: NodeJS.ErrnoException) => {
        if (this.#open.get(packId) === handle) this.#open.delete(packId);
        throw thrown.code === 'ENOENT' ? new PackGoneError(packId) : thrown;
      });
      file.catch(() => {});
      handle = { file, users: 0, doomed: false };
      if (this.#open.size >= MAX_OPEN) {
        const [oldestId, oldest] = this.#open.entries().next().value!;
        this.#open.delete(oldestId);
        this.#doom(oldest);
      }
    }
    this.#open.set(packId, handle);
    handle.users++;
    return handle;
  }

  #release(handle: Handle): void {
    handle.users--;
    if (handle.doomed && handle.users === 0) this.#closeHandle(handle);
  }

  #doom(handle: Handle): void {
    handle.doomed = true;
    if (handle.users === 0) this.#closeHandle(handle);
  }

  #closeHandle(handle: Handle): void {
    void handle.file.then((file) => file.close()).catch(() => {});
  }
}
