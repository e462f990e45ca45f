/**
 * O_DIRECT reads of a source file. Read through the page cache, every byte of a disk lands in freshly allocated
 * cache pages first and is then copied into the engine's buffer: on the machine this was measured on (a 2-vCPU VM)
 * fresh page-cache memory is expensive (bench/README.md), and a migration reads each byte once, so caching it only
 * evicts what the host needs. A direct read moves the bytes from the device into the buffer with no copy. It needs
 * the file offset, the length and the buffer's address aligned; the block engine's batches are page-aligned memory
 * (lib/alignedMemory.ts) and its reads are whole blocks, so nearly every read qualifies. Anything else — a
 * misaligned tail, a buffer the kernel refuses (EINVAL), a filesystem without O_DIRECT — reads through the cache.
 * FERRY_DIRECT_IO=off turns direct reads off with direct pack writes.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const ALIGN = 4096;

export class DirectReader {
  readonly #buffered: FileHandle;
  readonly #direct: FileHandle | undefined;
  #useDirect: boolean;

  private constructor(buffered: FileHandle, direct: FileHandle | undefined) {
    this.#buffered = buffered;
    this.#direct = direct;
    this.#useDirect = direct !== undefined;
  }

  /**
   * Reads of `handle`'s file, directly where possible: the second descriptor is opened through /proc/self/fd, so
   * it is the very file that was opened (and checked) before, whatever its path names now.
   */
  static async of(handle: FileHandle, env: NodeJS.ProcessEnv = process.env): Promise<DirectReader> {
    if ((env.FERRY_DIRECT_IO ?? 'on').toLowerCase() === 'off') return new DirectReader(handle, undefined);
    let direct: FileHandle | undefined;
    try {
      direct = await open(`/proc/self/fd/${handle.fd}`, constants.O_RDONLY | constants.O_DIRECT);
    } catch {
      direct = undefined; // no /proc, or no O_DIRECT on this filesystem (tmpfs)
    }
    return new DirectReader(handle, direct);
  }

  /** Whether reads may go direct (tests). */
  get direct(): boolean {
    return this.#useDirect;
  }

  /** One read of up to `length` bytes at `position` into target[at..]; resolves the bytes read (0 at the end). */
  async read(target: Buffer, at: number, length: number, position: number): Promise<number> {
    const aligned = length - (length % ALIGN);
    if (this.#useDirect && aligned > 0 && position % ALIGN === 0) {
      try {
        return (await this.#direct!.read(target, at, aligned, position)).bytesRead;
      } catch (thrown) {
        if ((thrown as NodeJS.ErrnoException).code !== 'EINVAL') throw thrown;
        // This buffer (or file) does not suit direct reads: read this source through the page cache from now on.
        this.#useDirect = false;
      }
    }
    return (await this.#buffered.read(target, at, length, position)).bytesRead;
  }

  async close(): Promise<void> {
    this.#useDirect = false;
    await this.#direct?.close();
  }
}
