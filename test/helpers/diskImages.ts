/**
 * Helpers for the disk-reader tests: sparse raw disks to convert into other formats, and qemu's own view of an
 * image (its bytes, its allocation map) to compare Ferry's readers with.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { BLOCK_SIZE, type DiskSource, type Extent } from '../../src/agent/disks/diskSource.ts';

export const run = promisify(execFile);
export const MiB = 1024 * 1024;

/**
 * A sparse raw disk of `sizeMiB`: random data at 0–1 MiB, 3–3.5 MiB and 6 MiB + 4 KiB (unaligned), written
 * zeros at 5–6 MiB (qemu-img convert leaves those unallocated), plus `moreData` ranges; holes elsewhere.
 */
export function writeSparseRaw(path: string, sizeMiB: number, moreData: { offset: number; length: number }[] = []): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, randomBytes(MiB), 0, MiB, 0);
    writeSync(fd, randomBytes(MiB / 2), 0, MiB / 2, 3 * MiB);
    writeSync(fd, Buffer.alloc(MiB), 0, MiB, 5 * MiB);
    writeSync(fd, randomBytes(4096), 0, 4096, 6 * MiB + 4096);
    for (const range of moreData) writeSync(fd, randomBytes(range.length), 0, range.length, range.offset);
  } finally {
    closeSync(fd);
  }
  truncateSync(path, sizeMiB * MiB);
}

/** The image as raw bytes according to qemu. */
export async function reference(path: string, format: string): Promise<Buffer> {
  const out = `${path}.ref.raw`;
  await run('qemu-img', ['convert', '-f', format, '-O', 'raw', path, out]);
  const data = readFileSync(out);
  rmSync(out);
  return data;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** `qemu-img map` as extents (zero = reads as zeros and is not data), adjacent equal ones merged. */
export async function qemuMap(path: string, format: string): Promise<Extent[]> {
  const { stdout } = await run('qemu-img', ['map', '--output=json', '-f', format, path]);
  const entries = JSON.parse(stdout) as Array<{ start: number; length: number; zero: boolean; data: boolean }>;
  return mergeExtents(entries.map((e) => ({ offset: e.start, length: e.length, zero: e.zero && !e.data })));
}

export function mergeExtents(extents: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const last = out[out.length - 1];
    if (last && last.zero === e.zero && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** Every block of the disk read at once (more in flight than the engine keeps: it stresses shared caches). */
export async function readAll(source: DiskSource): Promise<Buffer> {
  const out = Buffer.alloc(source.size, 0xee);
  const reads: Promise<void>[] = [];
  for (let o = 0; o < source.size; o += BLOCK_SIZE) reads.push(source.read(o, Math.min(BLOCK_SIZE, source.size - o), out.subarray(o)));
  await Promise.all(reads);
  return out;
}
