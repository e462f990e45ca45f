/**
 * O_DIRECT writes for pack files. A run writes gigabytes of blocks that nobody reads back soon; through the page
 * cache every byte is copied into freshly allocated cache pages and later written back and flushed by fdatasync.
 * On the machine this was measured on (a 2-vCPU VM), 2 GB written that way cost 2.6–3 s of kernel CPU, as much as
 * hashing the same bytes; with O_DIRECT the disk reads them straight from a few reused buffers (0.5 s of CPU) and
 * the final fdatasync has only the drive cache and the file's metadata left to flush.
 *
 * O_DIRECT wants the buffer address, the file offset and the length aligned to the device's logical block size.
 * Records therefore start at ALIGN-multiples and are zero-padded (readers find them through the index, so the
 * padding is invisible), and each is copied once into one of a few aligned staging buffers, unless its payload
 * already lies on whole pages of aligned memory (then only its header is staged: packFile.ts, writeDirect).
 *
 * The staging area must be aligned to the memory page, not only to what the device accepts: on the machine this
 * was measured on, the device accepts 512-byte-aligned buffers, but direct writes into new blocks of a file from
 * such a buffer ran at 0.05–0.09 GB/s against 0.53–0.59 GB/s from a page-aligned one (bench/README.md, "What
 * limits it"); that was the whole gap between Ferry and `dd oflag=direct`. Node cannot ask for an aligned
 * allocation, but a WebAssembly.Memory is mapped whole pages at a time, so the area comes from one. A direct write
 * at each offset of a scratch file in the pack directory still checks what the device accepts. Where O_DIRECT does
 * not work (tmpfs, some network filesystems) or FERRY_DIRECT_IO=off, packs are written through the page cache.
 */
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pageAlignedBuffer } from '../lib/alignedMemory.ts';

/** Offsets and lengths are multiples of this (covers 512-byte and 4 KiB logical blocks). */
export const DIRECT_ALIGN = 4096;

export const alignUp = (n: number): number => Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;

export class DirectWriteBuffers {
  readonly bufferSize: number;
  readonly #free: Buffer[] = [];
  readonly #waiting: ((buffer: Buffer) => void)[] = [];

  private constructor(area: Buffer, start: number, count: number, bufferSize: number) {
    this.bufferSize = bufferSize;
    for (let i = 0; i < count; i++) this.#free.push(area.subarray(start + i * bufferSize, start + (i + 1) * bufferSize));
  }

  /**
   * `count` staging buffers of `maxBytes` each (the most one write stages: a group of records) in `dir`'s
   * filesystem, or undefined when O_DIRECT cannot be used there.
   */
  static probe(dir: string, maxBytes: number, count: number): DirectWriteBuffers | undefined {
    const bufferSize = alignUp(maxBytes);
    const area = pageAlignedArea(bufferSize * count + DIRECT_ALIGN);
    const scratch = join(dir, '.direct-io-probe');
    let fd: number;
    try {
      fd = openSync(scratch, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600);
    } catch {
      return undefined;
    }
    try {
      for (let start = 0; start < DIRECT_ALIGN; start += 16) {
        try {
          writeSync(fd, area, start, DIRECT_ALIGN, 0);
          return new DirectWriteBuffers(area, start, count, bufferSize);
        } catch (thrown) {
          if ((thrown as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
        }
      }
      return undefined;
    } finally {
      closeSync(fd);
      rmSync(scratch, { force: true });
    }
  }

  /** A staging buffer (bufferSize bytes, aligned); waits while all are in flight. */
  acquire(): Promise<Buffer> {
    const buffer = this.#free.pop();
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(buffer: Buffer): void {
    const next = this.#waiting.shift();
    if (next) next(buffer);
    else this.#free.push(buffer);
  }
}

/** Zeroed memory starting at a page boundary (lib/alignedMemory.ts). */
export function pageAlignedArea(bytes: number): Buffer {
  return pageAlignedBuffer(bytes); // without WebAssembly: aligned as the device needs it (found by the probe), if slower
}

/** Whether FERRY_DIRECT_IO allows O_DIRECT pack writes (on unless `off`). */
export function directIoWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.FERRY_DIRECT_IO ?? 'on').toLowerCase() !== 'off';
}
