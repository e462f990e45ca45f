/**
 * O_DIRECT reads of a source file. Read through the page cache, every byte of a disk lands in freshly allocated
 * cache pages first and is then copied into the engine's buffer: on the machine this was measured on (a 2-vCPU VM)
 * fresh page-cache memory is expensive (bench/README.md), and a migration reads each byte once, so caching it only
 * evicts what the host needs. A direct read moves the bytes from the device into the buffer with no copy. It needs
 * the file offset, the length and the buffer's address aligned; the block engine's batches are page-aligned memory
 * (lib/alignedMemory.ts) and its reads are whole blocks, so nearly every read qualifies. Anything else — a
 * misaligned tail, a buffer the kernel refuses (EINVAL), a filesystem without O_DIRECT — reads through the cache.
 * FERRY_DIRECT_IO=off turns direct reads off with direct pack writes.
 *
 * A file that is already in the page cache is the exception: read directly, its bytes come from the device again,
 * where the pack writes need it (a full run read and wrote the same device), while the cache holds them already and
 * reading them from there allocates nothing. So a caller about to read every allocated block (readsWholeFile) has
 * the file's residency checked first (util-linux `fincore`, through the launcher), and a file that is almost all
 * resident is read through the cache. The check (a `fincore` of the whole file, 50–80 ms for 4 GiB here) does not
 * hold the reads up: until it answers they go through the cache too, so a file that is cached is read at once (it
 * was the longest step before a hash diff's first block), and one that is not has at most that check's worth of
 * reads cached before the rest goes direct.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { launch } from '../../lib/launcher.ts';

const ALIGN = 4096;
/** The share of a file's allocated bytes that must be in the page cache for it to be read from there. */
const RESIDENT_SHARE = 0.9;

export class DirectReader {
  readonly #buffered: FileHandle;
  readonly #direct: FileHandle | undefined;
  #useDirect: boolean;
  /** The residency check (readsWholeFile): reads go through the cache until it has answered. */
  #checking: Promise<void> | undefined;
  #answered = true;

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

  /**
   * The caller is about to read every allocated block: if the file is (almost) all in the page cache, it is read
   * from there. The check runs in the background; reads go through the cache until it answers. Anything that goes
   * wrong (no fincore, no /proc) leaves the reads direct.
   */
  readsWholeFile(): void {
    if (!this.#useDirect || this.#checking) return;
    this.#answered = false;
    this.#checking = residentShare(this.#buffered)
      .then(
        (share) => {
          if (share >= RESIDENT_SHARE) this.#useDirect = false;
        },
        () => undefined,
      )
      .finally(() => {
        this.#answered = true;
      });
  }

  /** Settles once readsWholeFile's check has answered (at once without one). */
  async checked(): Promise<void> {
    await this.#checking;
  }

  /** One read of up to `length` bytes at `position` into target[at..]; resolves the bytes read (0 at the end). */
  async read(target: Buffer, at: number, length: number, position: number): Promise<number> {
    const aligned = length - (length % ALIGN);
    if (this.#useDirect && this.#answered && aligned > 0 && position % ALIGN === 0) {
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
    await this.#checking;
    this.#useDirect = false;
    await this.#direct?.close();
  }
}

/**
 * The share of the file's allocated bytes in the page cache (may exceed 1: holes read before are cached too), or 0
 * when it cannot be in the cache (larger than the memory) or the check fails. `fincore` maps the file and asks the
 * kernel (mincore), about 25 ms of its own CPU for 4 GiB; it opens the very file open here through /proc.
 */
async function residentShare(handle: FileHandle): Promise<number> {
  const { blocks, size } = await handle.stat();
  const allocated = Math.min(blocks * 512, size);
  if (allocated === 0 || allocated > totalmem()) return 0;
  const result = await launch('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', `/proc/${process.pid}/fd/${handle.fd}`], { timeoutMs: 10_000 });
  const resident = Number(result.stdout.trim());
  if (result.code !== 0 || !Number.isFinite(resident)) return 0;
  return resident / allocated;
}
