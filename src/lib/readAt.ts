/** Positional reads that do not stop at the first short read. */
import type { FileHandle } from 'node:fs/promises';

/**
 * Reads `length` bytes at `offset` into `target`, as many reads as the kernel needs; returns `target`, or the part of
 * it that was filled when the file ends first.
 */
export async function readFullyAt(file: FileHandle, target: Buffer, length: number, offset: number): Promise<Buffer> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(target, done, length - done, offset + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? target : target.subarray(0, done);
}
